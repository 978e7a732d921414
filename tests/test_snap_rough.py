"""bbadj jitter: a COCO file's boxes as the study's rough boxes, to try bbadj snap on (docs/snap.md)."""

import json

import numpy as np
import pytest
from conftest import COCO128, COCO128_IMAGES, ROOT, run, tool_env

from bbadj.core.config import Config
from bbadj.data.dataset import draw_eval_jitter, load_boxes
from bbadj.snap.rough import write_rough

VAL = COCO128 / "annotations" / "val.json"


def test_the_boxes_are_the_evaluations_draw_and_the_truth_is_kept(tmp_path):
    data = Config().data
    out = tmp_path / "rough.json"
    summary = write_rough(VAL, COCO128_IMAGES, out, data, seed=1234, draw=1)
    doc, truth = json.loads(out.read_text()), json.loads(VAL.read_text())
    coco = load_boxes(VAL, COCO128_IMAGES, data, verbose=False)
    drawn = {
        a: b
        for rec, boxes in zip(coco.images, draw_eval_jitter(coco, data, 1234, 1))
        for a, b in zip(rec.ann_ids, boxes)
    }
    assert summary["jittered"] == len(drawn) == 294 and summary["as_they_were"] == 0
    for ann, old in zip(doc["annotations"], truth["annotations"]):
        assert ann["bbox_true"] == old["bbox"] and {
            k: v for k, v in ann.items() if k not in ("bbox", "bbox_true", "area")
        } == {k: v for k, v in old.items() if k not in ("bbox", "area")}
        x0, y0, x1, y1 = drawn[ann["id"]]
        np.testing.assert_allclose(ann["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=0.006)
        assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3], abs=0.01)
    assert doc["images"] == truth["images"]


def test_crowd_and_tiny_boxes_stay_as_they_were_and_are_counted(tmp_path):
    doc = json.loads(VAL.read_text())
    doc["annotations"][0]["iscrowd"] = 1
    doc["annotations"][1]["bbox"][2] = 0.5  # narrower than data.min_box_size
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    summary = write_rough(src, COCO128_IMAGES, tmp_path / "rough.json", Config().data, seed=1234)
    out = json.loads((tmp_path / "rough.json").read_text())["annotations"]
    assert out[0] == doc["annotations"][0] and out[1] == doc["annotations"][1]
    assert summary["jittered"] == 292 and summary["as_they_were"] == 2
    assert summary["skipped"]["crowd"] == 1 and summary["skipped"]["smaller than 1 px"] == 1


def test_the_command_never_writes_over_its_input_and_says_what_it_did(tmp_path):
    src = tmp_path / "val.json"
    src.write_text(VAL.read_text())
    ok = run(
        [
            "bbadj",
            "jitter",
            "--annotations",
            str(src),
            "--images",
            str(COCO128_IMAGES),
            "--out",
            str(tmp_path / "r.json"),
        ],
        cwd=ROOT,
        env=tool_env(),
        stdout_only=True,
    )
    assert "294 boxes jittered, 0 left as they were" in ok
    before = src.read_bytes()
    refused = run(
        ["bbadj", "jitter", "--annotations", str(src), "--images", str(COCO128_IMAGES), "--out", str(src)],
        cwd=ROOT,
        env=tool_env(),
        check=False,
    )
    assert f"bbadj jitter: error: --out is the input {src}" in refused and src.read_bytes() == before

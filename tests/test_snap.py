"""`bbadj snap` (bbadj/snap/file.py): a COCO annotations or results file in, a new refined file out, each
box with its original box and per-edge confidence; unsure boxes kept and listed for review; bad
input named; a killed run resumed to the same bytes; and, with a trained model, a snapped file
closer to the truth than its perturbed input."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import COCO128, COCO128_IMAGES

import bbadj
from bbadj.core.box_ops import clip_to_image, xywh_to_xyxy, xyxy_to_xywh
from bbadj.cli.main import main
from bbadj.core.config import Config
from bbadj.data.dataset import draw_eval_jitter, load_boxes
from bbadj.scoring.metrics import box_metrics
from bbadj.snap.file import JOURNAL_SUFFIX, SnapSettings, chunks, pieces, read_input, snap_file

VAL = COCO128 / "annotations" / "val.json"
KEEP = (25, 77, 136)  # three val photographs, 14 boxes


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


def val_subset(path, extra=()):
    """coco128 val restricted to KEEP, plus ``extra`` annotations; written to ``path``."""
    doc = json.loads(VAL.read_text())
    doc["images"] = [im for im in doc["images"] if im["id"] in KEEP]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in KEEP] + list(extra)
    path.write_text(json.dumps(doc))
    return path


def ann(aid, bbox, image_id=77, **kw):
    return {"id": aid, "image_id": image_id, "category_id": 1, "bbox": bbox, "iscrowd": 0, "area": 1.0, **kw}


# image 77 is 500 x 375
SPECIAL = [
    ann(9001, [10, 10, 100, 80], iscrowd=1),
    ann(9002, [600, 10, 20, 20]),
    ann(9003, [30, 30, 0.5, 40]),
    ann(9004, [450, 300, 100, 100]),
]  # crowd, outside, too small, sticking out (clipped, snapped)


def test_annotations_are_snapped_into_a_new_file_keeping_the_originals(model, tmp_path):
    src = val_subset(tmp_path / "ann.json", SPECIAL)
    before = src.read_bytes()
    # the model's box itself (hold 0): the hold is tests/test_snap_hold.py's
    summary = snap_file(src, COCO128_IMAGES, model, settings=SnapSettings(hold=0), progress=False)
    out = tmp_path / "ann.snapped.json"
    assert src.read_bytes() == before, "the input is never written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.json", "ann.snapped.json", "ann.snapped.review.json"]
    assert (summary["boxes"], summary["changed"], summary["kept"], summary["skipped"]) == (18, 15, 0, 3)
    assert summary["skipped_by_reason"] == {"crowd": 1, "outside image": 1, "smaller than 1 px": 1}

    doc, orig = json.loads(out.read_text()), json.loads(before)
    assert list(doc)[0] == "snap" and list(doc)[1:] == list(orig), "the summary first, then the file's own keys"
    assert doc["images"] == orig["images"] and doc["categories"] == orig["categories"]
    import hashlib

    digest = summary.pop("output_sha256")
    assert doc["snap"] == {"written_by": "bbadj snap", "sha256": digest, **summary}, "its digest second"
    assert (summary["pass"], summary["history"]) == (1, [])
    sealed = out.read_bytes().replace(digest.encode(), b"0" * 64, 1)
    assert hashlib.sha256(sealed).hexdigest() == digest, "the file's digest with those 64 digits as zeros"

    ckpt = Path(summary["model"]["checkpoint"])
    assert summary["model"]["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert len(summary["model"]["weights_sha256"]) == 64 and summary["time"].endswith("+00:00")
    status = {a["id"]: a["snap"]["status"] for a in doc["annotations"]}
    assert [status[i] for i in (9001, 9002, 9003, 9004)] == ["skipped", "skipped", "skipped", "changed"]
    for a, o in zip(doc["annotations"], orig["annotations"]):
        assert a["snap"]["bbox_original"] == o["bbox"] and a["snap"]["passes"] == 1 and "bbox_input" not in a["snap"]
        assert {k: v for k, v in a.items() if k not in ("bbox", "area", "snap")} == {
            k: v for k, v in o.items() if k not in ("bbox", "area")
        }
        if a["snap"]["status"] == "changed":
            assert a["bbox"] == a["snap"]["bbox_snapped"] != o["bbox"]
            assert a["area"] == round(a["bbox"][2] * a["bbox"][3], 3), "a rectangle's area follows its box"
            assert a["snap"]["model"] == summary["model"]["weights_sha256"][:12]
            assert set(a["snap"]["err_px"]) == set(a["snap"]["confidence"]) == set(bbadj.EDGES)
        else:
            assert (a["bbox"], a["area"]) == (o["bbox"], o["area"]) and a["snap"]["reason"]

    # the boxes are what bbadj.adjust gives for the (clipped) rough boxes of that photograph
    on77 = [a for a in doc["annotations"] if a["image_id"] == 77 and a["snap"]["status"] == "changed"]
    rough = clip_to_image(xywh_to_xyxy([a["snap"]["bbox_original"] for a in on77]), 500, 375)
    direct = xyxy_to_xywh(bbadj.adjust(COCO128_IMAGES / "000000000077.jpg", rough, model)["boxes"])
    assert np.allclose([a["bbox"] for a in on77], direct, atol=2e-3)
    assert max(a["bbox"][0] + a["bbox"][2] for a in on77) <= 500, "the box that stuck out was clipped, then snapped"


def test_unsure_boxes_keep_their_box_and_are_listed_for_review(model, tmp_path):
    src = val_subset(tmp_path / "ann.json")
    snap_file(src, COCO128_IMAGES, model, tmp_path / "all.json", progress=False)
    worst = sorted(
        max(a["snap"]["err_px"].values()) for a in json.loads((tmp_path / "all.json").read_text())["annotations"]
    )
    threshold = (worst[5] + worst[6]) / 2  # 6 boxes below it, 8 above
    summary = snap_file(
        src,
        COCO128_IMAGES,
        model,
        tmp_path / "out.json",
        review=tmp_path / "review.json",
        settings=SnapSettings(max_err_px=threshold),
        progress=False,
    )
    assert (summary["changed"], summary["kept"], summary["skipped"]) == (6, 8, 0)
    doc = json.loads((tmp_path / "out.json").read_text())
    kept = [a for a in doc["annotations"] if a["snap"]["status"] == "kept"]
    assert all(a["bbox"] == a["snap"]["bbox_original"] != a["snap"]["bbox_snapped"] for a in kept)
    assert all(max(a["snap"]["err_px"].values()) > threshold for a in kept)
    review = json.loads((tmp_path / "review.json").read_text())
    digest = summary.pop("output_sha256")
    assert review["summary"].pop("output_sha256") == digest
    assert review["summary"].pop("sha256") != digest and review["summary"] == summary
    assert [r["id"] for r in review["kept"]] == [a["id"] for a in kept]
    r = review["kept"][0]
    assert r["file_name"].endswith(".jpg") and r["bbox_snapped"] == kept[0]["snap"]["bbox_snapped"]
    assert r["reason"].split(": ")[1].startswith("err_px ") and f" > {threshold:g} px" in r["reason"]
    assert {f["rule"] for f in r["failed"]} == {"max_err_px"} and all(f["err_px"] > threshold for f in r["failed"])


def test_a_detectors_results_file_is_snapped_entry_by_entry(model, tmp_path):
    ann_path = val_subset(tmp_path / "ann.json")
    dets = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"] if k % 3 else 999,
            "bbox": [v + 2 for v in a["bbox"]],
            "score": 0.5 + k / 100,
            "extra": k,
        }
        for k, a in enumerate(json.loads(ann_path.read_text())["annotations"])
    ]
    res = tmp_path / "results.json"
    res.write_text(json.dumps(dets))
    summary = snap_file(ann_path, COCO128_IMAGES, model, detections=res, settings=SnapSettings(hold=0), progress=False)
    assert summary["kind"] == "results" and (summary["changed"], summary["skipped"]) == (len(dets), 0)
    out = json.loads((tmp_path / "results.snapped.json").read_text())
    assert isinstance(out, list) and len(out) == len(dets)
    for o, d in zip(out, dets):
        assert {k: v for k, v in o.items() if k not in ("bbox", "snap")} == {k: v for k, v in d.items() if k != "bbox"}
        assert o["snap"]["bbox_original"] == d["bbox"] and o["bbox"] == o["snap"]["bbox_snapped"]


def test_chunks_cover_every_image_once_in_order(model, tmp_path):
    data = read_input(val_subset(tmp_path / "ann.json"), COCO128_IMAGES)
    for batch in (1, 4, 9, 1000):
        work = pieces(data.coco, batch)
        assert all(len(r.boxes) <= batch for r in work), "no piece larger than a batch"
        assert np.array_equal(
            np.concatenate([r.ann_ids for r in work]), np.concatenate([r.ann_ids for r in data.coco.images])
        )
        parts = chunks(work, batch)
        assert [i for p in parts for i in range(len(work))[p]] == list(range(len(work)))
        assert all(sum(len(r.boxes) for r in work[p]) >= batch for p in parts[:-1])


def test_a_killed_run_rerun_gives_the_same_bytes(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("bbadj.snap.file._now", lambda: "2026-12-01T10:00:00+00:00")
    src = val_subset(tmp_path / "ann.json", SPECIAL)
    out, settings = (
        tmp_path / "out.json",
        SnapSettings(batch_size=2, max_err_px=1e6),
    )  # 15 boxes in pieces of 2: 7 chunks
    snap_file(src, COCO128_IMAGES, model, out, settings=settings, progress=False)
    whole = out.read_bytes(), (tmp_path / "out.review.json").read_bytes()
    out.unlink()

    stopped = snap_file(src, COCO128_IMAGES, model, out, settings=settings, progress=False, stop_after=1)
    journal = tmp_path / ("out.json" + JOURNAL_SUFFIX)
    assert stopped["stopped_after_chunks"] == 1 and journal.exists() and not out.exists()
    with journal.open("a") as f:
        f.write('{"chunk": 1, "boxes": [[1.0, 2')  # the line a killed run was writing
    snap_file(src, COCO128_IMAGES, model, out, settings=settings, progress=False)
    assert "resuming after 1 of 7 chunks" in capsys.readouterr().out
    assert (out.read_bytes(), (tmp_path / "out.review.json").read_bytes()) == whole
    assert not journal.exists()

    # a journal of another run (another threshold) is not used
    snap_file(src, COCO128_IMAGES, model, out, settings=settings, progress=False, stop_after=1)
    other = SnapSettings(batch_size=2, max_err_px=1e5)
    snap_file(src, COCO128_IMAGES, model, out, settings=other, progress=False)
    assert "from another run" in capsys.readouterr().out


def run_cli(args, capsys):
    code = main(["snap", *map(str, args)])
    return code, capsys.readouterr()


def test_the_command_prints_counts_and_progress(checkpoint, tmp_path, capsys):
    src = val_subset(tmp_path / "ann.json", SPECIAL)
    code, io = run_cli(
        ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint, "--max-err-px", "1e6"], capsys
    )
    assert code == 0
    assert (
        "18 boxes: 15 changed, 0 kept for review (err_px above 1e+06 px), 3 skipped (1 crowd, "
        "1 outside image, 1 smaller than 1 px)" in io.out
    )
    assert "snap ann.json: 15/15 box (100%)" in io.err, "progress lines, off a terminal"
    assert (tmp_path / "ann.snapped.review.json").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("negative", "results.json: entry 1 (image id 77) has a negative size bbox"),
        ("unknown image", "results.json: entry 0 refers to image id 999, which is not in"),
        ("not a list", "results.json: not a COCO results file"),
        ("results as annotations", "a JSON list, like a COCO results file: give it as the detections"),
        ("duplicate id", "ann.json: annotation id 9002 appears twice (annotations[14] and annotations[15])"),
        ("missing image", "image file not found:"),
        ("over the input", "is an input file: snap never writes over its input"),
    ],
)
def test_bad_input_stops_with_an_error_naming_the_file_and_entry(checkpoint, tmp_path, capsys, case, message):
    src = val_subset(tmp_path / "ann.json", [ann(9002, [1, 1, 5, 5])] * (2 if case == "duplicate id" else 1))
    res = tmp_path / "results.json"
    args = ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint, "--no-progress"]
    good = {"image_id": 77, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 1}
    if case == "negative":
        res.write_text(json.dumps([good, {**good, "bbox": [1, 1, -5, 5]}]))
        args += ["--detections", res]
    elif case == "unknown image":
        res.write_text(json.dumps([{**good, "image_id": 999}]))
        args += ["--detections", res]
    elif case == "not a list":
        res.write_text(json.dumps({"image_id": 77}))
        args += ["--detections", res]
    elif case == "results as annotations":
        res.write_text(json.dumps([good]))
        args[1] = res
    elif case == "missing image":
        args[3] = tmp_path
    elif case == "over the input":
        args += ["--out", src]
    code, io = run_cli(args, capsys)
    assert code == 2 and message in io.err, io.err
    assert not list(tmp_path.glob("*.snapped*")), "nothing written"


@pytest.mark.slow
def test_a_snapped_file_is_closer_to_the_truth_than_its_input(snap_model, tmp_path, capsys):
    """coco128's val boxes (which the model never saw), perturbed by the evaluation's jitter, snapped
    by `bbadj snap` with a model of the default real-photo recipe, scored with bbadj.scoring.metrics."""
    coco = load_boxes(VAL, COCO128_IMAGES, Config().data, verbose=False)
    truth = dict(zip(coco.box_ids()[1], coco.all_boxes()))
    perturbed = dict(zip(coco.box_ids()[1], np.concatenate(draw_eval_jitter(coco, Config().data, 1234, 0))))
    doc = json.loads(VAL.read_text())
    for a in doc["annotations"]:
        a["bbox"] = xyxy_to_xywh(perturbed[a["id"]]).tolist()
    src = tmp_path / "perturbed.json"
    src.write_text(json.dumps(doc))
    code, _ = run_cli(
        [
            "--annotations",
            src,
            "--images",
            COCO128_IMAGES,
            "--checkpoint",
            snap_model,
            "--out",
            tmp_path / "snapped.json",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0
    snapped = {a["id"]: a["bbox"] for a in json.loads((tmp_path / "snapped.json").read_text())["annotations"]}
    ids = sorted(truth)
    gt = np.stack([truth[i] for i in ids])
    before = box_metrics(np.stack([perturbed[i] for i in ids]), gt)
    after = box_metrics(xywh_to_xyxy([snapped[i] for i in ids]), gt)
    print("perturbed", before, "\nsnapped", after)
    for key in ("miou", "iou90", "edge3"):
        assert after[key] > before[key], (key, before, after)

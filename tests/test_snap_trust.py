"""`bbadj snap` on a team's only copy of its labels (issue 23): a second pass keeps the person's
boxes, no file but its own earlier output is ever replaced, masks and areas stay consistent,
ids come back as written, a damaged or turned photograph is handled as a tool shows it, one
image's many boxes go in batches, and every bad option stops before any work."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import COCO128_IMAGES
from PIL import Image

import bbadj
from bbadj.cli.main import main
from bbadj.snap.file import JOURNAL_SUFFIX, SnapSettings, snap_file
from bbadj.util.errors import DataError, OutputError

PHOTO = "000000000077.jpg"  # 500 x 375


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


def write(path, annotations, images=None):
    images = images or [{"id": 77, "file_name": PHOTO, "width": 500, "height": 375}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]})
    )
    return path


def box(aid, bbox, **kw):
    return {
        "id": aid,
        "image_id": 77,
        "category_id": 1,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": 0,
        "segmentation": [],
        **kw,
    }


BOXES = [box(1, [216, 56, 103, 119]), box(2, [321, 54, 95, 97]), box(3, [25, 168, 97, 165])]


def test_a_second_pass_keeps_the_persons_boxes_and_says_how_many_passes(model, tmp_path):
    src = write(tmp_path / "p0.json", BOXES)
    # hold 0: p1's boxes are the model's (the hold is tests/test_snap_hold.py's)
    snap_file(src, COCO128_IMAGES, model, tmp_path / "p1.json", settings=SnapSettings(hold=0), progress=False)
    p1 = json.loads((tmp_path / "p1.json").read_text())
    summary = snap_file(tmp_path / "p1.json", COCO128_IMAGES, model, tmp_path / "p2.json", progress=False)
    p2 = json.loads((tmp_path / "p2.json").read_text())
    assert summary["pass"] == 2 and [h["pass"] for h in summary["history"]] == [1]
    assert summary["history"][0]["output"] == str(tmp_path / "p1.json")
    for a0, a1, a2 in zip(BOXES, p1["annotations"], p2["annotations"]):
        assert a2["snap"]["bbox_original"] == a0["bbox"], "the person's box, never replaced"
        assert a2["snap"]["bbox_input"] == a1["bbox"] == a1["snap"]["bbox_snapped"]
        assert (a1["snap"]["passes"], a2["snap"]["passes"]) == (1, 2)
    # a third pass still has the first original, and the history grows
    summary = snap_file(tmp_path / "p2.json", COCO128_IMAGES, model, tmp_path / "p3.json", progress=False)
    p3 = json.loads((tmp_path / "p3.json").read_text())
    assert [h["pass"] for h in summary["history"]] == [1, 2]
    assert [a["snap"]["bbox_original"] for a in p3["annotations"]] == [a["bbox"] for a in BOXES]
    assert {a["snap"]["passes"] for a in p3["annotations"]} == {3}


def test_a_snap_key_it_did_not_write_is_not_replaced(model, tmp_path):
    src = write(tmp_path / "a.json", [box(1, [216, 56, 103, 119], snap="reviewed by Ann")])
    with pytest.raises(DataError, match=r"annotation id 1 has a 'snap' key that bbadj snap did not write"):
        snap_file(src, COCO128_IMAGES, model, progress=False)


def run_cli(args, capsys):
    code = main(["snap", *map(str, args)])
    return code, capsys.readouterr()


@pytest.mark.parametrize("victim", ["checkpoint", "other json", "review file", "image"])
def test_out_never_replaces_a_file_snap_did_not_write(checkpoint, tmp_path, capsys, victim):
    src = write(tmp_path / "a.json", BOXES)
    ckpt = shutil.copy(checkpoint, tmp_path / "m.pt")
    review = tmp_path / "a.snapped.review.json"
    args = ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", ckpt, "--no-progress"]
    assert run_cli(args, capsys)[0] == 0  # writes a.snapped.json and its review file
    target = {
        "checkpoint": ckpt,
        "other json": write(tmp_path / "other.json", []),
        "review file": review,
        "image": shutil.copy(COCO128_IMAGES / PHOTO, tmp_path / PHOTO),
    }[victim]
    before = target.read_bytes()
    code, io = run_cli(args + ["--out", target, "--review", tmp_path / "r.json"], capsys)
    assert code == 2 and f"the output {target} exists and is not an annotations file bbadj snap wrote" in io.err
    assert target.read_bytes() == before and not (tmp_path / "r.json").exists()
    code, io = run_cli(args + ["--review", target], capsys)
    if victim == "review file":
        assert code == 0, "its own review file is replaced"
    else:
        assert code == 2 and f"the review file {target} exists and is not a review file bbadj snap wrote" in io.err
        assert target.read_bytes() == before


def test_a_rerun_replaces_its_own_output_and_a_results_output_is_recognised(model, tmp_path):
    src = write(tmp_path / "a.json", BOXES)
    snap_file(src, COCO128_IMAGES, model, progress=False)
    snap_file(src, COCO128_IMAGES, model, progress=False)  # the same command again
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 77, "category_id": 1, "bbox": b["bbox"], "score": 0.9} for b in BOXES]))
    snap_file(src, COCO128_IMAGES, model, detections=dets, progress=False)
    out = tmp_path / "dets.snapped.json"
    assert out.read_text().startswith('[{"snap": {"status": "changed"')
    snap_file(src, COCO128_IMAGES, model, detections=dets, progress=False)
    with pytest.raises(OutputError, match="is not a results file bbadj snap wrote"):  # kinds do not mix
        snap_file(src, COCO128_IMAGES, model, tmp_path / "a.snapped.json", detections=dets, progress=False)
    (tmp_path / ("x.json" + JOURNAL_SUFFIX)).write_text("my notes\n")
    with pytest.raises(OutputError, match=r"x\.json\.partial\.jsonl exists and is not a journal of bbadj snap"):
        snap_file(src, COCO128_IMAGES, model, tmp_path / "x.json", progress=False)
    assert (tmp_path / ("x.json" + JOURNAL_SUFFIX)).read_text() == "my notes\n"


def test_masks_are_left_as_they_are_unless_asked_and_areas_follow_rectangles(model, tmp_path):
    polygon = [[220, 60, 310, 60, 310, 170, 220, 170]]
    rle = {"size": [375, 500], "counts": "abc"}
    anns = [
        box(1, [216, 56, 103, 119], segmentation=polygon, area=9900.0),
        box(2, [321, 54, 95, 97], segmentation=rle, area=7000.0),
        box(3, [25, 168, 97, 165]),
    ]
    src = write(tmp_path / "a.json", anns)
    summary = snap_file(src, COCO128_IMAGES, model, progress=False)
    assert summary["skipped_by_reason"] == {"has a polygon mask": 1, "has an RLE mask": 1} and summary["changed"] == 1
    out = json.loads((tmp_path / "a.snapped.json").read_text())["annotations"]
    assert [a["bbox"] for a in out[:2]] == [anns[0]["bbox"], anns[1]["bbox"]]
    assert out[0]["snap"] == {
        "status": "skipped",
        "reason": "has a polygon mask",
        "bbox_original": anns[0]["bbox"],
        "passes": 1,
    }
    w, h = out[2]["bbox"][2:]
    assert out[2]["area"] == round(w * h, 3) != anns[2]["area"], "a rectangle's area is its new box's"

    summary = snap_file(
        src, COCO128_IMAGES, model, tmp_path / "m.json", settings=SnapSettings(snap_masked=True), progress=False
    )
    assert summary["changed"] == 3 and summary["skipped"] == 0
    out = json.loads((tmp_path / "m.json").read_text())["annotations"]
    assert out[0]["bbox"] != anns[0]["bbox"], "snapped anyway"
    assert [(a["segmentation"], a["area"]) for a in out[:2]] == [(polygon, 9900.0), (rle, 7000.0)], (
        "the mask and its area as they were"
    )


def test_ids_come_back_as_written_and_tools_oddities_are_counted(model, tmp_path, capsys):
    images = [
        {"id": 77, "file_name": f"/content/drive/MyDrive/photos/{PHOTO}", "width": 500, "height": 375},
        {"id": 5, "file_name": "broken.jpg", "width": None, "height": None},
    ]
    anns = [box("a-1", [216, 56, 103, 119]), box(7, [321, 54, 95, 97]), box("z", [30, 30, 0, 40])]
    src = write(tmp_path / "a.json", anns, images)
    summary = snap_file(src, COCO128_IMAGES, model, settings=SnapSettings(max_err_px=1e-3), progress=False)
    doc = json.loads((tmp_path / "a.snapped.json").read_text())
    assert [a["id"] for a in doc["annotations"]] == ["a-1", 7, "z"] and doc["images"] == images
    assert doc["annotations"][2]["snap"]["reason"] == "zero width or height"
    assert summary["images_skipped"] == {"images without a size (and no box)": 1}
    assert summary["file_names_resolved"] == {"77": str(COCO128_IMAGES / PHOTO)}
    review = json.loads((tmp_path / "a.snapped.review.json").read_text())
    assert [r["id"] for r in review["kept"]] == ["a-1", 7]
    assert all(f["rule"] == "max_err_px" for f in review["kept"][0]["failed"])


def test_a_damaged_photograph_is_a_counted_skip_naming_it(model, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    data = (COCO128_IMAGES / PHOTO).read_bytes()
    start = data.index(b"\xff\xda") + 2000
    damaged = bytearray(data)
    damaged[start + 10000 : start + 13000] = data[start : start + 3000]  # a block copied within the file
    (images / "bad.jpg").write_bytes(bytes(damaged))
    shutil.copy(COCO128_IMAGES / PHOTO, images / PHOTO)
    entries = [
        {"id": 77, "file_name": PHOTO, "width": 500, "height": 375},
        {"id": 78, "file_name": "bad.jpg", "width": 500, "height": 375},
    ]
    anns = BOXES + [{**box(10, [216, 56, 103, 119]), "image_id": 78}, {**box(11, [25, 168, 97, 165]), "image_id": 78}]
    src = write(tmp_path / "a.json", anns, entries)
    code, io = run_cli(
        ["--annotations", src, "--images", images, "--checkpoint", model.checkpoint, "--no-progress"], capsys
    )
    assert code == 0
    assert "5 boxes: 3 changed, 0 kept for review, 2 skipped (2 corrupt image)" in io.out
    assert f"corrupt image, its boxes left as they were: {images / 'bad.jpg'}" in io.out
    summary = json.loads((tmp_path / "a.snapped.json").read_text())["snap"]
    assert list(summary["corrupt_images"]) == [str(images / "bad.jpg")]
    assert "Corrupt JPEG data" in summary["corrupt_images"][str(images / "bad.jpg")]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_photograph_stored_turned_is_snapped_as_tools_show_it(model, tmp_path, orientation):
    """The same photograph stored upright, and stored turned with an EXIF tag (lossless PNG): the
    same boxes come out."""
    upright = Image.open(COCO128_IMAGES / PHOTO)
    stored = upright.transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    (tmp_path / "upright").mkdir()
    (tmp_path / "turned").mkdir()
    upright.save(tmp_path / "upright" / "p.png")
    stored.save(tmp_path / "turned" / "p.png", exif=exif.tobytes())
    src = write(tmp_path / "a.json", BOXES, [{"id": 77, "file_name": "p.png", "width": 500, "height": 375}])
    snap_file(src, tmp_path / "upright", model, tmp_path / "u.json", progress=False)
    snap_file(src, tmp_path / "turned", model, tmp_path / "t.json", progress=False)
    boxes = lambda p: [a["bbox"] for a in json.loads(p.read_text())["annotations"]]  # noqa: E731
    assert boxes(tmp_path / "t.json") == boxes(tmp_path / "u.json") != [a["bbox"] for a in BOXES]


def test_many_boxes_on_one_image_go_in_batches_with_the_same_result(model, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (300, 2))
    wh = rng.uniform(20, 150, (300, 2))
    anns = [box(k, [round(v, 2) for v in (*xy[k], *wh[k])]) for k in range(300)]
    src = write(tmp_path / "a.json", anns)
    sizes = []
    from bbadj.snap import file as snap_mod

    real = snap_mod.adjust_boxes
    monkeypatch.setattr(
        snap_mod, "adjust_boxes", lambda coco, *a, **k: sizes.append(coco.n_boxes) or real(coco, *a, **k)
    )
    snap_file(src, COCO128_IMAGES, model, tmp_path / "b.json", settings=SnapSettings(batch_size=64), progress=False)
    assert sizes == [64, 64, 64, 64, 44], "one photograph's 300 boxes, cropped 64 at a time"
    snap_file(src, COCO128_IMAGES, model, tmp_path / "w.json", settings=SnapSettings(batch_size=512), progress=False)
    batched, whole = (
        np.array([a["bbox"] for a in json.loads((tmp_path / f).read_text())["annotations"]])
        for f in ("b.json", "w.json")
    )
    assert np.abs(batched - whole).max() <= 2e-3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--device", "cuda"], "device 'cuda' was asked for, but CUDA is not available"),
        (["--device", "tpu9"], "unknown device 'tpu9'"),
        (["--batch-size", "0"], "batch_size must be at least 1"),
        (["--max-err-px", "0"], "max_err_px must be a number > 0"),
        (["--max-err-frac", "-0.1"], "max_err_frac must be a number > 0"),
        (["--min-p", "1.5"], "min_p must be a probability"),
        (["--min-p", "0.9", "--within-px", "0"], "within_px must be"),
        (["--min-box-size", "-1"], "min_box_size must be >= 0"),
        (["--buffer-ratio", "0.5"], "--buffer-ratio"),
        (["--images", "/nonexistent/folder"], "image folder not found: /nonexistent/folder"),
        (["--checkpoint", "/nonexistent/m.pt"], "checkpoint file not found: /nonexistent/m.pt"),
        (["--detections", "/nonexistent/d.json"], "detections file not found"),
    ],
)
def test_every_bad_option_stops_before_any_work(checkpoint, tmp_path, capsys, monkeypatch, extra, message):
    if extra[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr("bbadj.model.checkpoint.load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    src = write(tmp_path / "a.json", BOXES)
    args = ["--annotations", src, "--images", COCO128_IMAGES, "--checkpoint", checkpoint, "--no-progress"]
    for k in range(0, len(extra), 2):  # a later option of the same name wins in argparse
        args += extra[k : k + 2]
    code, io = run_cli(args, capsys)
    assert code == 2 and message in io.err and "Traceback" not in io.err, io.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"], "nothing written"


def test_bench_snap_puts_many_boxes_on_one_photograph_and_names_bad_options(tmp_path, capsys):
    from conftest import COCO128

    from bbadj.bench.snap import repeat_file

    made = repeat_file(COCO128 / "annotations" / "val.json", 50, tmp_path / "one.json", per_image=50)
    doc = json.loads((tmp_path / "one.json").read_text())
    assert (made["images"], made["boxes"]) == (1, 50) and {a["image_id"] for a in doc["annotations"]} == {1}
    assert len({a["id"] for a in doc["annotations"]}) == 50, "fresh ids: no duplicates"
    for bad, message in (
        (["--boxes-per-image", "0"], "--boxes-per-image must be at least 1"),
        (["--batch-size", "0"], "batch_size must be at least 1"),
    ):
        assert main(["bench", "snap", *bad]) == 2 and message in capsys.readouterr().err


def test_a_file_of_the_earlier_format_is_snapped_again_with_its_originals(model, tmp_path):
    """bbadj snap's outputs before format 2: a summary without written_by, boxes without passes."""
    old = {"kind": "annotations", "boxes": 1, "changed": 1, "kept": 0, "skipped": 0, "settings": {"max_err_px": None}}
    first = box(
        1,
        [220, 60, 100, 115],
        snap={"status": "changed", "bbox_original": [216, 56, 103, 119], "bbox_snapped": [220, 60, 100, 115]},
    )
    src = tmp_path / "old.json"
    src.write_text(
        json.dumps(
            {
                "images": [{"id": 77, "file_name": PHOTO, "width": 500, "height": 375}],
                "annotations": [first],
                "categories": [],
                "snap": old,
            }
        )
    )
    summary = snap_file(src, COCO128_IMAGES, model, progress=False)
    assert summary["pass"] == 2 and summary["history"] == [{"format": 1, **old}]
    out = json.loads((tmp_path / "old.snapped.json").read_text())["annotations"][0]["snap"]
    assert (out["bbox_original"], out["bbox_input"], out["passes"]) == ([216, 56, 103, 119], [220, 60, 100, 115], 2)

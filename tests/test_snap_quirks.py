"""`bbadj snap` on files as more tools write them (issue 33.4), each quirk in a hand-made file: a box
written as a 4-corner polygon (V7 darwin-py, sahi, a YOLO converter's box-to-segmentation option)
is snapped and its polygon and area follow the box; VGG Image Annotator's flat polygon list is a
polygon; a file_name that is empty or a folder (X-AnyLabeling) and a string image_id (VIA) are
named as what they are, the last two before the model is loaded."""

import json

import pytest
from conftest import COCO128_IMAGES

import bbadj
from bbadj.cli.main import main
from bbadj.snap.file import SnapSettings, mask_kind, read_input, snap_file
from bbadj.snap.polygons import rectangle
from bbadj.util.errors import DataError

PHOTO = "000000000077.jpg"  # 500 x 375


def corners(x, y, w, h, order):
    """The polygon of box [x, y, w, h] through the corners ``order`` (tl, tr, br, bl), flat."""
    at = {"tl": (x, y), "tr": (x + w, y), "br": (x + w, y + h), "bl": (x, y + h)}
    return [v for c in order for v in at[c]]


def ann(aid, bbox, seg=None, **kw):
    entry = {"id": aid, "image_id": 77, "category_id": 1, "bbox": bbox, "area": 1.0, "iscrowd": 0, **kw}
    if seg is not None:
        entry["segmentation"] = seg
    return entry


BOX = [60.0, 50.0, 120.0, 90.0]
RECTANGLES = {  # annotation id -> a box's rectangle as tools write it
    1: [corners(*BOX, ["tl", "tr", "br", "bl"])],  # V7, sahi: clockwise from the top left
    2: corners(*BOX, ["br", "bl", "tl", "tr"]),  # VIA's flat list, from the bottom right
    3: [corners(*BOX, ["tr", "tl", "bl", "br", "tr"])],  # counter-clockwise, closed by a fifth point
    4: [[round(v + 0.3) for v in corners(*BOX, ["tl", "bl", "br", "tr"])]],  # rounded to whole pixels
}
MASKS = {  # annotation id -> (a real mask, the reason it is skipped)
    11: ([[60, 50, 180, 50, 120, 140]], "has a polygon mask"),  # a triangle
    12: ([60, 50, 180, 50, 120, 140], "has a polygon mask"),  # VIA's flat triangle
    13: ([corners(*BOX, ["tl", "br", "tr", "bl"])], "has a polygon mask"),  # a bow tie through the 4 corners
    14: ([corners(60, 50, 120, 92, ["tl", "tr", "br", "bl"])], "has a polygon mask"),  # 2 px off its box
    15: ({"size": [375, 500], "counts": "abc"}, "has an RLE mask"),
    16: ([corners(*BOX, ["tl", "tr", "br", "bl"]), [1, 1, 5, 1, 5, 5]], "has a polygon mask"),  # two rings
}


def write(tmp_path, annotations, images=None):
    doc = {
        "images": images or [{"id": 77, "file_name": PHOTO, "width": 500, "height": 375}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


def quirky_file(tmp_path):
    entries = [ann(i, list(BOX), seg) for i, seg in RECTANGLES.items()]
    entries += [ann(i, list(BOX), seg) for i, (seg, _) in MASKS.items()]
    entries.append(ann(21, list(BOX), [], area=BOX[2] * BOX[3]))  # Roboflow's empty list: a plain box
    return write(tmp_path, entries)


def test_recognised_as_rectangles_and_masks():
    for seg in RECTANGLES.values():
        assert mask_kind({"bbox": BOX, "segmentation": seg}) is None and rectangle(seg, BOX) is not None
    for seg, why in MASKS.values():
        assert mask_kind({"bbox": BOX, "segmentation": seg}) == why.split()[-2], seg
        assert rectangle(seg, BOX) is None
    # the tolerance: half a pixel, each corner
    near, far = (corners(60, 50, 120, 90 + d, ["tl", "tr", "br", "bl"]) for d in (0.5, 0.6))
    assert rectangle(near, BOX) is not None and rectangle(far, BOX) is None
    # a fifth point that is not the first one again; a box thinner than the tolerance; no box
    assert rectangle(corners(*BOX, ["tl", "tr", "br", "bl", "br"]), BOX) is None
    assert rectangle(corners(60, 50, 120, 0.2, ["tl", "tr", "br", "bl"]), [60, 50, 120, 0.2]) is not None
    assert rectangle(corners(60, 50, 120, 0.2, ["tl", "tr", "tr", "tl"]), [60, 50, 120, 0.2]) is None
    assert rectangle(corners(60, 50, 0, 90, ["tl", "tr", "br", "bl"]), [60, 50, 0, 90]) is None


def test_a_rectangle_polygon_follows_its_snapped_box_and_masks_are_kept(model, tmp_path):
    src = quirky_file(tmp_path)
    orig = {a["id"]: a for a in json.loads(src.read_text())["annotations"]}
    summary = snap_file(src, COCO128_IMAGES, model, tmp_path / "out.json", progress=False)
    assert (summary["changed"], summary["skipped"], summary["rectangle_polygons"]) == (5, 6, 4)
    assert summary["skipped_by_reason"] == {"has a polygon mask": 5, "has an RLE mask": 1}
    out = {a["id"]: a for a in json.loads((tmp_path / "out.json").read_text())["annotations"]}
    for i, seg in RECTANGLES.items():
        a = out[i]
        assert a["snap"]["status"] == "changed" and a["bbox"] != BOX
        x, y, w, h = a["bbox"]
        assert a["area"] == round(w * h, 3), "the area is the new box's"
        # the same points in the same order and form, each at the new box's corner
        old = {"tl": (60, 50), "tr": (180, 50), "br": (180, 140), "bl": (60, 140)}
        new = {"tl": (x, y), "tr": (round(x + w, 3), y), "br": (round(x + w, 3), round(y + h, 3))}
        new["bl"] = (x, round(y + h, 3))
        flat = isinstance(seg[0], (int, float))
        ring = seg if flat else seg[0]
        names = [min(old, key=lambda c: abs(old[c][0] - px) + abs(old[c][1] - py)) for px, py in zip(*[iter(ring)] * 2)]
        want = [v for c in names for v in new[c]]
        assert a["segmentation"] == (want if flat else [want]), i
    for i, (seg, why) in MASKS.items():
        assert out[i]["snap"] == {"status": "skipped", "reason": why, "bbox_original": BOX, "passes": 1}
        assert {k: out[i][k] for k in ("bbox", "area", "segmentation")} == {
            k: orig[i][k] for k in ("bbox", "area", "segmentation")
        }
    assert out[21]["segmentation"] == [] and out[21]["area"] == round(out[21]["bbox"][2] * out[21]["bbox"][3], 3)

    # a second pass reads the moved polygons as rectangles still (the untrained model's boxes are
    # under 1 px high: min_box_size 0 lets them through)
    again = read_input(tmp_path / "out.json", COCO128_IMAGES, settings=SnapSettings(min_box_size=0))
    assert set(again.coco.skipped_ids) == {k for k, a in enumerate(again.entries) if a["id"] in MASKS}


def test_with_snap_masked_only_the_rectangles_polygons_move(model, tmp_path):
    src = quirky_file(tmp_path)
    orig = {a["id"]: a for a in json.loads(src.read_text())["annotations"]}
    summary = snap_file(src, COCO128_IMAGES, model, tmp_path / "out.json", settings=SnapSettings(snap_masked=True))
    assert (summary["changed"], summary["skipped"], summary["rectangle_polygons"]) == (11, 0, 4)
    out = {a["id"]: a for a in json.loads((tmp_path / "out.json").read_text())["annotations"]}
    for i in RECTANGLES:
        assert out[i]["segmentation"] != orig[i]["segmentation"] and rectangle(out[i]["segmentation"], out[i]["bbox"])
    for i in MASKS:  # the box moves; the mask and its area stay as they were
        assert out[i]["bbox"] != BOX and (out[i]["segmentation"], out[i]["area"]) == (orig[i]["segmentation"], 1.0)


def test_a_kept_box_keeps_its_polygon(model, tmp_path):
    src = quirky_file(tmp_path)
    orig = {a["id"]: a for a in json.loads(src.read_text())["annotations"]}
    summary = snap_file(src, COCO128_IMAGES, model, tmp_path / "out.json", settings=SnapSettings(max_err_px=1e-9))
    assert (summary["kept"], summary["rectangle_polygons"]) == (5, 0)
    out = {a["id"]: a for a in json.loads((tmp_path / "out.json").read_text())["annotations"]}
    assert all(out[i]["segmentation"] == orig[i]["segmentation"] and out[i]["area"] == 1.0 for i in RECTANGLES)


@pytest.fixture
def no_model(monkeypatch):
    """The model loader, made to fail: an error found after it would be a test failure."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("bbadj.model.checkpoint.load_model", refuse)


def snap_cli(src, checkpoint, capsys, images=COCO128_IMAGES):
    code = main(["snap", "--annotations", str(src), "--images", str(images), "--checkpoint", str(checkpoint)])
    return code, capsys.readouterr().err


def test_a_string_image_id_is_named_before_the_model_loads(checkpoint, tmp_path, capsys, no_model):
    src = write(tmp_path, [ann(1, BOX), ann("a2", BOX, image_id="77"), ann(3, BOX, image_id="77")])
    code, err = snap_cli(src, checkpoint, capsys)
    assert code == 2, err
    assert (
        f"{src}: annotation id 'a2' has image_id '77', a string (str), but the images' ids are integers "
        f"(int): the types differ, so it refers to no image; image id 77 exists as a number (2 entries so); "
        f"write the image_id as a number" in err
    )
    assert not list(tmp_path.glob("*.snapped*")), "nothing written"


@pytest.mark.parametrize("name, message", [("", "has an empty file_name ('')"), ("sub", "which names a folder")])
def test_an_empty_or_folder_file_name_is_named_before_the_model_loads(
    checkpoint, tmp_path, capsys, no_model, name, message
):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    src = write(tmp_path, [ann(1, BOX)], [{"id": 77, "file_name": name, "width": 500, "height": 375}])
    code, err = snap_cli(src, checkpoint, capsys, images)
    assert code == 2 and f"{src}: image id 77 " in err and message in err, err
    if name:
        assert f"not an image file: {images / 'sub'}" in err
    else:
        assert f"it names no image file under {images}" in err
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_input(src, images)  # the Python call says the same


def test_an_image_without_boxes_is_not_looked_at(tmp_path):
    """As a missing file is: an image no box refers to is not opened, whatever its name."""
    src = write(
        tmp_path,
        [ann(1, BOX)],
        [
            {"id": 77, "file_name": PHOTO, "width": 500, "height": 375},
            {"id": 5, "file_name": "", "width": 9, "height": 9},
        ],
    )
    assert read_input(src, COCO128_IMAGES).coco.n_boxes == 1


def test_a_string_image_id_in_a_results_file_is_named_too(tmp_path):
    src = write(tmp_path, [ann(1, BOX)])
    res = tmp_path / "results.json"
    res.write_text(
        json.dumps(
            [{"image_id": 77, "category_id": 1, "bbox": BOX, "score": 1}] * 2
            + [{"image_id": "77", "category_id": 1, "bbox": BOX, "score": 1}]
        )
    )
    with pytest.raises(DataError) as e:
        read_input(src, COCO128_IMAGES, res)
    assert str(e.value).startswith(
        f"{res}: entry 2 has image_id '77', a string (str), but the images' ids are integers"
    )

"""Every bad input gets a clear error naming the file or id, or a counted skip."""

import numpy as np
import pytest
import torch
from PIL import Image

from bbadj.core.config import DataConfig
from bbadj.data.coco import DataError, load_coco
from bbadj.data.dataset import TrainBatches, make_crops
from bbadj.data.images import read_rgb
from conftest import write_coco


def _image(path, size=(40, 30), mode="RGB", color=(120, 60, 30)):
    Image.new(mode, size, color if mode != "L" else 100).save(path)
    return path


def _img_entry(iid, name, w=40, h=30):
    return {"id": iid, "file_name": name, "width": w, "height": h}


def _ann(aid, iid, bbox, **kw):
    return {"id": aid, "image_id": iid, "bbox": bbox, "category_id": 1, **kw}


def test_reads_boxes_as_corners(tmp_path):
    _image(tmp_path / "a.jpg")
    ann = write_coco(tmp_path / "a.json", [_img_entry(1, "a.jpg")], [_ann(5, 1, [2, 3, 10, 20])])
    coco = load_coco(ann, tmp_path, verbose=False)
    assert coco.images[0].boxes.tolist() == [[2, 3, 12, 23]]
    assert coco.images[0].ann_ids.tolist() == [5]


def test_counted_skips_are_reported(tmp_path, capsys):
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "b.jpg")
    ann = write_coco(
        tmp_path / "a.json",
        [_img_entry(1, "a.jpg"), _img_entry(2, "b.jpg")],
        [
            _ann(1, 1, [2, 3, 10, 20]),
            _ann(2, 1, [2, 3, 10, 20], iscrowd=1),
            _ann(3, 1, [5, 5, 0.5, 10]),  # under 1 px wide
            _ann(4, 1, [100, 100, 10, 10]),  # wholly outside the 40 x 30 image
            _ann(5, 1, [35, 20, 10, 20]),  # sticks out: clipped and kept
            _ann(6, 1, [39.5, 5, 10, 10]),  # sticks out, and clipped it is under 1 px wide: skipped once
        ],
    )
    coco = load_coco(ann, tmp_path)
    assert coco.n_boxes == 2
    # a kept box is not a skip; a box both clipped and too small is counted once, as too small
    assert coco.skipped == {"crowd": 1, "smaller than 1 px": 2, "outside image": 1, "images without usable boxes": 1}
    assert coco.clipped == 1
    assert coco.images[0].boxes[1].tolist() == [35, 20, 40, 30]
    out = capsys.readouterr().out
    assert "1 crowd" in out and "1 outside image" in out and "1 clipped to their image" in out


@pytest.mark.parametrize(
    "bbox, match",
    [
        ([1, 2, float("nan"), 4], "annotation id 7 .*non-finite"),
        ([1, 2, -3, 4], "annotation id 7 .*negative"),
        ([1, 2, 3], "annotation id 7 .*4-number"),
    ],
)
def test_bad_boxes_name_the_annotation(tmp_path, bbox, match):
    _image(tmp_path / "a.jpg")
    ann = write_coco(tmp_path / "a.json", [_img_entry(1, "a.jpg")], [_ann(7, 1, bbox)])
    with pytest.raises(DataError, match=match):
        load_coco(ann, tmp_path, verbose=False)


@pytest.mark.parametrize(
    "change, match",
    [
        # what float() and int() used to take, or crash on without naming anything (issue 17's probes)
        (
            lambda d: d["annotations"][0].update(bbox="1234"),
            r"annotation id 7 \(image id 1\) has no 4-number bbox: '1234'",
        ),
        (
            lambda d: d["annotations"][0].update(bbox=[None, 1, 2, 3]),
            r"annotation id 7 .*4-number bbox: \[None, 1, 2, 3\]",
        ),
        (lambda d: d["annotations"][0].update(bbox=[True, 1, 2, 3]), r"annotation id 7 .*4-number bbox"),
        (lambda d: d["annotations"][0].update(id=None), r"annotations\[0\] has no integer 'id'"),
        (lambda d: d["annotations"][0].update(id=7.5), r"annotations\[0\] has no integer 'id'"),
        (
            lambda d: d["annotations"][0].update(image_id="1"),
            r"annotation id 7 refers to image id '1', which does not exist",
        ),
        (lambda d: d["images"][0].update(id=None), r"images\[0\] has no integer 'id'"),
        (
            lambda d: d["images"][0].update(width=None),
            r"image id 1 needs a file_name string and positive integer width",
        ),
        (lambda d: d["images"][0].update(height=0), r"image id 1 needs .* positive integer width and height"),
        (lambda d: d.update(annotations=None), r"'annotations' must be a list, got None"),
        (lambda d: d["annotations"].append(5), r"annotations\[1\] has no integer 'id': 5"),
    ],
)
def test_loosely_typed_fields_are_named(tmp_path, change, match):
    import json

    _image(tmp_path / "a.jpg")
    doc = {"images": [_img_entry(1, "a.jpg")], "annotations": [_ann(7, 1, [2, 3, 10, 20])], "categories": []}
    change(doc)
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=match):
        load_coco(tmp_path / "a.json", tmp_path, verbose=False)


def test_integral_float_ids_are_ids(tmp_path):
    _image(tmp_path / "a.jpg")
    ann = write_coco(tmp_path / "a.json", [_img_entry(1.0, "a.jpg")], [_ann(7.0, 1.0, [2, 3, 10, 20])])
    coco = load_coco(ann, tmp_path, verbose=False)
    assert (coco.images[0].image_id, coco.images[0].ann_ids.tolist()) == (1, [7])


def test_annotation_of_a_missing_image_id(tmp_path):
    ann = write_coco(tmp_path / "a.json", [_img_entry(1, "a.jpg")], [_ann(9, 42, [1, 1, 5, 5])])
    with pytest.raises(DataError, match="annotation id 9 refers to image id 42"):
        load_coco(ann, tmp_path, verbose=False)


def test_missing_image_file_is_named(tmp_path):
    ann = write_coco(tmp_path / "a.json", [_img_entry(3, "nope.jpg")], [_ann(1, 3, [1, 1, 5, 5])])
    with pytest.raises(DataError, match=r"nope\.jpg.*image id 3"):
        load_coco(ann, tmp_path, verbose=False)


def test_not_coco(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a COCO instances file"):
        load_coco(tmp_path / "x.json", tmp_path, verbose=False)
    (tmp_path / "y.json").write_text("{oops")
    with pytest.raises(DataError, match="y.json: not valid JSON"):
        load_coco(tmp_path / "y.json", tmp_path, verbose=False)


def test_corrupt_jpeg_is_named(tmp_path):
    good = _image(tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataError, match="bad.jpg"):
        read_rgb(tmp_path / "bad.jpg")


def test_corrupt_jpeg_in_a_loader_worker_is_named(tmp_path):
    good = _image(tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(good.read_bytes()[:60])
    ann = write_coco(
        tmp_path / "a.json", [_img_entry(1, "bad.jpg")], [_ann(1, 1, [1, 1, 20, 20]), _ann(2, 1, [1, 1, 20, 20])]
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    data = TrainBatches(coco, DataConfig(crop_size=16), batch_size=2, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=1)
    with pytest.raises(DataError, match="bad.jpg"):
        next(iter(loader))


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_non_rgb_images_become_rgb(tmp_path, mode):
    color = {"L": 100, "RGBA": (120, 60, 30, 200), "CMYK": (10, 80, 120, 20), "P": 5}[mode]
    path = tmp_path / ("x.png" if mode in ("RGBA", "P") else "x.jpg")
    Image.new(mode, (40, 30), color).save(path)
    img = read_rgb(path)
    assert img.shape == (3, 30, 40) and img.dtype == torch.uint8
    expected = np.asarray(Image.open(path).convert("RGB"))[0, 0]
    assert np.abs(img[:, 0, 0].numpy().astype(int) - expected.astype(int)).max() <= 2


def test_decoded_size_must_match_the_annotation(tmp_path):
    _image(tmp_path / "a.jpg", size=(40, 30))
    ann = write_coco(tmp_path / "a.json", [_img_entry(1, "a.jpg", w=50, h=30)], [_ann(1, 1, [1, 1, 5, 5])])
    coco = load_coco(ann, tmp_path, verbose=False)
    with pytest.raises(DataError, match="a.jpg: decoded size 40x30 differs"):
        make_crops(
            coco.images, np.array([0]), coco.images[0].boxes, coco.images[0].boxes, DataConfig(crop_size=8).geometry
        )


@pytest.mark.parametrize("channels", [3, 1])
def test_16_bit_pngs_read_as_their_8_bit_values(tmp_path, channels):
    """A 16-bit PNG was read as uint16 and divided by 255 in `normalize` (issue 17's probe: coco128
    as 16-bit PNGs moved mIoU from 0.570 to 0.512). Each 16-bit value v8 * 257 is the 8-bit v8."""
    import cv2

    rng = np.random.default_rng(0)
    v8 = rng.integers(0, 256, size=(30, 40, channels), dtype=np.uint8)
    v8[0, 0] = 255
    cv2.imwrite(str(tmp_path / "a8.png"), v8)
    cv2.imwrite(str(tmp_path / "a16.png"), v8.astype(np.uint16) * 257)
    img8, img16 = read_rgb(tmp_path / "a8.png"), read_rgb(tmp_path / "a16.png")
    assert img16.dtype == torch.uint8 and torch.equal(img16, img8)
    # rounding: v / 257 to the nearest 8-bit value
    cv2.imwrite(str(tmp_path / "b16.png"), np.array([[0, 128, 129, 385, 386, 65535]], dtype=np.uint16))
    assert read_rgb(tmp_path / "b16.png")[0, 0].tolist() == [0, 0, 1, 1, 2, 255]
    ann = write_coco(
        tmp_path / "a.json",
        [_img_entry(1, "a8.png"), _img_entry(2, "a16.png")],
        [_ann(1, 1, [3, 4, 20, 15]), _ann(2, 2, [3, 4, 20, 15])],
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    boxes = np.array([[3, 4, 23, 19.0]] * 2)
    crops = make_crops(coco.images, np.array([0, 1]), boxes, boxes, DataConfig(crop_size=8).geometry)["crops"]
    assert torch.equal(crops[0], crops[1]), "the model sees the same pixels"


def test_an_empty_image_file_is_named(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"image file is empty \(0 bytes\): .*empty\.jpg"):
        read_rgb(tmp_path / "empty.jpg")


def test_a_zero_width_box_is_skipped_as_such_not_as_outside(tmp_path):
    _image(tmp_path / "a.jpg")
    ann = write_coco(
        tmp_path / "a.json",
        [_img_entry(1, "a.jpg")],
        [
            _ann(1, 1, [2, 3, 10, 20]),
            _ann(2, 1, [5, 5, 0, 10]),
            _ann(3, 1, [5, 5, 10, 0]),
            _ann(4, 1, [100, 5, 0, 10]),
            _ann(5, 1, [100, 5, 3, 10]),
        ],
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    assert coco.skipped == {"zero width or height": 3, "outside image": 1}
    assert coco.skipped_ids == {
        2: "zero width or height",
        3: "zero width or height",
        4: "zero width or height",
        5: "outside image",
    }


def test_an_image_without_size_or_boxes_is_skipped_and_counted(tmp_path, capsys):
    """Label Studio's converter writes {"width": null, "height": null} for an image it could not open."""
    _image(tmp_path / "a.jpg")
    images = [
        _img_entry(1, "a.jpg"),
        {"id": 2, "file_name": "gone.jpg", "width": None, "height": None},
        {"id": 3, "file_name": "also-gone.jpg"},
    ]
    ann = write_coco(tmp_path / "a.json", images, [_ann(1, 1, [2, 3, 10, 20])])
    coco = load_coco(ann, tmp_path)
    assert coco.n_boxes == 1 and coco.skipped == {"images without a size (and no box)": 2}
    assert "skipped 2 images without a size (and no box)" in capsys.readouterr().out
    # with a box it cannot be checked: an error naming it
    ann = write_coco(tmp_path / "b.json", images, [_ann(1, 1, [2, 3, 10, 20]), _ann(2, 2, [1, 1, 5, 5])])
    with pytest.raises(DataError, match=r"image id 2 has no size \(width None, height None\) but has boxes"):
        load_coco(ann, tmp_path, verbose=False)


def test_duplicate_annotation_ids_are_an_error_in_every_reader(tmp_path):
    """19 boxes under one id were read as 19 boxes by load_coco while the detections' matching
    kept one category per id (18 matched, 1 missed); now the id is named."""
    _image(tmp_path / "a.jpg")
    ann = write_coco(
        tmp_path / "a.json", [_img_entry(1, "a.jpg")], [_ann(7, 1, [2, 3, 10, 20])] + [_ann(8, 1, [2, 3, 10, 20])] * 18
    )
    with pytest.raises(
        DataError,
        match=r"a\.json: annotation id 8 appears twice \(annotations\[1\] and "
        r"annotations\[2\]\): ids must be unique",
    ):
        load_coco(ann, tmp_path, verbose=False)


def test_string_annotation_ids_only_where_asked(tmp_path):
    import json

    from bbadj.data.coco import boxes_from_instances

    _image(tmp_path / "a.jpg")
    doc = {
        "images": [_img_entry(1, "a.jpg")],
        "annotations": [_ann("b7", 1, [2, 3, 10, 20]), _ann(3, 1, [1, 1, 4, 4]), _ann("z", 1, [1, 1, 0, 4])],
    }
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotations\[0\] has no integer 'id'"):
        load_coco(tmp_path / "a.json", tmp_path, verbose=False)
    coco = boxes_from_instances(doc, tmp_path / "a.json", tmp_path, string_ids=True, verbose=False)
    assert coco.images[0].ann_ids.tolist() == [0, 1], "positions in the file"
    assert coco.skipped_ids == {2: "zero width or height"}
    doc["annotations"].append(_ann("b7", 1, [1, 1, 4, 4]))
    with pytest.raises(DataError, match=r"annotation id 'b7' appears twice \(annotations\[0\] and annotations\[3\]\)"):
        boxes_from_instances(doc, tmp_path / "a.json", tmp_path, string_ids=True, verbose=False)


def test_file_names_from_another_machine_are_found_by_their_trailing_folders(tmp_path, capsys):
    (tmp_path / "imgs" / "val").mkdir(parents=True)
    (tmp_path / "imgs" / "train").mkdir()
    for sub in ("val", "train"):
        _image(tmp_path / "imgs" / sub / "1.jpg")
    _image(tmp_path / "imgs" / "2.jpg")
    images = [
        _img_entry(1, "/content/drive/MyDrive/data/val/1.jpg"),
        _img_entry(2, "C:\\Users\\me\\data\\2.jpg"),
        _img_entry(3, "../../upload/7/train/1.jpg"),
        _img_entry(4, "val/1.jpg"),
    ]
    ann = write_coco(tmp_path / "a.json", images[:3], [_ann(k, k, [1, 1, 5, 5]) for k in (1, 2, 3)])
    coco = load_coco(ann, tmp_path / "imgs")
    assert [r.path for r in coco.images] == [tmp_path / "imgs" / p for p in ("val/1.jpg", "2.jpg", "train/1.jpg")]
    assert coco.resolved == {
        1: (images[0]["file_name"], str(tmp_path / "imgs" / "val" / "1.jpg")),
        2: (images[1]["file_name"], str(tmp_path / "imgs" / "2.jpg")),
        3: (images[2]["file_name"], str(tmp_path / "imgs" / "train" / "1.jpg")),
    }
    out = capsys.readouterr().out
    assert (
        "3 file names not found as written, found under" in out and "/content/drive/MyDrive/data/val/1.jpg -> " in out
    )
    # two entries that come to the same file: which is which is unclear
    ann = write_coco(tmp_path / "b.json", [images[0], images[3]], [_ann(1, 1, [1, 1, 5, 5]), _ann(2, 4, [1, 1, 5, 5])])
    with pytest.raises(DataError, match=r"image ids 1 and 4 .* are both found as .*val/1\.jpg"):
        load_coco(ann, tmp_path / "imgs", verbose=False)
    ann = write_coco(tmp_path / "c.json", [_img_entry(1, "/elsewhere/none.jpg")], [_ann(1, 1, [1, 1, 5, 5])])
    with pytest.raises(
        DataError,
        match=r"image file not found: /elsewhere/none\.jpg \(a name outside .*imgs: looked "
        r"for only inside it\) \(image id 1, .*nor any of its trailing folders",
    ):
        load_coco(ann, tmp_path / "imgs", verbose=False)

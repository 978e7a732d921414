"""Tests for the synthetic COCO dataset maker (bbadj.data.synth)."""

from __future__ import annotations

import io
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bbadj.data.synth import MIN_BOX_SIDE, MIN_VISIBLE_AREA, encode_jpeg, make_synthetic, render_image

SEED = 7
N_IMAGES = 40


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    summary = make_synthetic(out, N_IMAGES, SEED, progress=False)
    assert summary == {"images": N_IMAGES, "boxes": summary["boxes"], "out": str(out)}
    coco = json.loads((out / "annotations.json").read_text())
    assert summary["boxes"] == len(coco["annotations"])
    return out, coco


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _tight_box(mask: np.ndarray, label: int) -> list[int]:
    ys, xs = np.nonzero(mask == label)
    return [int(xs.min()), int(ys.min()), int(xs.max() + 1 - xs.min()), int(ys.max() + 1 - ys.min())]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = (
        make_synthetic(tmp_path / name, 6, seed, progress=False) for name, seed in (("a", 3), ("b", 3), ("c", 4))
    )
    files_a, files_b, files_c = (_tree_bytes(Path(s["out"])) for s in (a, b, c))
    assert len(files_a) == 7  # six images and the JSON
    assert files_a == files_b
    assert files_a["annotations.json"] != files_c["annotations.json"]
    assert all(files_a[k] != files_c[k] for k in files_a if k.endswith(".jpg"))


def test_images_do_not_depend_on_dataset_size(tmp_path):
    small = _tree_bytes(Path(make_synthetic(tmp_path / "s", 2, SEED, progress=False)["out"]))
    big = _tree_bytes(Path(make_synthetic(tmp_path / "b", 4, SEED, progress=False)["out"]))
    assert small["images/000001.jpg"] == big["images/000001.jpg"]


def test_valid_coco(dataset):
    out, coco = dataset
    assert [c["id"] for c in coco["categories"]] == [1]
    image_ids = [im["id"] for im in coco["images"]]
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(image_ids) == N_IMAGES and len(set(image_ids)) == N_IMAGES
    assert len(set(ann_ids)) == len(ann_ids) > 0
    images = {im["id"]: im for im in coco["images"]}
    for im in coco["images"]:
        with Image.open(out / "images" / im["file_name"]) as f:
            assert f.format == "JPEG" and f.mode == "RGB"
            assert f.size == (im["width"], im["height"])
    for a in coco["annotations"]:
        im = images[a["image_id"]]
        x, y, w, h = a["bbox"]
        assert all(isinstance(v, int) for v in a["bbox"])
        assert a["category_id"] == 1 and a["iscrowd"] == 0
        assert w >= MIN_BOX_SIDE and h >= MIN_BOX_SIDE
        assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]
        assert MIN_VISIBLE_AREA <= a["area"] <= w * h


def test_dataset_is_not_trivial(dataset):
    out, coco = dataset
    images = {im["id"]: im for im in coco["images"]}
    boxes_per_image: dict[int, list] = {i: [] for i in images}
    small = large = border = 0
    for a in coco["annotations"]:
        im = images[a["image_id"]]
        x, y, w, h = a["bbox"]
        boxes_per_image[a["image_id"]].append((x, y, x + w, y + h))
        small += min(w, h) < 16
        large += w > im["width"] / 2 or h > im["height"] / 2
        border += x == 0 or y == 0 or x + w == im["width"] or y + h == im["height"]
    overlapping = sum(
        min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
        for boxes in boxes_per_image.values()
        for a, b in combinations(boxes, 2)
    )
    assert small >= 3 and large >= 3 and border >= 3 and overlapping >= 3
    assert sum(len(b) >= 3 for b in boxes_per_image.values()) >= 5
    assert len({im["width"] for im in coco["images"]}) >= 10
    assert len({im["height"] for im in coco["images"]}) >= 10
    assert len({a["shape"] for a in coco["annotations"]}) >= 8
    # JPEG quality varies per image: different quantisation tables
    tables = set()
    for im in coco["images"]:
        with Image.open(out / "images" / im["file_name"]) as f:
            tables.add(tuple(f.quantization[0]))
    assert len(tables) >= 5


@pytest.mark.parametrize("index", range(12))
def test_boxes_are_tight_on_the_label_mask(index):
    r = render_image(SEED, index)
    h, w = r.mask.shape
    assert r.image.size == (w, h)
    assert r.boxes and len(r.boxes) == len(r.labels) == len(r.areas) == len(r.shapes)
    for box, label, area in zip(r.boxes, r.labels, r.areas):
        assert box == _tight_box(r.mask, label)
        assert area == int((r.mask == label).sum())
        x, y, bw, bh = box
        obj = r.mask == label
        # every side of the box touches the object ...
        assert obj[y : y + bh, x].any() and obj[y : y + bh, x + bw - 1].any()
        assert obj[y, x : x + bw].any() and obj[y + bh - 1, x : x + bw].any()
        # ... and nothing of the object lies just outside it (or anywhere outside it)
        outside = obj.copy()
        outside[y : y + bh, x : x + bw] = False
        assert not outside.any()


def test_written_jpeg_matches_render(dataset):
    """The file on disk is the rendered image (up to JPEG loss), so the mask describes it."""
    out, coco = dataset
    for im in coco["images"][:5]:
        r = render_image(SEED, im["id"] - 1)
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == im["id"]]
        assert boxes == r.boxes
        data = (out / "images" / im["file_name"]).read_bytes()
        assert data == encode_jpeg(r.image, r.quality)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)
        assert decoded.shape[:2] == r.mask.shape
        # JPEG loss is bounded: high-frequency textures and 4:2:0 chroma cost a few levels
        assert np.abs(decoded - np.asarray(r.image, dtype=np.float32)).mean() < 20


def test_objects_are_visible_in_pixels():
    """Pixels follow the mask: object interiors differ from the image just outside the box."""
    # Compare each annotated object's mean colour with the background ring around its box;
    # over many objects most must differ clearly, or the boxes describe nothing visible.
    diffs = []
    for index in range(8):
        r = render_image(SEED, index)
        px = np.asarray(r.image, dtype=np.float32)
        h, w = r.mask.shape
        for (x, y, bw, bh), label in zip(r.boxes, r.labels):
            inside = px[r.mask == label].mean(axis=0)
            ring = np.zeros((h, w), bool)
            ring[max(y - 2, 0) : y + bh + 2, max(x - 2, 0) : x + bw + 2] = True
            ring[y : y + bh, x : x + bw] = False
            ring &= r.mask == 0
            if ring.sum() >= 10:
                diffs.append(np.abs(inside - px[ring].mean(axis=0)).max())
    assert len(diffs) >= 10
    assert np.median(diffs) > 15


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_images": -1},
        {"seed": -1},
        {"min_side": 300, "max_side": 200},
        {"jpeg_quality_range": (90, 50)},
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs):
    args = {"n_images": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError):
        make_synthetic(tmp_path, args.pop("n_images"), args.pop("seed"), progress=False, **args)

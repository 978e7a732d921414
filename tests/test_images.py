"""Images as annotation tools show them (bbadj/data/images.py): EXIF orientation applied in every
reader, the annotation's size compared with the upright size (with a message naming EXIF when
only the stored size matches), and a damaged JPEG (libjpeg's "Corrupt JPEG data" warnings,
truncation) an error naming the file, made from real copies of a coco128 photograph."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import COCO128_IMAGES, write_coco
from PIL import Image, ImageOps

from bbadj.core.config import DataConfig
from bbadj.data.coco import DataError, load_coco
from bbadj.data.dataset import make_crops
from bbadj.data.images import CorruptImage, check_size, orient, read_rgb

PHOTO = COCO128_IMAGES / "000000000077.jpg"  # 500 x 375


def stored_with_orientation(path, orientation, size=(40, 30)):
    """A W x H picture, black with a white 10 x 10 block at the stored top-left, saved with an
    EXIF orientation tag."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:10, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


# where the stored top-left block is once the picture is upright: (rows, columns) of a 10 x 10 corner
CORNER = {1: "top-left", 3: "bottom-right", 6: "top-right", 8: "bottom-left"}


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_images_are_read_upright_as_tools_show_them(tmp_path, orientation, suffix):
    path = stored_with_orientation(tmp_path / f"o{orientation}{suffix}", orientation)
    img = read_rgb(path)
    upright = (3, 40, 30) if orientation in (6, 8) else (3, 30, 40)
    assert tuple(img.shape) == upright
    h, w = upright[1:]
    corners = {
        "top-left": img[:, :10, :10],
        "top-right": img[:, :10, w - 10 :],
        "bottom-left": img[:, h - 10 :, :10],
        "bottom-right": img[:, h - 10 :, w - 10 :],
    }
    for name, block in corners.items():
        assert (block.float().mean() > 200) == (name == CORNER[orientation]), (name, orientation)
    if suffix == ".png":  # lossless: the very pixels Pillow shows upright
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        assert np.array_equal(img.permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_gpu_paths_orientation_is_torchvisions(tmp_path, orientation):
    """On CUDA the JPEG is decoded by nvjpeg, which ignores the tag; ``orient`` turns it as the
    CPU decoder does (checked here on the CPU: there is no GPU in CI)."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    from bbadj.data.images import exif_orientation

    path = stored_with_orientation(tmp_path / "o.jpg", orientation)
    stored = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    assert exif_orientation(path) == orientation
    assert torch.equal(orient(stored, orientation), read_rgb(path))


def test_the_annotation_size_is_the_upright_size_and_the_error_names_exif(tmp_path):
    path = stored_with_orientation(tmp_path / "a.jpg", 6)  # stored 40 x 30, shown 30 x 40
    img = read_rgb(path)
    check_size(img, 30, 40, path)  # the upright size: fine
    with pytest.raises(
        DataError,
        match=r"a\.jpg: decoded size 30x40 differs from the annotation's 40x30: the file "
        r"has EXIF orientation 6, so annotation tools show it turned upright \(30x40\); "
        r"40x30 is its stored size",
    ):
        check_size(img, 40, 30, path)
    with pytest.raises(DataError, match=r"differs from the annotation's 50x30$"):  # no word of EXIF when it is not that
        check_size(img, 50, 30, path)
    # through the training crops: the boxes are cut from the upright pixels
    ann = write_coco(
        tmp_path / "a.json",
        [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 40}],
        [{"id": 1, "image_id": 1, "bbox": [20, 0, 10, 10], "category_id": 1}],
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    crops = make_crops(
        coco.images,
        np.array([0]),
        coco.images[0].boxes,
        coco.images[0].boxes,
        DataConfig(crop_size=8, buffer_ratio=1.0).geometry,
    )["crops"]
    assert crops.mean() > 1.5, "the white block, top-right once upright"


def damaged_copies(tmp_path):
    """Real damage to a real photograph: a block of its entropy-coded data copied over a later
    part (same size), bytes overwritten with noise, and the file cut in half."""
    data = PHOTO.read_bytes()
    start = data.index(b"\xff\xda") + 2000  # inside the scan, after the start-of-scan marker
    copied = bytearray(data)
    copied[start + 10000 : start + 13000] = data[start : start + 3000]
    noisy = bytearray(data)
    noisy[start : start + 200] = bytes((b * 7 + 3) % 256 for b in data[start : start + 200])
    out = {"copied": bytes(copied), "noisy": bytes(noisy), "truncated": data[: len(data) // 2]}
    for name, content in out.items():
        (tmp_path / f"{name}.jpg").write_bytes(content)
    return {name: tmp_path / f"{name}.jpg" for name in out}


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            "copied",
            r"corrupt image .*copied\.jpg: libjpeg decoded it with a warning \(Corrupt JPEG data: 661 extraneous "
            r"bytes before marker 0xd9\)",
        ),
        (
            "noisy",
            r"corrupt image .*noisy\.jpg: libjpeg decoded it with a warning \(Corrupt JPEG data: premature end of "
            r"data segment\)",
        ),
        ("truncated", r"cannot decode image .*truncated\.jpg: .*Image is incomplete or truncated"),
    ],
)
def test_a_damaged_jpeg_is_an_error_naming_the_file(tmp_path, capfd, damage, message):
    path = damaged_copies(tmp_path)[damage]
    with pytest.raises(CorruptImage, match=message) as e:
        read_rgb(path)
    assert e.value.path == str(path) and isinstance(e.value, DataError)
    os.write(2, b"after\n")  # standard error is back, and libjpeg's line did not reach it
    assert capfd.readouterr().err == "after\n"
    assert read_rgb(PHOTO).shape == (3, 375, 500), "the good photograph still reads"


def test_a_damaged_jpeg_stops_training_and_evaluation_by_name(tmp_path):
    path = damaged_copies(tmp_path)["copied"]
    ann = write_coco(
        tmp_path / "a.json",
        [{"id": 1, "file_name": path.name, "width": 500, "height": 375}],
        [{"id": 1, "image_id": 1, "bbox": [10, 10, 100, 100], "category_id": 1}],
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    with pytest.raises(DataError, match=r"copied\.jpg: libjpeg decoded it with a warning"):
        make_crops(
            coco.images, np.array([0]), coco.images[0].boxes, coco.images[0].boxes, DataConfig(crop_size=8).geometry
        )
    json.loads(ann.read_text())  # the annotations are untouched

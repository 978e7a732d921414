"""The in-repository real photographs: coco128 and its written-down train/val split."""

import json
from pathlib import Path

import pytest

from bbadj.cli.main import main
from bbadj.data.coco import load_coco
from bbadj.data.split import split_by_image

from conftest import COCO128, COCO128_ANN, COCO128_IMAGES


def test_all_128_images_and_929_boxes_are_here():
    assert len(list(COCO128_IMAGES.glob("*.jpg"))) == 128
    coco = load_coco(COCO128_ANN, COCO128_IMAGES, verbose=False)  # also checks every file exists
    assert coco.n_boxes == 929 and len(coco.images) == 126 and coco.skipped["images without usable boxes"] == 2
    readme = (COCO128 / "README.md").read_text()
    assert "Creative Commons Attribution 4.0" in readme and "Flickr" in readme


def test_committed_split_is_the_written_rule(tmp_path):
    """`bbadj split --every 4 --offset 1` (data/coco128/README.md) rewrites both files byte for byte."""
    assert (
        main(
            [
                "split",
                "--annotations",
                str(COCO128_ANN),
                "--train-out",
                str(tmp_path / "train.json"),
                "--val-out",
                str(tmp_path / "val.json"),
                "--every",
                "4",
                "--offset",
                "1",
            ]
        )
        == 0
    )
    for name in ("train.json", "val.json"):
        assert (tmp_path / name).read_bytes() == (COCO128 / "annotations" / name).read_bytes(), name


def test_the_calibration_split_is_the_written_rule(tmp_path):
    """The long tier's held-out calibration boxes: `bbadj split --every 8 --offset 3` of the train
    split (data/coco128/README.md), byte for byte; never a val image."""
    train = COCO128 / "annotations" / "train.json"
    assert (
        main(
            [
                "split",
                "--annotations",
                str(train),
                "--train-out",
                str(tmp_path / "train_fit.json"),
                "--val-out",
                str(tmp_path / "calibration.json"),
                "--every",
                "8",
                "--offset",
                "3",
            ]
        )
        == 0
    )
    for name in ("train_fit.json", "calibration.json"):
        assert (tmp_path / name).read_bytes() == (COCO128 / "annotations" / name).read_bytes(), name
    val = {im["id"] for im in json.loads((COCO128 / "annotations" / "val.json").read_text())["images"]}
    calibration = {im["id"] for im in json.loads((tmp_path / "calibration.json").read_text())["images"]}
    assert len(calibration) == 12 and not calibration & val


def test_split_is_by_image_and_covers_everything():
    full = json.loads(COCO128_ANN.read_text())
    parts = {n: json.loads((COCO128 / "annotations" / f"{n}.json").read_text()) for n in ("train", "val")}
    ids = {n: {im["id"] for im in p["images"]} for n, p in parts.items()}
    assert not ids["train"] & ids["val"] and ids["train"] | ids["val"] == {im["id"] for im in full["images"]}
    for n, p in parts.items():
        assert {a["image_id"] for a in p["annotations"]} <= ids[n]
    assert (len(parts["train"]["annotations"]), len(parts["val"]["annotations"])) == (635, 294)
    assert len(ids["val"]) == 32 and sorted(im["id"] for im in full["images"])[1::4] == sorted(ids["val"])


def test_split_rule_errors():
    with pytest.raises(ValueError, match="every >= 2"):
        split_by_image({"images": [], "annotations": []}, 1, 0)
    with pytest.raises(ValueError, match="offset < every"):
        split_by_image({"images": [], "annotations": []}, 4, 4)


def test_tests_and_ci_do_not_read_outside_the_repository():
    """A plain clone passes its tests: nothing here points at ../shared."""
    root = Path(__file__).resolve().parents[1]
    for path in [
        *root.glob("tests/*.py"),
        *root.glob("bbadj/**/*.py"),
        root / ".ci" / "run",
        root / "Makefile",
        root / "params.yaml",
        root / "dvc.yaml",
    ]:
        if path.name == Path(__file__).name:
            continue
        assert "../shared" not in path.read_text() and "REFERENCE.md" not in path.read_text(), path

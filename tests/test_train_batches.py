"""Training batches: a second source mixed into every batch, left-right mirroring, and the
determinism both keep (a step's data depends on the seed and the step only)."""

import numpy as np
import pytest
import torch

from bbadj.core.config import Config, DataConfig, MixConfig
from bbadj.data.coco import load_coco
from bbadj.data.dataset import TrainBatches, make_crops


@pytest.fixture(scope="module")
def two_sets(tiny_synth):
    a = load_coco(tiny_synth / "train/annotations.json", tiny_synth / "train/images", verbose=False)
    b = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    return a, b


def test_mix_takes_its_share_of_every_batch_from_the_second_source(two_sets):
    a, b = two_sets
    cfg = DataConfig(crop_size=16, mix=MixConfig("x.json", "x", fraction=0.25))
    data = TrainBatches(a, cfg, batch_size=8, seed=0, mix=b)
    a_boxes = {tuple(x) for r in a.images for x in r.boxes}
    b_boxes = {tuple(x) for r in b.images for x in r.boxes}
    for step in (0, 1, len(data) + 3):  # later epochs too
        gt = data[step]["gt"].numpy()
        assert all(tuple(x) in a_boxes for x in gt[:6]) and all(tuple(x) in b_boxes for x in gt[6:])
    # the first source keeps the batches of a run without mixing, only fewer boxes of them
    plain = TrainBatches(a, DataConfig(crop_size=16), batch_size=6, seed=0)
    assert torch.equal(data[0]["jittered"][:6], plain[0]["jittered"])
    assert len(data) == len(plain)  # an epoch is a pass over the first source
    assert torch.equal(data[5]["crops"], TrainBatches(a, cfg, batch_size=8, seed=0, mix=b)[5]["crops"])


def test_mix_needs_its_data_set(two_sets):
    a, _ = two_sets
    with pytest.raises(ValueError, match="no mix data set"):
        TrainBatches(a, DataConfig(mix=MixConfig("x.json", "x", fraction=0.5)), batch_size=4, seed=0)


def test_mirroring_swaps_left_and_right_targets(two_sets):
    a, _ = two_sets
    S = 16
    plain = TrainBatches(a, DataConfig(crop_size=S, hflip=0.0), batch_size=8, seed=0)[3]
    flipped = TrainBatches(a, DataConfig(crop_size=S, hflip=0.5), batch_size=8, seed=0)[3]
    rows = ~torch.isclose(plain["crops"], flipped["crops"]).flatten(1).all(1)
    assert 0 < rows.sum() < 8  # about half of the batch, drawn per step
    assert torch.equal(flipped["crops"][rows], plain["crops"][rows].flip(-1))
    p, q = plain["positions"][rows], flipped["positions"][rows]
    assert torch.equal(q[:, :2], p[:, :2])  # top and bottom unchanged
    assert torch.allclose(q[:, 2], (S - 1) - p[:, 3]) and torch.allclose(q[:, 3], (S - 1) - p[:, 2])
    assert torch.equal(flipped["positions"][~rows], plain["positions"][~rows])


def test_a_mirrored_crop_is_the_crop_of_the_mirrored_image(tmp_path):
    """What mirroring claims: the targets of a mirrored crop are those of the mirrored scene."""
    from PIL import Image

    from conftest import write_coco

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    for arr, name in ((img, "a.png"), (img[:, ::-1], "b.png")):
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp_path / name)
    box = np.array([[12.0, 8.0, 31.0, 30.0]])
    mirrored_box = np.array([[60 - 31.0, 8.0, 60 - 12.0, 30.0]])
    ann = write_coco(
        tmp_path / "x.json",
        [{"id": i, "file_name": n, "width": 60, "height": 40} for i, n in ((1, "a.png"), (2, "b.png"))],
        [{"id": 1, "image_id": 1, "bbox": [12, 8, 19, 22]}, {"id": 2, "image_id": 2, "bbox": [29, 8, 19, 22]}],
    )
    coco = load_coco(ann, tmp_path, verbose=False)
    cfg = DataConfig(crop_size=24)
    a = make_crops(coco.images, np.array([0]), box, box + 1.5, cfg.geometry)
    b = make_crops(coco.images, np.array([1]), mirrored_box, mirrored_box + [[-1.5, 1.5, -1.5, 1.5]], cfg.geometry)
    from bbadj.data.dataset import mirror

    mirror(a, torch.tensor([True]))
    assert torch.allclose(a["crops"], b["crops"], atol=1e-4)  # float rounding in roi_align
    assert torch.allclose(a["positions"], b["positions"], atol=1e-4)


def test_init_from_starts_from_another_runs_weights(tiny_synth, tmp_path):
    from bbadj.model.checkpoint import init_weights
    from bbadj.train.engine import train
    from bbadj.model import build_model

    base = Config().with_overrides(
        {
            "data": {
                "train_annotations": str(tiny_synth / "train/annotations.json"),
                "train_images": str(tiny_synth / "train/images"),
                "crop_size": 32,
                "num_workers": 0,
            },
            "model": {"hidden": 16},
            "train": {"batch_size": 4, "max_steps": 2, "warmup_steps": 1, "device": "cpu", "lr": 0.0},
        }
    )
    train(base, tmp_path / "a", progress=False)
    # lr 0: the second run's weights are exactly the first run's
    tuned = base.with_overrides({"model": {"init_from": str(tmp_path / "a" / "model.pt")}, "train": {"seed": 7}})
    train(tuned, tmp_path / "b", progress=False)
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point() and "running" not in k)
    with pytest.raises(RuntimeError, match="do not fit this model"):
        init_weights(
            build_model(base.model.__class__(fusion="fpn", hidden=16), DataConfig(crop_size=32).geometry),
            tmp_path / "a" / "model.pt",
        )
    with pytest.raises(FileNotFoundError, match="model.init_from: checkpoint not found"):
        init_weights(build_model(base.model, DataConfig(crop_size=32).geometry), tmp_path / "nope.pt")


def test_prepared_images_are_kept_within_their_budget(two_sets, monkeypatch):
    """Training decodes and normalises each image once while it fits data.image_cache_mb, least
    recently used out first; the batches are the same with the cache as without it."""
    import bbadj.data.dataset as dataset
    from bbadj.data.coco import ImageRecord

    coco = two_sets[0]
    plain = TrainBatches(coco, DataConfig(image_cache_mb=0), 8, seed=0)
    cached = TrainBatches(coco, DataConfig(image_cache_mb=64), 8, seed=0)
    for step in range(3):
        assert torch.equal(plain[step]["crops"], cached[step]["crops"])
    prepared = []
    monkeypatch.setattr(
        dataset, "prepared_image", lambda rec, g, device="cpu": prepared.append(rec.path) or torch.zeros(3, 64, 64)
    )
    images = dataset.PreparedImages(max_mb=2 * 3 * 64 * 64 * 4 / 2**20)  # room for two 64 x 64 float images
    g = DataConfig().geometry
    for path in ["a", "b", "a", "c", "a", "b"]:
        images(ImageRecord(0, path, 64, 64, np.zeros((0, 4)), np.zeros(0)), g)
    assert prepared == ["a", "b", "c", "b"]  # a kept (recently used), b pushed out by c, then read again
    assert [k[0] for k in images.kept] == ["a", "b"] and images.bytes == 2 * 3 * 64 * 64 * 4

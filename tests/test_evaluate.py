"""Evaluation with a model: pooling crops of several images into one batch, or scoring several models
on the same crops, changes nothing."""

import numpy as np
import pytest
import torch

from bbadj.core.config import Config, DataConfig
from bbadj.data.coco import load_coco
from bbadj.scoring.evaluate import evaluate, score, score_each
from bbadj.scoring.metrics import METRIC_KEYS
from bbadj.model import build_model


def test_batching_across_images_gives_the_same_metrics(tiny_synth, tmp_path):
    cfg = Config().with_overrides({"data": {"crop_size": 32}, "model": {"hidden": 16}})
    torch.manual_seed(0)
    model = build_model(cfg.model, DataConfig(crop_size=32).geometry).eval()
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    one = evaluate(
        coco,
        cfg.with_overrides({"eval": {"batch_size": 1}}),
        model,
        repeats=2,
        progress=False,
        per_box_csv=tmp_path / "one.csv",
    )
    many = evaluate(
        coco,
        cfg.with_overrides({"eval": {"batch_size": 64}}),
        model,
        repeats=2,
        progress=False,
        per_box_csv=tmp_path / "many.csv",
    )
    for key in METRIC_KEYS:
        assert many[key] == pytest.approx(one[key], abs=1e-6), key  # conv kernels differ by batch size in the last bits
    identity = evaluate(coco, cfg, None, repeats=2, progress=False)
    assert identity["n_boxes"] == many["n_boxes"] == coco.n_boxes
    assert (tmp_path / "one.csv").read_text().splitlines()[0] == (tmp_path / "many.csv").read_text().splitlines()[0]


def test_evaluation_cuts_the_models_crops_with_one_override(tiny_synth):
    """The crops come from the model's geometry whatever the evaluation config says; the buffer
    ratio given to evaluate() is the one thing that changes them."""
    torch.manual_seed(0)
    model = build_model(Config().model.__class__(hidden=16), DataConfig(crop_size=32, buffer_ratio=1.3).geometry).eval()
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    ours = Config().with_overrides({"data": {"crop_size": 64, "buffer_ratio": 1.0, "mean": [0.0, 0.0, 0.0]}})
    a = evaluate(coco, ours, model, repeats=1, progress=False)
    b = evaluate(coco, Config(), model, repeats=1, progress=False)
    assert a == b  # the config's crop size, buffer ratio and normalisation are not the model's: unused
    c = evaluate(coco, Config(), model, repeats=1, progress=False, buffer_ratio=1.0)
    assert c != a
    assert model.geometry.buffer_ratio == 1.3  # the override does not change the model


def test_a_rows_seeds_scored_together_give_each_seeds_own_boxes(tiny_synth):
    """``score_each`` cuts each draw's crops once for all the models; every model's result and per-box
    table is exactly the one it gets alone, in the models' order, with two passes too."""
    geometry = DataConfig(crop_size=32).geometry
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(build_model(Config().model.__class__(hidden=16), geometry).eval())
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    for cfg in (Config(), Config().with_overrides({"eval": {"passes": 2}})):
        together = score_each(coco, cfg, models, repeats=2, progress=False, per_box=True)
        for model, (result, table) in zip(models, together, strict=True):
            alone, alone_table = score(coco, cfg, model, repeats=2, progress=False, per_box=True)
            assert result == alone
            assert table.keys() == alone_table.keys()
            for column in table:
                np.testing.assert_array_equal(table[column], alone_table[column], err_msg=column)
        assert together[0][0] != together[1][0]  # two different models, not one scored twice
    other = build_model(Config().model.__class__(hidden=16), DataConfig(crop_size=48).geometry).eval()
    with pytest.raises(ValueError, match="different crops"):
        score_each(coco, Config(), [models[0], other], repeats=1, progress=False)

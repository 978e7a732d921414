"""Evaluation with a model: pooling crops of several images into one batch changes nothing."""
import dataclasses

import pytest
import torch

from bbadj.config import Config
from bbadj.data.coco import load_coco
from bbadj.evaluate import evaluate, evaluation_config
from bbadj.metrics import METRIC_KEYS
from bbadj.model import build_model


def test_batching_across_images_gives_the_same_metrics(tiny_synth, tmp_path):
    cfg = Config().with_overrides({"data": {"crop_size": 32}, "model": {"hidden": 16}})
    torch.manual_seed(0)
    model = build_model(cfg.model, 32).eval()
    coco = load_coco(tiny_synth / "val/annotations.json", tiny_synth / "val/images", verbose=False)
    one = evaluate(coco, cfg.with_overrides({"eval": {"batch_size": 1}}), model, repeats=2, progress=False,
                   per_box_csv=tmp_path / "one.csv")
    many = evaluate(coco, cfg.with_overrides({"eval": {"batch_size": 64}}), model, repeats=2, progress=False,
                    per_box_csv=tmp_path / "many.csv")
    for key in METRIC_KEYS:
        assert many[key] == pytest.approx(one[key], abs=1e-6), key  # conv kernels differ by batch size in the last bits
    identity = evaluate(coco, cfg, None, repeats=2, progress=False)
    assert identity["n_boxes"] == many["n_boxes"] == coco.n_boxes
    assert (tmp_path / "one.csv").read_text().splitlines()[0] == (tmp_path / "many.csv").read_text().splitlines()[0]


def test_evaluation_config_keeps_the_models_geometry_and_takes_the_callers_evaluation():
    trained = Config().with_overrides({"data": {"crop_size": 48, "buffer_ratio": 1.3, "mean": [0.5, 0.5, 0.5],
                                                "jitter": {"shift": 0.1}},
                                       "model": {"fusion": "fpn"},
                                       "eval": {"sets": {"old": {"annotations": "old/val.json", "images": "old"}}}})
    new_sets = {"new": {"annotations": "new/val.json", "images": "new/images"}}
    here = Config().with_overrides({"data": {"crop_size": 64, "buffer_ratio": 1.0, "jitter": {"shift": 0.2, "scale": 0.05},
                                             "min_box_size": 4.0, "num_workers": 0},
                                    "eval": {"decoding": "argmax", "repeats": 3}})
    here = dataclasses.replace(here, eval=dataclasses.replace(here.eval, sets=new_sets))
    cfg = evaluation_config(trained, here)
    assert (cfg.data.crop_size, cfg.data.buffer_ratio, list(cfg.data.mean), cfg.model.fusion) == (48, 1.3, [0.5] * 3, "fpn")
    assert cfg.eval.sets == new_sets  # the caller's sets only: not merged with the ones the model was trained beside
    assert (cfg.data.jitter.shift, cfg.data.jitter.scale, cfg.data.min_box_size, cfg.data.num_workers) == (0.2, 0.05, 4.0, 0)
    assert (cfg.eval.decoding, cfg.eval.repeats) == ("argmax", 3)

"""err_px's scale fitted on held-out boxes (bbadj/scoring/calibration.py): the stored number is the mean
observed error over the mean expected one, and every reader of the model then scales by it."""

import shutil

import numpy as np
import pytest
import torch

from bbadj.core.box_ops import COORDS, EDGE_COORDS
from bbadj.scoring.calibration import calibrate
from bbadj.model.checkpoint import load_model, read_checkpoint
from bbadj.core.config import Config
from bbadj.data.dataset import draw_eval_jitter, load_boxes
from bbadj.snap.adjust import adjust, adjust_boxes
from conftest import COCO128, COCO128_IMAGES

CALIBRATION = {
    "annotations": str(COCO128 / "annotations" / "calibration.json"),
    "images": str(COCO128_IMAGES),
    "draws": 2,
}


def test_the_scale_is_observed_over_expected_and_every_reader_applies_it(checkpoint, tmp_path):
    path = tmp_path / "model.pt"
    shutil.copy(checkpoint, path)
    cfg = Config.from_dict(read_checkpoint(path)["config"]).with_overrides({"data": {"calibration": CALIBRATION}})
    assert calibrate(path, Config.from_dict(read_checkpoint(path)["config"])) is None  # no calibration set: no-op
    fit = calibrate(path, cfg)

    model = load_model(checkpoint)  # the same weights, not calibrated: recompute what the fit saw
    coco = load_boxes(CALIBRATION["annotations"], CALIBRATION["images"], cfg.data, verbose=False)
    gt = torch.as_tensor(coco.all_boxes())[:, [COORDS.index(c) for c in EDGE_COORDS.values()]]
    obs, exp = [], []
    for k in range(2):
        pred, _, err = adjust_boxes(
            coco, draw_eval_jitter(coco, cfg.data, cfg.eval.seed, k), cfg, model, model.geometry, progress=False
        )
        obs.append((pred[:, [1, 3, 0, 2]] - gt).abs().numpy())  # top, bottom, left, right: y0, y1, x0, x1
        exp.append(err.numpy())
    assert fit["edges"] == 2 * 4 * coco.n_boxes == np.size(obs)
    assert fit["err_scale"] == pytest.approx(np.mean(obs) / np.mean(exp), rel=1e-9)

    calibrated = load_model(path)
    assert calibrated.err_scale == fit["err_scale"] and model.err_scale == 1.0
    assert read_checkpoint(path)["calibration"]["annotations"] == CALIBRATION["annotations"]
    image, box = COCO128_IMAGES / "000000000077.jpg", [[50.0, 60.0, 300.0, 400.0]]
    raw, scaled = adjust(image, box, model)["err_px"], adjust(image, box, calibrated)["err_px"]
    assert np.allclose(scaled, raw * fit["err_scale"])

"""err_px made to mean what it says: after training, its scale is fitted on held-out boxes of the
training photographs (``data.calibration``), never on an evaluation set. A model trained long on a
few hundred boxes learns them too well: its edge distributions grow sharper than its errors on new
boxes (on coco128's val split, 0.65 to 0.75 of the observed error for the long tier's recipe), and
on the boxes it trained on its errors are smaller still, so they cannot tell. One number (the mean
observed absolute edge error over the mean expected one, over several jitter draws) is what a
dozen held-out photographs can fit; it keeps the ranking of the edges as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.box_ops import EDGE_COORDS, COORDS
from ..model.checkpoint import load_model, read_checkpoint, save_atomic
from ..core.config import Config
from ..data.dataset import draw_eval_jitter, load_boxes
from ..snap.adjust import adjust_boxes

_EDGE_COLUMNS = [COORDS.index(c) for c in EDGE_COORDS.values()]  # EDGES order from a box's coordinates


def fit_err_scale(model, cfg: Config, progress: bool = False) -> dict:
    """The scale and what it was fitted on: ``model``'s mean absolute edge error over its mean
    err_px, on ``cfg.data.calibration``'s boxes in ``draws`` jitter draws (``eval.seed``)."""
    c = cfg.data.calibration
    coco = load_boxes(c.annotations, c.images, cfg.data, verbose=False)
    model.err_scale = 1.0
    gt = torch.as_tensor(coco.all_boxes())[:, _EDGE_COLUMNS]
    observed, expected = [], []
    for k in range(c.draws):
        pred, _, err_px = adjust_boxes(
            coco,
            draw_eval_jitter(coco, cfg.data, cfg.eval.seed, k),
            cfg,
            model,
            model.geometry,
            progress,
            f"calibrate draw {k + 1}/{c.draws}",
        )
        observed.append((pred[:, _EDGE_COLUMNS] - gt).abs().numpy())
        expected.append(err_px.numpy())
    obs, exp = float(np.mean(observed)), float(np.mean(expected))
    return {
        "err_scale": obs / exp,
        "observed_px": obs,
        "expected_px": exp,
        "edges": int(np.size(observed)),
        "annotations": c.annotations,
    }


def calibrate(model_path: str | Path, cfg: Config, progress: bool = False) -> dict | None:
    """Fit the err_px scale of the model at ``model_path`` (a ``model.pt``) and store it in the file
    (``err_scale``, with what it was fitted on under ``calibration``); nothing without
    ``data.calibration``. Returns what was stored."""
    if not cfg.data.calibration.annotations:
        return None
    fit = fit_err_scale(load_model(model_path), cfg, progress)
    ckpt = read_checkpoint(model_path, "model")
    save_atomic({**ckpt, "err_scale": fit["err_scale"], "calibration": fit}, model_path)
    return fit

"""Evaluation with the paper's metrics in original-image pixels, averaged over jitter draws.

The draws depend only on (seed, repeat), so the identity row and any checkpoint see the
same jittered boxes and compare box by box.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..core.box_ops import COORDS, EDGES
from ..core.config import Config
from ..data.coco import CocoBoxes
from ..data.dataset import draw_eval_jitter
from .metrics import metric_keys, per_box_errors, summarize
from ..snap.adjust import adjust_boxes_each
from ..util.errors import ConfigError
from ..util.outputs import named_columns, write_csv

# predict(coco, jittered boxes per image, cfg, desc) -> (boxes (N, 4), confidences (N, 4), expected errors (N, 4) px)
Predictor = Callable[[CocoBoxes, list, Config, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def evaluate(
    coco: CocoBoxes,
    cfg: Config,
    model=None,
    *,
    repeats: int | None = None,
    seed: int | None = None,
    buffer_ratio: float | None = None,
    progress: bool = True,
    per_box_csv: str | Path | None = None,
    predict: Predictor | None = None,
) -> dict:
    """Score ``model`` (or ``predict``, or with neither the jittered boxes themselves: the
    identity row) on ``coco``. Returns ``{"n_boxes", "repeats", <every metric_keys()>}``:
    fractions in 0..1, each the mean over ``repeats`` draws.

    ``cfg`` gives the evaluation: its ``eval`` section, the jitter and the loader workers. The
    crops are the model's own (``model.geometry``), with ``buffer_ratio``, where given, as the
    one thing evaluation may change in them (the crop at test time). ``per_box_csv``: one line per
    draw and box (``score``'s table) written there."""
    result, table = score(
        coco,
        cfg,
        model,
        repeats=repeats,
        seed=seed,
        buffer_ratio=buffer_ratio,
        progress=progress,
        per_box=per_box_csv is not None,
        predict=predict,
    )
    if per_box_csv is not None:
        write_csv(per_box_csv, table)
    return result


def score(
    coco: CocoBoxes,
    cfg: Config,
    model=None,
    *,
    repeats: int | None = None,
    seed: int | None = None,
    buffer_ratio: float | None = None,
    progress: bool = True,
    per_box: bool = False,
    predict: Predictor | None = None,
) -> tuple[dict, dict[str, np.ndarray] | None]:
    """``evaluate``'s result, and with ``per_box`` its per-box table (column -> values, one per draw
    and box; None without)."""
    return score_each(
        coco,
        cfg,
        [model],
        repeats=repeats,
        seed=seed,
        buffer_ratio=buffer_ratio,
        progress=progress,
        per_box=per_box,
        predict=predict,
    )[0]


def score_each(
    coco: CocoBoxes,
    cfg: Config,
    models: list,
    *,
    repeats: int | None = None,
    seed: int | None = None,
    buffer_ratio: float | None = None,
    progress: bool = True,
    per_box: bool = False,
    predict: Predictor | None = None,
) -> list[tuple[dict, dict[str, np.ndarray] | None]]:
    """``score`` of each of ``models`` (a row's seeds), in their order, on the same draws: each
    draw's images are decoded and cropped once for all of them (``adjust_boxes_each``), so they
    must cut the same crops. ``[None]``: the identity row, or ``predict``'s."""
    repeats = cfg.eval.repeats if repeats is None else repeats
    seed = cfg.eval.seed if seed is None else seed
    if repeats < 1 or seed < 0:
        raise ConfigError(
            f"evaluation needs repeats >= 1 and seed >= 0 (--repeats, --seed; eval.repeats, eval.seed), "
            f"got {repeats} and {seed}"
        )
    if None in models and len(models) > 1:
        raise ValueError("score_each: a model or None (the identity row, or predict's), not both")
    geometries = {m.geometry.with_buffer_ratio(buffer_ratio) for m in models if m is not None}
    if len(geometries) > 1:
        raise ValueError(f"score_each: the models cut different crops ({sorted(map(str, geometries))})")
    geometry = next(iter(geometries), None)
    gt = torch.as_tensor(coco.all_boxes())
    rows, per_draw = [[] for _ in models], [[] for _ in models]
    for k in range(repeats):
        jittered = draw_eval_jitter(coco, cfg.data, seed, k)
        desc = f"evaluate draw {k + 1}/{repeats}"
        if predict is not None:
            outs = [predict(coco, jittered, cfg, desc)]
        elif models == [None]:
            outs = [(torch.as_tensor(np.concatenate(jittered)), *no_confidence(len(gt)))]
        else:
            outs = adjust_boxes_each(coco, jittered, cfg, models, geometry, progress, desc)
        for (pred, conf, err_px), kept, draws in zip(outs, rows, per_draw, strict=True):
            errors = per_box_errors(pred, gt)
            draws.append(summarize(errors))
            if per_box:
                kept.append((k, np.concatenate(jittered), pred.numpy(), conf.numpy(), err_px.numpy(), errors))
    results = []
    for kept, draws in zip(rows, per_draw):
        result = {"n_boxes": len(gt), "repeats": repeats}
        result.update({key: float(np.mean([d[key] for d in draws])) for key in metric_keys()})
        results.append((result, _per_box_table(coco, gt.numpy(), kept) if per_box else None))
    return results


def no_confidence(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-edge confidences and expected errors of a row that has none (identity, GrabCut): NaN."""
    return torch.full((n, 4), float("nan")), torch.full((n, 4), float("nan"), dtype=torch.float64)


def _per_box_table(coco: CocoBoxes, gt: np.ndarray, rows) -> dict[str, np.ndarray]:
    """The per-box CSV's columns, one row per (draw, box): ids, true/jittered/adjusted boxes,
    per-edge confidence and expected error in pixels (``err_px_<edge>``), and the measured errors."""
    image_ids, ann_ids = coco.box_ids()
    parts = []
    for k, jit, pred, conf, err_px, err in rows:
        parts.append(
            {
                "repeat": np.full(len(gt), k),
                "image_id": image_ids,
                "ann_id": ann_ids,
                **named_columns("gt", gt, COORDS),
                **named_columns("jit", jit, COORDS),
                **named_columns("adj", pred, COORDS),
                **named_columns("conf", conf, EDGES),
                **named_columns("err_px", err_px, EDGES),
                "iou": err["iou"].numpy(),
                **named_columns("err", err["edge_err"].numpy(), COORDS),
                "max_corner_err": err["corner_err"].max(dim=1).values.numpy(),
            }
        )
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

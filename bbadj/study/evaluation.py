"""The evaluate stage: one experiment scored on the validation set, and the per-box CSV it
writes (one line per jitter draw and box), read back by the report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .experiments import PARAMS, StudyError, experiment_config, model_experiment, preflight


# per-edge columns of the per-box CSV: edge -> (adjusted, true) coordinate
EDGE_COLUMNS = {"top": "y0", "bottom": "y1", "left": "x0", "right": "x1"}


def evaluate_experiment(name: str, params_path: str | Path = PARAMS, runs_dir: str | Path = "runs",
                        metrics_dir: str | Path = "reports/metrics", per_box_dir: str | Path = "reports/per_box",
                        progress: bool = False) -> dict:
    """Evaluate experiment ``name`` on the val set: ``metrics_dir/name.json`` (the keys of
    ``bbadj evaluate``) and ``per_box_dir/name.csv`` (one line per draw and box)."""
    from ..checkpoint import load_model
    from ..data.coco import load_coco
    from ..engine import resolve_device
    from ..evaluate import evaluate, evaluation_config

    cfg = experiment_config(params_path, name)
    preflight(cfg, "val")
    model = load_model(Path(runs_dir) / model_experiment(params_path, name) / "model.pt",
                       resolve_device(cfg.eval.device))
    if model.config.data.crop_size != cfg.data.crop_size:
        raise StudyError(f"{name}: the model was trained at crop_size {model.config.data.crop_size}, "
                         f"params say {cfg.data.crop_size}; rerun its training stage")
    d = cfg.data
    ecfg = evaluation_config(model.config, cfg)
    coco = load_coco(d.val_annotations, d.val_images, skip_crowd=d.skip_crowd, min_box_size=d.min_box_size)
    result = evaluate(coco, ecfg, model, buffer_ratio=d.buffer_ratio, progress=progress,
                      per_box_csv=Path(per_box_dir) / f"{name}.csv")
    out = Path(metrics_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def load_per_box(path: str | Path):
    import pandas as pd

    return pd.read_csv(path)


def box_values(df) -> "Any":
    """Per box (rows: ann_id, sorted), the six metrics averaged over the jitter draws, as
    fractions: the mean of a column over boxes is the metric (every draw has every box).
    The per-box quantities come from ``bbadj.metrics``, as in ``bbadj evaluate``."""
    import pandas as pd

    from ..metrics import per_box_errors

    c = ("x0", "y0", "x1", "y1")
    e = per_box_errors(df[[f"adj_{k}" for k in c]].to_numpy(), df[[f"gt_{k}" for k in c]].to_numpy())
    iou, edge, corner = (e[k].numpy() for k in ("iou", "edge_err", "corner_err"))
    v = pd.DataFrame({
        "ann_id": df["ann_id"].to_numpy(),
        "miou": iou, "iou_gt_90": (iou > 0.9).astype(float),
        "edge_lt_1px": (edge < 1).mean(1), "edge_lt_3px": (edge < 3).mean(1),
        "corner_lt_1px": (corner < 1).mean(1), "corner_lt_3px": (corner < 3).mean(1),
    })
    return v.groupby("ann_id").mean().sort_index()


def signed_edge_errors(df, which: str = "adj"):
    """Long DataFrame (edge, error) of signed ``which`` - true edge, in pixels (``which``: adj | jit).
    Positive: the edge lies right of / below the true one."""
    import pandas as pd

    parts = [pd.DataFrame({"edge": e, "error": df[f"{which}_{c}"] - df[f"gt_{c}"]}) for e, c in EDGE_COLUMNS.items()]
    return pd.concat(parts, ignore_index=True)


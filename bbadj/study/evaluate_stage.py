"""The evaluate stage: one experiment (or the identity row, or GrabCut) scored on every
validation set, and the per-box CSVs it writes (one line per jitter draw and box), read back by
the report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .experiments import (GRABCUT, IDENTITY, PARAMS, StudyError, experiment_config, load_params, model_experiment,
                          preflight)


# per-edge columns of the per-box CSV: edge -> (adjusted, true) coordinate
EDGE_COLUMNS = {"top": "y0", "bottom": "y1", "left": "x0", "right": "x1"}


def grabcut_config(params_path: str | Path = PARAMS):
    """The ``grabcut`` section of params as a ``GrabCutConfig``."""
    from ..config import build_dataclass
    from ..grabcut import GrabCutConfig

    return build_dataclass(GrabCutConfig, load_params(params_path).get(GRABCUT), GRABCUT)


def evaluate_experiment(name: str, params_path: str | Path = PARAMS, runs_dir: str | Path = "runs",
                        metrics_dir: str | Path = "reports/metrics", per_box_dir: str | Path = "reports/per_box",
                        progress: bool = False) -> dict[str, dict]:
    """Score ``name`` (an experiment, ``identity`` or ``grabcut``) on every set of
    ``eval.sets``: ``metrics_dir/name.json`` holds ``{set: <the keys of bbadj evaluate>}`` and
    ``per_box_dir/name/<set>.csv`` one line per draw and box (and ``run.json``, its device and
    duration). Every row sees the same draws."""
    import time

    from ..data.dataset import load_boxes
    from ..device import resolve_device
    from ..evaluate import evaluate, no_confidence
    from .provenance import write_run_record

    started = time.time()
    cfg = experiment_config(params_path, name, runs_dir)
    preflight(cfg, "val")
    device = resolve_device(cfg.eval.device)
    model, predict, fallbacks = None, None, []
    if name == GRABCUT:
        from ..grabcut import predict_grabcut

        gcfg = grabcut_config(params_path)

        def predict(coco, jittered, _cfg, desc):
            boxes, n = predict_grabcut(coco, jittered, gcfg, progress, desc)
            fallbacks.append(n)
            return boxes, *no_confidence(len(boxes))
    elif name != IDENTITY:
        from ..checkpoint import load_model

        model = load_model(Path(runs_dir) / model_experiment(params_path, name) / "model.pt", device)
        if model.geometry.crop_size != cfg.data.crop_size:
            raise StudyError(f"{name}: the model was trained at crop_size {model.geometry.crop_size}, "
                             f"params say {cfg.data.crop_size}; rerun its training stage")
    d = cfg.data
    results = {}
    for set_name in cfg.eval.sets:
        coco = load_boxes(*cfg.eval.set_paths(set_name), d)
        fallbacks.clear()
        # the buffer ratio of the params: the model's own, or an eval-only variant's at test time
        results[set_name] = evaluate(coco, cfg, model, buffer_ratio=cfg.data.buffer_ratio, progress=progress,
                                     per_box_csv=Path(per_box_dir) / name / f"{set_name}.csv", predict=predict)
        if name == GRABCUT:  # boxes where GrabCut found no foreground and the jittered box stands
            results[set_name]["fallback_rate"] = sum(fallbacks) / (results[set_name]["n_boxes"] * len(fallbacks))
    out = Path(metrics_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    write_run_record(Path(per_box_dir) / name, device, started)
    return results


def load_per_box(path: str | Path):
    import pandas as pd

    return pd.read_csv(path)


def box_values(df) -> "Any":
    """Per box (rows: ann_id, sorted), the six metrics averaged over the jitter draws, as
    fractions: the mean of a column over boxes is the metric (every draw has every box).
    The per-box quantities come from ``bbadj.metrics``, as in ``bbadj evaluate``."""
    import pandas as pd

    from ..metrics import per_box_errors, per_box_metrics

    c = ("x0", "y0", "x1", "y1")
    e = per_box_errors(df[[f"adj_{k}" for k in c]].to_numpy(copy=True), df[[f"gt_{k}" for k in c]].to_numpy(copy=True))
    v = pd.DataFrame({"ann_id": df["ann_id"].to_numpy(), **{k: t.numpy() for k, t in per_box_metrics(e).items()}})
    return v.groupby("ann_id").mean().sort_index()


def signed_edge_errors(df, which: str = "adj"):
    """Long DataFrame (edge, error) of signed ``which`` - true edge, in pixels (``which``: adj | jit).
    Positive: the edge lies right of / below the true one."""
    import pandas as pd

    parts = [pd.DataFrame({"edge": e, "error": df[f"{which}_{c}"] - df[f"gt_{c}"]}) for e, c in EDGE_COLUMNS.items()]
    return pd.concat(parts, ignore_index=True)


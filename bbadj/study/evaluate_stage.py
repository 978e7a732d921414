"""The evaluate stage: one row of the study (a model, the identity row or GrabCut) scored on
every held-out set, and the per-box CSVs it writes (one line per jitter draw and box), which the
report reads back (``bbadj.report.per_box``)."""
from __future__ import annotations

from pathlib import Path

from ..core.box_ops import COORDS
from ..scoring.metrics import box_metrics, metric_keys, pct
from ..core.params import GRABCUT, IDENTITY, Params
from ..util.outputs import write_json
from .preflight import StudyError, preflight


def evaluate_row(params: Params, name: str, runs_dir: str | Path | None = None, metrics_dir: str | Path | None = None,
                 per_box_dir: str | Path | None = None, progress: bool = False) -> dict[str, dict]:
    """Score row ``name`` on every set of ``eval.sets``: ``per_box_dir/name/<set>.csv`` holds one
    line per draw and box (and ``run.json``, the stage's device and duration), and
    ``metrics_dir/name/<set>.json`` the six metrics in percent under short keys (``metric_file``),
    what DVC's views show. The folders default to the tier's (``runs``, ``reports/metrics``,
    ``reports/per_box``; under ``runs/long``, ``reports/long`` for the long tier). Every row sees
    the same draws. Returns ``{set: <bbadj evaluate's keys>}``."""
    import time

    from ..data.dataset import load_boxes
    from ..util.device import resolve_device
    from ..scoring.evaluate import evaluate, no_confidence
    from .provenance import write_run_record

    started = time.time()
    runs_dir = Path(runs_dir or params.folders.runs)
    metrics_dir = Path(metrics_dir or params.folders.reports / "metrics")
    per_box_dir = Path(per_box_dir or params.folders.reports / "per_box")
    row = params[name]
    cfg = row.config
    preflight(cfg, "val")
    device = resolve_device(cfg.eval.device)
    model, predict = None, None
    if name == GRABCUT:
        from ..scoring.grabcut import predict_grabcut

        def predict(coco, jittered, _cfg, desc):
            boxes, _ = predict_grabcut(coco, jittered, params.grabcut, progress, desc)
            return boxes, *no_confidence(len(boxes))
    elif name != IDENTITY:
        from ..model.checkpoint import load_model

        model = load_model(Path(runs_dir) / row.model_of / "model.pt", device)
        if model.geometry.crop_size != cfg.data.crop_size:
            raise StudyError(f"{name}: the model was trained at crop_size {model.geometry.crop_size}, "
                             f"params say {cfg.data.crop_size}; rerun its training stage")
    d = cfg.data
    results = {}
    for set_name in cfg.eval.sets:
        coco = load_boxes(*cfg.eval.set_paths(set_name), d)
        # the buffer ratio of the params: the model's own, or an eval-only row's at test time
        per_box_csv = Path(per_box_dir) / name / f"{set_name}.csv"
        results[set_name] = evaluate(coco, cfg, model, buffer_ratio=cfg.data.buffer_ratio,
                                     progress=progress, per_box_csv=per_box_csv, predict=predict)
        write_json(Path(metrics_dir) / name / f"{set_name}.json", metric_file(per_box_csv))
    write_run_record(Path(per_box_dir) / name, device, started)
    return results


def metric_file(per_box_csv: str | Path) -> dict[str, float]:
    """The metric file of a per-box file (docs/package.md): every metric in percent (``pct``),
    computed from the per-box file as written, as the report computes it (the mean over seeds of
    each seed's mean over its lines), so that the two round one number once and agree to the
    decimal. A file without a ``seed`` column holds seed 0."""
    import pandas as pd

    df = pd.read_csv(per_box_csv)
    seeds = df["seed"] if "seed" in df else pd.Series(0, index=df.index)
    per_seed = [box_metrics(part[[f"adj_{c}" for c in COORDS]].to_numpy(float),
                            part[[f"gt_{c}" for c in COORDS]].to_numpy(float))
                for _, part in df.groupby(seeds, sort=True)]
    return {k: pct(sum(m[k] for m in per_seed) / len(per_seed)) for k in metric_keys()}

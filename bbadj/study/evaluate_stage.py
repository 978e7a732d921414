"""The evaluate stage: one row of the study (a model, the identity row or GrabCut) scored on every
held-out set, every seed of its model in this one process, and the per-box CSVs it writes (one
line per seed, jitter draw and box), which the report reads back (``bbadj.analysis.per_box``).

Where ``data.calibration`` names held-out boxes of the training photographs, each seed's err_px
scale is fitted on them first (``bbadj.scoring.calibration``): calibration is part of evaluation,
not of training, so that training depends on none of its code or data (docs/which-code-trains.md);
the fits are written beside the per-box files (``calibration.json``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.box_ops import COORDS
from ..scoring.metrics import box_metrics, metric_keys, pct
from ..core.params import GRABCUT, IDENTITY, Params
from ..core.tiers import seed_dir
from ..util.outputs import write_json
from .preflight import StudyError, preflight

CALIBRATION_FILE = "calibration.json"


def evaluate_row(
    params: Params,
    name: str,
    runs_dir: str | Path | None = None,
    metrics_dir: str | Path | None = None,
    per_box_dir: str | Path | None = None,
    progress: bool = False,
) -> dict[str, dict]:
    """Score every seed k of row ``name`` on every set of ``eval.sets``: ``per_box_dir/name/<set>.csv``
    holds one line per seed, draw and box (its first column ``seed``: k, 0 for the rows without
    training; and ``run.json``, the stage's device and duration), and ``metrics_dir/name/<set>.json``
    the six metrics in percent, the mean over the seeds, with each seed's under ``seeds``
    (``metric_file``): what DVC's views show. The folders default to the tier's (``runs``,
    ``reports/metrics``, ``reports/per_box``; under ``runs/long``, ``reports/long`` for the long tier).
    Every row and seed sees the same draws. Returns ``{set: <bbadj evaluate's keys, the mean over
    seeds>, with "seeds": {metric: [one per seed]}}``."""
    import time

    from ..data.dataset import load_boxes
    from ..util.device import resolve_device
    from ..util.outputs import write_csv
    from .provenance import write_run_record

    started = time.time()
    runs_dir = Path(runs_dir or params.folders.runs)
    metrics_dir = Path(metrics_dir or params.folders.reports / "metrics")
    per_box_dir = Path(per_box_dir or params.folders.reports / "per_box") / name
    cfg = params[name].config
    preflight(cfg, "val")
    device = resolve_device(cfg.eval.device)
    models, fits = _models(params, name, runs_dir, device, progress)
    predict = None
    if name == GRABCUT:
        from ..scoring.evaluate import no_confidence
        from ..scoring.grabcut import predict_grabcut

        def predict(coco, jittered, _cfg, desc):
            boxes, _ = predict_grabcut(coco, jittered, params.grabcut, progress, desc)
            return boxes, *no_confidence(len(boxes))

    results = {}
    for set_name in cfg.eval.sets:
        coco = load_boxes(*cfg.eval.set_paths(set_name), cfg.data)
        per_seed, tables = _score(coco, cfg, models, predict, progress)
        write_csv(per_box_dir / f"{set_name}.csv", tables)
        results[set_name] = {
            "n_boxes": per_seed[0]["n_boxes"],
            "repeats": per_seed[0]["repeats"],
            **{k: float(np.mean([r[k] for r in per_seed])) for k in metric_keys()},
            "seeds": {k: [r[k] for r in per_seed] for k in metric_keys()},
        }
        write_json(metrics_dir / name / f"{set_name}.json", metric_file(per_box_dir / f"{set_name}.csv"))
    if fits:
        write_json(per_box_dir / CALIBRATION_FILE, fits)
    write_run_record(per_box_dir, device, started)
    return results


def _models(params: Params, name: str, runs_dir: Path, device, progress: bool) -> tuple[dict, dict]:
    """Seed k -> its model (None: the identity row and GrabCut, seed 0 only), each model's err_px
    scale fitted on ``data.calibration`` where given; and those fits, by seed."""
    row = params[name]
    if name in (IDENTITY, GRABCUT):
        return {0: None}, {}
    from ..model.checkpoint import load_model
    from ..scoring.calibration import fit_err_scale

    models, fits = {}, {}
    for k in params.seeds(name):
        path = seed_dir(runs_dir / row.model_of, k) / "model.pt"
        model = load_model(path, device)
        if model.geometry.crop_size != row.config.data.crop_size:
            raise StudyError(
                f"{name}: {path} was trained at crop_size {model.geometry.crop_size}, params say "
                f"{row.config.data.crop_size}; rerun its training stage"
            )
        if row.config.data.calibration.annotations:
            fits[f"seed{k}"] = fit_err_scale(model, row.config, progress)
            model.err_scale = fits[f"seed{k}"]["err_scale"]
        models[k] = model
    return models, fits


def _score(coco, cfg, models: dict, predict, progress: bool) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Each seed's result on ``coco`` and the per-box table of them all, ``seed`` its first column;
    the seeds scored together, on crops cut once (``score_each``)."""
    from ..scoring.evaluate import score_each

    # the buffer ratio of the params: the model's own, or an eval-only row's at test time
    scored = score_each(
        coco,
        cfg,
        list(models.values()),
        buffer_ratio=cfg.data.buffer_ratio,
        progress=progress,
        per_box=True,
        predict=predict,
    )
    per_seed, parts = [], []
    for k, (result, table) in zip(models, scored, strict=True):
        per_seed.append(result)
        parts.append({"seed": np.full(len(next(iter(table.values()))), k), **table})
    return per_seed, {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


def metric_file(per_box_csv: str | Path) -> dict:
    """The metric file of a per-box file (docs/package.md): every metric in percent (``pct``),
    computed from the per-box file as written, as the report computes it (the mean over seeds of
    each seed's mean over its lines), so that the two round one number once and agree to the
    decimal; each seed's value under ``seeds`` (in the order of the seeds) and their number,
    ``n_seeds``. A file without a ``seed`` column holds seed 0."""
    import pandas as pd

    df = pd.read_csv(per_box_csv)
    seeds = df["seed"] if "seed" in df else pd.Series(0, index=df.index)
    per_seed = [
        box_metrics(
            part[[f"adj_{c}" for c in COORDS]].to_numpy(float), part[[f"gt_{c}" for c in COORDS]].to_numpy(float)
        )
        for _, part in df.groupby(seeds, sort=True)
    ]
    keys = metric_keys()
    return {
        **{k: pct(sum(m[k] for m in per_seed) / len(per_seed)) for k in keys},
        "n_seeds": len(per_seed),
        "seeds": {k: [pct(m[k]) for m in per_seed] for k in keys},
    }

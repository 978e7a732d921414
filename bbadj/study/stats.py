"""The report's numbers: 95% bootstrap intervals over boxes, paired differences, the paper's
Table 1 layout, and the findings text computed from them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1
from .evaluation import box_values, load_per_box
from .experiments import (IDENTITY, PARAMS, describe, experiment_config, experiment_names, flatten, load_params,
                          model_experiment)


PAPER_SNAPPER = "jittered COCO + Snapper"


PAPER_IDENTITY = "jittered COCO"


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampled box indices; the same for every experiment (paired comparisons)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean of ``values`` (n,) or (n, k) over resampled rows ``idx``."""
    values = np.asarray(values, dtype=float)
    means = values[idx].mean(axis=1)  # (n_boot,) or (n_boot, k)
    a = (1 - level) / 2
    return np.quantile(means, a, axis=0), np.quantile(means, 1 - a, axis=0)


@dataclass
class Results:
    """Everything the report needs, with ``identity`` first and then the experiments in params order."""

    params_path: str
    names: list[str]  # identity + experiments (those with metrics)
    labels: dict[str, str]
    metrics: dict[str, dict]  # the JSON of each
    values: dict[str, Any]  # per-box values (DataFrame) of each
    per_box: dict[str, Any]  # the raw per-box CSV of each
    table: Any  # long DataFrame: experiment, metric, value, lo, hi (fractions)
    idx: np.ndarray  # bootstrap resamples
    baseline: str
    missing: list[str] = field(default_factory=list)

    @property
    def experiments(self) -> list[str]:
        return [n for n in self.names if n != IDENTITY]

    def value(self, name: str, metric: str) -> float:
        return float(self.values[name][metric].mean())

    def ci(self, name: str, metric: str) -> tuple[float, float]:
        lo, hi = bootstrap_ci(self.values[name][metric].to_numpy(), self.idx)
        return float(lo), float(hi)


def load_results(params_path: str | Path = PARAMS, reports_dir: str | Path = "reports",
                 n_boot: int | None = None, seed: int | None = None) -> Results:
    """Read ``reports/metrics/*.json`` and ``reports/per_box/*.csv`` of identity and every
    experiment in params, and compute 95% bootstrap intervals over boxes."""
    import pandas as pd

    params = load_params(params_path)
    study = params.get("study") or {}
    n_boot = int(study.get("bootstrap", 1000) if n_boot is None else n_boot)
    seed = int(study.get("bootstrap_seed", 0) if seed is None else seed)
    reports = Path(reports_dir)
    names, missing, metrics, values, raw = [], [], {}, {}, {}
    for name in [IDENTITY] + experiment_names(params_path):
        m, p = reports / "metrics" / f"{name}.json", reports / "per_box" / f"{name}.csv"
        if not (m.exists() and p.exists()):
            missing.append(name)
            continue
        names.append(name)
        metrics[name] = json.loads(m.read_text())
        raw[name] = load_per_box(p)
        values[name] = box_values(raw[name])
    if IDENTITY not in names:
        raise FileNotFoundError(f"no identity row in {reports}: run `dvc repro identity`")
    ids = values[IDENTITY].index
    for name in names:
        if not values[name].index.equals(ids):
            raise ValueError(f"{name}: its boxes are not the identity row's; rerun its evaluation")
    idx = bootstrap_indices(len(ids), n_boot, seed)
    rows = []
    for name in names:
        v = values[name][list(METRIC_KEYS)].to_numpy()
        lo, hi = bootstrap_ci(v, idx)
        for j, key in enumerate(METRIC_KEYS):
            rows.append({"experiment": name, "metric": key, "value": float(v[:, j].mean()),
                         "lo": float(lo[j]), "hi": float(hi[j]), "reported": float(metrics[name][key])})
    baseline = study.get("baseline") or (experiment_names(params_path, "trained") or [IDENTITY])[0]
    labels = {n: describe(params_path, n) for n in names}
    return Results(str(params_path), names, labels, metrics, values, raw, pd.DataFrame(rows), idx,
                   baseline if baseline in names else names[-1], missing)


def best_experiment(res: Results) -> str:
    """The experiment with the highest mean of the six metrics (in percent)."""
    scores = {n: np.mean([res.value(n, k) for k in METRIC_KEYS]) for n in res.experiments}
    if not scores:
        raise ValueError("no experiment has results yet")
    return max(scores, key=scores.get)


def paired_difference(res: Results, a: str, b: str) -> Any:
    """a - b for each metric with its paired 95% bootstrap interval over boxes (fractions);
    ``clear``: the interval excludes 0, i.e. the difference is larger than its uncertainty."""
    import pandas as pd

    d = (res.values[a][list(METRIC_KEYS)] - res.values[b][list(METRIC_KEYS)]).to_numpy()
    lo, hi = bootstrap_ci(d, res.idx)
    mean = d.mean(0)
    return pd.DataFrame({"metric": list(METRIC_KEYS), "diff": mean, "lo": lo, "hi": hi,
                         "clear": (lo > 0) | (hi < 0)}).set_index("metric")


def _pts(d: float) -> str:
    """A difference of fractions in signed points; two decimals where one would show 0.0."""
    return f"{100 * d:+.1f}" if abs(100 * d) >= 0.095 else f"{100 * d:+.2f}"


def _fmt(v: float, lo: float | None = None, hi: float | None = None) -> str:
    s = f"{100 * v:.1f}"
    return s if lo is None else f"{s} [{100 * lo:.1f}, {100 * hi:.1f}]"


def table1(res: Results, with_intervals: bool = True) -> Any:
    """The paper's Table 1 layout (percent): the paper's own rows (COCO val2017), then ours
    (synthetic val set) with 95% bootstrap intervals over boxes, each row labelled by its source."""
    import pandas as pd

    cols = [METRIC_LABELS[k] for k in METRIC_KEYS]
    rows, index = [], []
    for name, vals in PAPER_TABLE1.items():
        index.append(("paper (COCO val2017)", name, ""))
        rows.append([f"{v:.1f}" for v in vals])
    n = res.metrics[IDENTITY]["n_boxes"]
    reps = res.metrics[IDENTITY]["repeats"]
    src = f"ours (synthetic val, {n} boxes x {reps} draws)"
    for name in res.names:
        what = "jittered synthetic" if name == IDENTITY else f"jittered synthetic + bbadj {name}"
        index.append((src, what, res.labels[name] if name != IDENTITY else ""))
        t = res.table[res.table.experiment == name].set_index("metric")
        rows.append([_fmt(t.value[k], t.lo[k], t.hi[k]) if with_intervals else _fmt(t.value[k]) for k in METRIC_KEYS])
    return pd.DataFrame(rows, columns=cols,
                        index=pd.MultiIndex.from_tuples(index, names=["source", "row", "variant"]))


def _metric_list(keys) -> str:
    keys = [METRIC_LABELS[k] for k in keys]
    return ", ".join(keys) if keys else "none"


def findings_markdown(res: Results) -> str:
    """The report's conclusions, computed from the numbers: which differences are larger than
    their intervals, whether the best experiment beats identity everywhere, and where it
    reaches the paper's Snapper row."""
    lines = []
    if res.missing:
        lines.append(f"**Not yet evaluated** (no metrics file): {', '.join(res.missing)}.\n")
    if not res.experiments:
        return "\n".join(lines + ["No experiment has been evaluated yet."])
    best = best_experiment(res)
    lines.append(f"**Best experiment** (highest mean of the six metrics): `{best}` ({res.labels[best]}).\n")
    d = paired_difference(res, best, IDENTITY)
    beats = [k for k in METRIC_KEYS if d.loc[k, "lo"] > 0]
    if len(beats) == len(METRIC_KEYS):
        lines.append("- It beats the identity row (the jittered boxes as they are) on **all six metrics**, "
                     "each by more than its 95% interval.")
    else:
        worse = [k for k in METRIC_KEYS if k not in beats]
        lines.append(f"- It beats the identity row beyond the 95% interval on {_metric_list(beats)}; "
                     f"**not** on {_metric_list(worse)}.")
    all_six = [n for n in res.experiments
               if (paired_difference(res, n, IDENTITY)["lo"] > 0).all()]
    lines.append(f"- Experiments that beat the identity row on all six metrics beyond their intervals: "
                 f"{', '.join(f'`{n}`' for n in all_six) if all_six else '**none**'}.")
    # the paper's Snapper row
    paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))
    reach, within, below = [], [], []
    for k in METRIC_KEYS:
        v, (_, hi) = res.value(best, k), res.ci(best, k)
        p = paper[k] / 100
        (reach if v >= p else within if hi >= p else below).append(
            f"{METRIC_LABELS[k]} {_fmt(v)} vs {paper[k]:.1f}")
    lines.append(f"- Against the paper's Snapper row ({' / '.join(f'{v:.1f}' for v in paper.values())}, "
                 f"on COCO, not on our synthetic images): it **reaches** it on "
                 f"{'; '.join(reach) if reach else 'no metric'}.")
    if within:
        lines.append(f"  Below it but within the 95% interval: {'; '.join(within)}.")
    if below:
        lines.append(f"  Below it beyond the interval (**does not reach**): {'; '.join(below)}.")
    ident_paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY]))
    gaps = [f"{METRIC_LABELS[k]} {_fmt(res.value(IDENTITY, k))} vs {ident_paper[k]:.1f}" for k in METRIC_KEYS]
    lines.append(f"- For scale, our identity row against the paper's jittered-COCO row: {'; '.join(gaps)} "
                 f"(the same jitter protocol on other images and boxes).")
    # every experiment against the baseline
    if res.baseline in res.experiments and len(res.experiments) > 1:
        lines.append(f"\n**Against the default variant `{res.baseline}`** (paired over the same boxes and "
                     f"draws; a difference counts when its 95% interval excludes zero):\n")
        for name in res.experiments:
            if name == res.baseline:
                continue
            d = paired_difference(res, name, res.baseline)
            up = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS
                  if d.loc[k, "clear"] and d.loc[k, "diff"] > 0]
            down = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS
                    if d.loc[k, "clear"] and d.loc[k, "diff"] < 0]
            if not up and not down:
                verdict = "no difference larger than its interval"
            else:
                verdict = "; ".join(filter(None, [("better: " + ", ".join(up)) if up else "",
                                                  ("worse: " + ", ".join(down)) if down else ""]))
            lines.append(f"- `{name}` ({res.labels[name]}): {verdict}.")
    return "\n".join(lines)


def differences_table(res: Results, against: str | None = None) -> Any:
    """Every experiment minus ``against`` (default: the baseline), in points, with the paired 95%
    interval; ``*`` where the interval excludes zero."""
    import pandas as pd

    against = against or res.baseline
    rows = {}
    for name in res.experiments:
        if name == against:
            continue
        d = paired_difference(res, name, against)
        rows[name] = [f"{_pts(d.loc[k, 'diff'])} [{_pts(d.loc[k, 'lo'])}, {_pts(d.loc[k, 'hi'])}]"
                      + (" *" if d.loc[k, "clear"] else "") for k in METRIC_KEYS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[METRIC_LABELS[k] for k in METRIC_KEYS])


def buffer_experiments(res: Results) -> dict[str, list[tuple[float, str]]]:
    """Experiments that differ from the baseline only in data.buffer_ratio: ``trained`` (trained
    and evaluated at that ratio) and ``eval_only`` (the baseline model evaluated at that ratio)."""
    base = flatten(experiment_config(res.params_path, res.baseline).to_dict())
    evals = experiment_names(res.params_path, "eval_only")
    out: dict[str, list] = {"trained": [], "eval_only": []}
    for name in res.experiments:
        cfg = experiment_config(res.params_path, name)
        flat = flatten(cfg.to_dict())
        diff = {k for k in set(base) | set(flat) if base.get(k) != flat.get(k)}
        if diff <= {"data.buffer_ratio"}:
            if name in evals:
                if model_experiment(res.params_path, name) == res.baseline:
                    out["eval_only"].append((cfg.data.buffer_ratio, name))
            else:
                out["trained"].append((cfg.data.buffer_ratio, name))
    if out["eval_only"]:
        out["eval_only"].append((base["data.buffer_ratio"], res.baseline))
    return {k: sorted(v) for k, v in out.items() if v}


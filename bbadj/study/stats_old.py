"""The report's numbers: 95% bootstrap intervals over boxes, paired differences, the paper's
Table 1 layout, and the findings text computed from them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_config
from ..metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1
from .evaluation import box_values, load_per_box
from .experiments import (BASELINES, GRABCUT, IDENTITY, PARAMS, describe, experiment_config, experiment_names,
                          flatten, load_params, model_experiment)


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
    """Everything the report needs about one evaluation set, with ``identity`` and ``grabcut``
    first and then the experiments in params order."""

    params_path: str
    eval_set: str  # the name in eval.sets
    names: list[str]  # identity, grabcut + experiments (those with metrics)
    labels: dict[str, str]
    metrics: dict[str, dict]  # the JSON of each
    values: dict[str, Any]  # per-box values (DataFrame) of each
    per_box: dict[str, Any]  # the raw per-box CSV of each
    table: Any  # long DataFrame: experiment, metric, value, lo, hi (fractions)
    idx: np.ndarray  # bootstrap resamples
    baseline: str
    missing: list[str] = field(default_factory=list)
    annotations: str = ""  # the set's annotation file

    @property
    def experiments(self) -> list[str]:
        """The rows with a model (not identity, not GrabCut)."""
        return [n for n in self.names if n not in BASELINES]

    @property
    def seed_runs(self) -> list[str]:
        """The baseline and its reruns with other training seeds (rows that differ from it only in
        ``train.seed``), when the study has any; else empty."""
        runs = [self.baseline] + differing_only_in(self, "train.seed")
        return runs if len(runs) > 1 else []

    @property
    def variants(self) -> list[str]:
        """The experiments, without the baseline's seed reruns (the same variant again)."""
        return [n for n in self.experiments if n not in self.seed_runs[1:]]

    @property
    def n_boxes(self) -> int:
        return int(self.metrics[IDENTITY]["n_boxes"])

    @property
    def repeats(self) -> int:
        return int(self.metrics[IDENTITY]["repeats"])

    @property
    def source(self) -> str:
        """How the report names this set: its name, its size and its annotation file."""
        return f"{self.eval_set} ({self.n_boxes} boxes x {self.repeats} draws; {self.annotations})"

    def value(self, name: str, metric: str) -> float:
        return float(self.values[name][metric].mean())

    def ci(self, name: str, metric: str) -> tuple[float, float]:
        lo, hi = bootstrap_ci(self.values[name][metric].to_numpy(), self.idx)
        return float(lo), float(hi)


def eval_sets(params_path: str | Path = PARAMS) -> list[str]:
    """The names of eval.sets, in params order."""
    return list(load_config(params_path).eval.sets)


def load_all(params_path: str | Path = PARAMS, reports_dir: str | Path = "reports",
             n_boot: int | None = None, seed: int | None = None) -> dict[str, Results]:
    """``load_results`` of every evaluation set, by name."""
    return {s: load_results(params_path, reports_dir, n_boot, seed, s) for s in eval_sets(params_path)}


def load_results(params_path: str | Path = PARAMS, reports_dir: str | Path = "reports",
                 n_boot: int | None = None, seed: int | None = None, eval_set: str | None = None) -> Results:
    """Read ``reports/metrics/<name>.json`` and ``reports/per_box/<name>/<set>.csv`` of identity,
    GrabCut and every experiment in params, on evaluation set ``eval_set`` (default: the first of
    eval.sets), and compute 95% bootstrap intervals over boxes."""
    import pandas as pd

    eval_set = eval_set or eval_sets(params_path)[0]
    params = load_params(params_path)
    study = params.get("study") or {}
    n_boot = int(study.get("bootstrap", 1000) if n_boot is None else n_boot)
    seed = int(study.get("bootstrap_seed", 0) if seed is None else seed)
    reports = Path(reports_dir)
    names, missing, metrics, values, raw = [], [], {}, {}, {}
    for name in [*BASELINES, *experiment_names(params_path)]:
        m, p = reports / "metrics" / f"{name}.json", reports / "per_box" / name / f"{eval_set}.csv"
        found = json.loads(m.read_text()) if m.exists() else {}
        if eval_set not in found or not p.exists():
            missing.append(name)
            continue
        names.append(name)
        metrics[name] = found[eval_set]
        raw[name] = load_per_box(p)
        values[name] = box_values(raw[name])
    if IDENTITY not in names:
        raise FileNotFoundError(f"no identity row for {eval_set!r} in {reports}: run `dvc repro baseline@identity`")
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
    return Results(str(params_path), eval_set, names, labels, metrics, values, raw, pd.DataFrame(rows), idx,
                   baseline if baseline in names else names[-1], missing,
                   load_config(params_path).eval.set_paths(eval_set)[0])


def best_experiment(res: Results) -> str:
    """The variant with the highest mean of the six metrics on ``res``'s set (chosen on the set it
    is then reported on: its numbers are optimistic, and the report says so)."""
    scores = {n: np.mean([res.value(n, k) for k in METRIC_KEYS]) for n in res.variants}
    if not scores:
        raise ValueError("no experiment has results yet")
    return max(scores, key=scores.get)


def seed_spread(res: Results) -> Any:
    """Per metric (fractions): the baseline's value with each training seed, their standard
    deviation (``sd``), and the noise bound of a difference between two single-seed models,
    ``2 * sqrt(2) * sd`` (the 95% band of the difference of two normal draws). Empty without
    seed reruns. Three seeds estimate ``sd`` roughly; it is assumed to hold for every variant."""
    import pandas as pd

    if not res.seed_runs:
        return pd.DataFrame()
    t = pd.DataFrame({n: [res.value(n, k) for k in METRIC_KEYS] for n in res.seed_runs}, index=list(METRIC_KEYS))
    t["sd"] = t[res.seed_runs].std(axis=1, ddof=1)
    t["two_models"] = 2 * np.sqrt(2) * t["sd"]
    return t


def paired_difference(res: Results, a: str, b: str) -> Any:
    """a - b for each metric with its paired 95% bootstrap interval over boxes (fractions).
    ``clear``: the interval excludes 0 (larger than the uncertainty of the boxes); ``seed_noise``:
    how far two trainings of one recipe fall apart (2 sd of the training-seed spread per trained
    row among a and b, added in quadrature; 0 without seed reruns); ``real``: clear and larger
    than the seed noise, the report's test of a difference."""
    import pandas as pd

    d = (res.values[a][list(METRIC_KEYS)] - res.values[b][list(METRIC_KEYS)]).to_numpy()
    lo, hi = bootstrap_ci(d, res.idx)
    mean = d.mean(0)
    spread = seed_spread(res)
    trained = sum(n not in BASELINES for n in (a, b))
    noise = 2 * np.sqrt(trained) * spread["sd"].to_numpy() if len(spread) else np.zeros(len(METRIC_KEYS))
    clear = (lo > 0) | (hi < 0)
    return pd.DataFrame({"metric": list(METRIC_KEYS), "diff": mean, "lo": lo, "hi": hi, "clear": clear,
                         "seed_noise": noise, "real": clear & (np.abs(mean) > noise)}).set_index("metric")


def _pts(d: float) -> str:
    """A difference of fractions in signed points; two decimals where one would show 0.0."""
    return f"{100 * d:+.1f}" if abs(100 * d) >= 0.095 else f"{100 * d:+.2f}"


def _fmt(v: float, lo: float | None = None, hi: float | None = None) -> str:
    s = f"{100 * v:.1f}"
    return s if lo is None else f"{s} [{100 * lo:.1f}, {100 * hi:.1f}]"


ROW_NAMES = {IDENTITY: "jittered boxes, no model", GRABCUT: "GrabCut (OpenCV), no training"}


def _metric_list(keys) -> str:
    keys = [METRIC_LABELS[k] for k in keys]
    return ", ".join(keys) if keys else "none"


def _verdict(d) -> tuple[list[str], list[str]]:
    """(better, worse): the metrics whose paired difference ``d`` is real (beyond its interval and
    the seed noise), each way."""
    up = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] > 0]
    down = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] < 0]
    return up, down


def _beats(d) -> list[str]:
    """The metrics on which paired difference ``d`` is a real gain."""
    return [k for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] > 0]


def n_comparisons(res: Results) -> int:
    """How many tests the report makes against the default variant on this set: every other
    variant and GrabCut, on each of the six metrics."""
    others = [n for n in res.variants if n != res.baseline] + [n for n in res.names if n == GRABCUT]
    return len(others) * len(METRIC_KEYS)


def rule_markdown(res: Results) -> str:
    """How the report decides that two rows differ, and what it does not guard against."""
    spread = seed_spread(res)
    n = n_comparisons(res)
    text = ("A difference counts when the 95% interval of the paired difference over boxes excludes zero "
            "(the bootstrap resamples boxes, so it sees the boxes' variation, not the training's)")
    if len(spread):
        sd = ", ".join(f"{METRIC_LABELS[k]} {100 * spread.loc[k, 'sd']:.2f}" for k in METRIC_KEYS)
        reruns = res.seed_runs[1:]
        flagged = sum(int(paired_difference(res, r, res.baseline)["clear"].sum()) for r in reruns)
        text += (f" **and** it is larger than the training-seed noise: the default variant `{res.baseline}` was "
                 f"trained with {len(res.seed_runs)} seeds, whose standard deviation in points is {sd}; "
                 f"two single trainings differ by up to 2 x sqrt(2) sd (95%), a trained row and an untrained "
                 f"one by 2 sd. Seeds alone: {flagged} of {len(reruns) * len(METRIC_KEYS)} differences between "
                 f"the reruns and `{res.baseline}` clear the box interval, which is why the seed test is needed.")
    else:
        text += "; no seed reruns of the default variant are in params, so training noise is **not** accounted for."
    text += (f" On this set the report tests {n} differences against `{res.baseline}`; at 95% each, about "
             f"{0.05 * n:.1f} of them would pass the box interval by chance even if no variant differed "
             f"(there is no correction for multiple comparisons: treat a single, small difference as a lead, not a result).")
    return text


def findings_markdown(res: Results) -> str:
    """The conclusions on one evaluation set, computed from the numbers: which differences are
    larger than their intervals and the seed noise, whether the best variant beats identity
    everywhere, and where it reaches the paper's Snapper row."""
    lines = [f"On **{res.source}**:\n"]
    if res.missing:
        lines.append(f"**Not yet evaluated** (no metrics for this set): {', '.join(res.missing)}.\n")
    if not res.experiments:
        return "\n".join(lines + ["No experiment has been evaluated yet."])
    best = best_experiment(res)
    lines.append(f"**Best variant**: `{best}` ({res.labels[best]}), the highest mean of the six metrics. It is "
                 f"chosen on this same set, so its numbers here are optimistic (the winner of {len(res.variants)} "
                 f"noisy scores); a set it was not chosen on would give it a fair score.\n")
    d = paired_difference(res, best, IDENTITY)
    beats = _beats(d)
    if len(beats) == len(METRIC_KEYS):
        lines.append("- It beats the identity row (the jittered boxes as they are) on **all six metrics**, "
                     "each by more than its 95% interval and the seed noise.")
    else:
        worse = [k for k in METRIC_KEYS if k not in beats]
        lines.append(f"- It beats the identity row beyond the 95% interval and the seed noise on {_metric_list(beats)}; "
                     f"**not** on {_metric_list(worse)}.")
    gains = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS]
    lines.append(f"- Its gain over identity, in points: {', '.join(gains)} "
                 f"(the paper's Snapper gains {', '.join(f'{s - i:+.1f}' for s, i in zip(PAPER_TABLE1[PAPER_SNAPPER], PAPER_TABLE1[PAPER_IDENTITY]))}).")
    all_six = [n for n in res.variants if len(_beats(paired_difference(res, n, IDENTITY))) == len(METRIC_KEYS)]
    lines.append(f"- Variants that beat the identity row on all six metrics: "
                 f"{', '.join(f'`{n}`' for n in all_six) if all_six else '**none**'}.")
    if GRABCUT in res.names:
        up, down = _verdict(paired_difference(res, GRABCUT, IDENTITY))
        fb = res.metrics[GRABCUT].get("fallback_rate")
        lines.append(f"- GrabCut against identity: better on {', '.join(up) or 'no metric'}; "
                     f"worse on {', '.join(down) or 'no metric'}"
                     + (f" (it found no foreground, and kept the jittered box, for {100 * fb:.1f}% of the boxes)."
                        if fb is not None else "."))
    paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))
    reach, within, below = [], [], []
    for k in METRIC_KEYS:
        v, (_, hi) = res.value(best, k), res.ci(best, k)
        p = paper[k] / 100
        (reach if v >= p else within if hi >= p else below).append(f"{METRIC_LABELS[k]} {_fmt(v)} vs {paper[k]:.1f}")
    lines.append(f"- Against the paper's Snapper row ({' / '.join(f'{v:.1f}' for v in paper.values())}, "
                 f"measured on COCO val2017, not on this set): it **reaches** it on "
                 f"{'; '.join(reach) if reach else 'no metric'}.")
    if within:
        lines.append(f"  Below it but within the 95% interval: {'; '.join(within)}.")
    if below:
        lines.append(f"  Below it beyond the interval (**does not reach**): {'; '.join(below)}.")
    ident_paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY]))
    gaps = [f"{METRIC_LABELS[k]} {_fmt(res.value(IDENTITY, k))} vs {ident_paper[k]:.1f}" for k in METRIC_KEYS]
    lines.append(f"- For scale, the identity row here against the paper's jittered-COCO row: {'; '.join(gaps)} "
                 f"(the same jitter protocol on other images and boxes).")
    if res.baseline in res.experiments and len(res.variants) > 1:
        lines.append(f"\n**Against the default variant `{res.baseline}`** (paired over the same boxes and draws):\n")
        for name in res.variants:
            if name == res.baseline:
                continue
            up, down = _verdict(paired_difference(res, name, res.baseline))
            verdict = "; ".join(filter(None, [("better: " + ", ".join(up)) if up else "",
                                              ("worse: " + ", ".join(down)) if down else ""]))
            lines.append(f"- `{name}` ({res.labels[name]}): {verdict or 'no difference beyond its interval and the seed noise'}.")
        lines.append(f"\n{rule_markdown(res)}")
    return "\n".join(lines)


def effects_across_sets(results: dict[str, Results], against: str | None = None) -> Any:
    """Does each ablation effect hold on every set? Per experiment and set: the metrics on which
    it is clearly better (+) or worse (-) than ``against`` (default: the baseline), and a verdict:
    it holds on every set (the same clear sign everywhere, on some metrics), it reverses (opposite
    clear signs on a metric), it is clear on some sets only, or there is no clear effect at all."""
    import pandas as pd

    sets = list(results)
    first = results[sets[0]]
    against = against or first.baseline
    rows = {}
    for name in first.variants:
        if name == against or any(name not in r.names or against not in r.names for r in results.values()):
            continue
        signs = {}
        for s, r in results.items():
            d = paired_difference(r, name, against)
            signs[s] = {k: (1 if d.loc[k, "diff"] > 0 else -1) if d.loc[k, "real"] else 0 for k in METRIC_KEYS}
        cells = {s: ", ".join(f"{'+' if v > 0 else '-'}{METRIC_LABELS[k]}" for k, v in sg.items() if v) or "none"
                 for s, sg in signs.items()}
        everywhere = [k for k in METRIC_KEYS if len({sg[k] for sg in signs.values()}) == 1 and signs[sets[0]][k]]
        reversed_ = [k for k in METRIC_KEYS if {1, -1} <= {sg[k] for sg in signs.values()}]
        with_effect = [s for s, sg in signs.items() if any(sg.values())]
        if reversed_:
            verdict = f"reverses between sets on {_metric_list(reversed_)}"
        elif everywhere:
            verdict = f"holds on every set for {_metric_list(everywhere)}"
        elif with_effect:
            verdict = f"clear on {', '.join(with_effect)} only"
        else:
            verdict = "no clear effect on any set"
        rows[name] = {**{f"effect on {s}": c for s, c in cells.items()}, "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index")


def differences_table(res: Results, against: str | None = None) -> Any:
    """Every row but identity minus ``against`` (default: the baseline), in points, with the
    paired 95% interval; ``*`` where the interval excludes zero, ``**`` where the difference is
    also larger than the seed noise (a real difference, by the report's rule)."""
    import pandas as pd

    against = against or res.baseline
    rows = {}
    for name in [n for n in res.names if n != IDENTITY]:
        if name == against:
            continue
        d = paired_difference(res, name, against)
        rows[name] = [f"{_pts(d.loc[k, 'diff'])} [{_pts(d.loc[k, 'lo'])}, {_pts(d.loc[k, 'hi'])}]"
                      + (" **" if d.loc[k, "real"] else " *" if d.loc[k, "clear"] else "") for k in METRIC_KEYS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[METRIC_LABELS[k] for k in METRIC_KEYS])


@lru_cache(maxsize=512)
def _flat_config(params_path: str, name: str, stamp: int) -> dict:
    """Experiment ``name``'s full settings as flat keys; ``stamp``, the params file's mtime, keys the cache."""
    return flatten(experiment_config(params_path, name).to_dict())


def changed_keys(res: Results, name: str) -> set[str]:
    """The settings (flat keys) in which experiment ``name`` differs from the baseline."""
    stamp = Path(res.params_path).stat().st_mtime_ns
    base, flat = (_flat_config(str(res.params_path), n, stamp) for n in (res.baseline, name))
    return {k for k in set(base) | set(flat) if base.get(k) != flat.get(k)}


def differing_only_in(res: Results, key: str) -> list[str]:
    """The experiments of ``res`` that differ from the baseline in ``key`` and nothing else."""
    return [n for n in res.experiments if n != res.baseline and changed_keys(res, n) == {key}]


def pass_runs(res: Results) -> list[tuple[int, str]]:
    """(eval.passes, name) of the baseline and of its evaluation-only variants that apply the
    model again to its own output; empty without such variants."""
    runs = [(experiment_config(res.params_path, n).eval.passes, n)
            for n in [res.baseline] + differing_only_in(res, "eval.passes")]
    return sorted(runs) if len(runs) > 1 else []


def buffer_experiments(res: Results) -> dict[str, list[tuple[float, str]]]:
    """Experiments that differ from the baseline only in data.buffer_ratio: ``trained`` (trained
    and evaluated at that ratio) and ``eval_only`` (the baseline model evaluated at that ratio)."""
    base = flatten(experiment_config(res.params_path, res.baseline).to_dict())
    evals = experiment_names(res.params_path, "eval_only")
    out: dict[str, list] = {"trained": [], "eval_only": []}
    for name in res.experiments:
        cfg = experiment_config(res.params_path, name)
        if changed_keys(res, name) <= {"data.buffer_ratio"}:
            if name in evals:
                if model_experiment(res.params_path, name) == res.baseline:
                    out["eval_only"].append((cfg.data.buffer_ratio, name))
            else:
                out["trained"].append((cfg.data.buffer_ratio, name))
    if out["eval_only"]:
        out["eval_only"].append((base["data.buffer_ratio"], res.baseline))
    return {k: sorted(v) for k, v in out.items() if v}


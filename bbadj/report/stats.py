"""How the report compares rows: 95% bootstrap intervals over boxes, paired differences, and the
noise of training itself.

Every row is compared with its *parent*, the row it differs from in the fewest settings (one,
for an ablation of the default row): an eval-only row with the model it evaluates, a trained
row with the nearest trained row. A difference is *real* when its paired interval over boxes
excludes 0 **and** it is larger than the training noise: 2 sd per independently trained model in
the pair, added in quadrature, each sd from its recipe's seeds (``study.seeds``: a row's value is
the mean of its seeds, so its sd over the root of their number) or reruns (rows that differ only in
``RERUN_KEYS``: other seeds, and other thread counts, whose float sums run in another order as
another CPU's kernels would): a row's own, or those of the parent it changes in one setting,
each sd at least ``study.noise_floor`` (the spread of reruns on other machines). Two rows
scored with one model share its training, so only the box interval judges them. Where a trained
row of the pair has no such reruns, the difference is *not judged*.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..util.errors import UnknownName
from ..scoring.metrics import METRIC_KEYS
from ..core.params import BASELINES, IDENTITY, Params

RERUN_KEYS = {"train.seed", "train.threads"}  # settings whose change reruns a recipe without changing it


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampled box indices; the same for every row (paired comparisons)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean of ``values`` (n,) or (n, k) over resampled rows ``idx``."""
    return percentile_interval(np.asarray(values, dtype=float)[idx].mean(axis=1), level)


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of a statistic's bootstrap replicates (axis 0), NaN replicates
    left out: the one place the report turns resamples into an interval."""
    a = (1 - level) / 2
    return np.nanquantile(boot, a, axis=0), np.nanquantile(boot, 1 - a, axis=0)


def reruns(params: Params, name: str) -> list[str]:
    """``name`` and the trained rows that differ from it only in ``RERUN_KEYS``: reruns of one
    recipe, in file order. A row without reruns gives ``[name]``."""
    if not params[name].trained:
        return [name]
    return [n for n in params.names("trained") if n == name or set(params.changed(n, name)) <= RERUN_KEYS]


def representative(params: Params, name: str) -> str:
    """The first of ``name``'s reruns in file order: the row that stands for its recipe."""
    return reruns(params, name)[0]


def parent(params: Params, name: str) -> str | None:
    """The row ``name`` is compared with: its model's row for an eval-only row, its recipe's
    representative for a rerun, else the trained row it differs from in the fewest settings (the
    study's baseline first on a tie). None for the baselines and the default row."""
    row = params[name]
    if name in BASELINES or name == params.report.baseline:
        return None
    if row.group == "eval_only":
        return row.model_of
    rep = representative(params, name)
    if rep != name:
        return rep
    candidates = [n for n in params.names("trained") if n != name and representative(params, n) == n]
    order = {n: (len(params.changed(name, n)), n != params.report.baseline, i) for i, n in enumerate(candidates)}
    return min(candidates, key=order.get) if candidates else None


def rerun_sd(res: Results, name: str) -> np.ndarray | None:
    """The standard deviation of each metric (fractions) over one training of ``name``'s recipe: over
    its seeds (``study.seeds``) where it has two or more on ``res``'s set, else over its reruns (rows
    that differ only in ``RERUN_KEYS``); None without at least two."""
    if name in res.names and res.params[name].trained:
        seeds = res.seed_metrics(name)
        if len(seeds) >= 2:
            return seeds.std(axis=0, ddof=1)
    runs = [n for n in reruns(res.params, name) if n in res.names]
    if len(runs) < 2:
        return None
    return np.array([[res.value(n, k) for k in METRIC_KEYS] for n in runs]).std(axis=0, ddof=1)


def n_trainings(res: Results, name: str) -> int:
    """How many trainings row ``name``'s value averages: its model's seeds on ``res``'s set."""
    return int(res.per_box[name]["seed"].nunique()) if name in res.names else 1


def noise_sd(res: Results, name: str) -> np.ndarray | None:
    """The sd the rule takes for one training of ``name``'s recipe: its reruns' sd, raised per
    metric to ``study.noise_floor`` (what reruns on other machines showed); None without reruns."""
    sd = rerun_sd(res, name)
    if sd is None:
        return None
    floor = res.params.report.noise_floor
    unknown = sorted(set(floor) - set(METRIC_KEYS))
    if unknown:
        raise UnknownName(f"study.noise_floor: unknown metric(s) {unknown}; known: {list(METRIC_KEYS)}")
    return np.maximum(sd, [floor.get(k, 0.0) / 100 for k in METRIC_KEYS])


def noise_source(res: Results, name: str) -> str | None:
    """The recipe whose reruns measure the training noise of row ``name``'s model: its own, or
    that of the parent it differs from in one setting (an ablation of a rerun recipe); None if
    neither has reruns on ``res``'s set."""
    params = res.params
    model = params[name].model_of
    if rerun_sd(res, model) is not None:
        return representative(params, model)
    p = parent(params, model)
    if p is not None and len(params.changed(model, p)) == 1 and rerun_sd(res, p) is not None:
        return representative(params, p)
    return None


def training_noise(res: Results, a: str, b: str) -> tuple[np.ndarray, str | None]:
    """The noise bound of the difference a - b per metric (fractions), and the recipes whose reruns
    gave it (None: no training noise in the pair; a NaN bound: not judged)."""
    models = list(dict.fromkeys(res.params[n].model_of for n in (a, b) if n not in BASELINES))
    if len(models) < 2 and len({n for n in (a, b) if n not in BASELINES}) == 2:
        return np.zeros(len(METRIC_KEYS)), None  # one model, evaluated two ways
    if not models:
        return np.zeros(len(METRIC_KEYS)), None
    sources = [noise_source(res, m) for m in models]
    if None in sources:
        return np.full(len(METRIC_KEYS), np.nan), None
    # each row's value is the mean of its model's seeds: its training noise, one training's over sqrt(seeds)
    variance = sum(noise_sd(res, s) ** 2 / n_trainings(res, m) for s, m in zip(sources, models))
    return 2 * np.sqrt(variance), ", ".join(dict.fromkeys(sources))


def paired_difference(res: Results, a: str, b: str) -> Any:
    """a - b for each metric (fractions) with its paired 95% bootstrap interval over boxes:
    ``clear`` (the interval excludes 0), ``noise`` (``training_noise``), ``judged`` (a noise bound
    exists) and ``real`` (clear, judged and larger than the noise)."""
    import pandas as pd

    d = (res.values[a][list(METRIC_KEYS)] - res.values[b][list(METRIC_KEYS)]).to_numpy()
    lo, hi = bootstrap_ci(d, res.idx)
    mean = d.mean(0)
    noise, recipe = training_noise(res, a, b)
    judged = ~np.isnan(noise)
    clear = (lo > 0) | (hi < 0)
    return pd.DataFrame({"metric": list(METRIC_KEYS), "diff": mean, "lo": lo, "hi": hi, "clear": clear,
                         "noise": noise, "judged": judged, "real": clear & judged & (np.abs(mean) > np.nan_to_num(noise)),
                         "noise_from": recipe}).set_index("metric")


def best_model(res: Results) -> str:
    """The row with a model and the highest mean of the six metrics on ``res``'s set, reruns of a
    recipe not counted apart. Chosen on the set it is then reported on: its numbers are optimistic."""
    candidates = [n for n in res.models if representative(res.params, n) == n]
    if not candidates:
        raise ValueError(f"no row with a model has results on {res.eval_set}")
    return max(candidates, key=lambda n: np.mean([res.value(n, k) for k in METRIC_KEYS]))


def comparisons(res: Results) -> list[tuple[str, str]]:
    """(row, parent) for every row with a parent on ``res``'s set, in file order; the default
    row against the identity row first."""
    params = res.params
    out = [(params.report.baseline, IDENTITY)] if params.report.baseline in res.names else []
    for name in res.models:
        p = parent(params, name)
        if p is not None and p in res.names and representative(params, name) == name:
            out.append((name, p))
    return out

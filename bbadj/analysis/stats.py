"""The formulas the report judges differences with (docs/statistics.md writes them out):

- a bootstrap that resamples **photographs** (the boxes of one photograph stay together), the same
  resamples for every row of a set, so that every difference is paired;
- one standard error per estimate that adds the sampling variance (the photograph bootstrap) and
  the training variance (each trained row's variance over its seeds, over its number of seeds);
- a t multiplier with Welch-Satterthwaite degrees of freedom, for an interval honest about how
  few seeds estimate the training variance;
- Holm's correction of a family of p values, and the minimum detectable difference at 80% power.

And the study's structure the report compares along: which rows are seeds of one recipe, and each
row's parent (the row it differs from in the fewest settings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.params import BASELINES, Params

RERUN_KEYS = {"train.seed", "train.threads"}  # settings whose change reruns a recipe, unchanged
LEVEL = 0.95  # every interval of the report
ALPHA = 1 - LEVEL  # the family-wise error rate Holm's correction keeps
POWER = 0.80  # the power the minimum detectable difference is stated at


# ------------------------------------------------------------------ the photograph bootstrap


def photo_weights(photos, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_boxes): how often each box occurs in each resample when the *photographs* are
    drawn with replacement (``photos``: each box's image id). Every box of a drawn photograph comes
    with it; the same weights serve every row of a set (paired comparisons)."""
    ids, which = np.unique(np.asarray(photos), return_inverse=True)
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    counts = np.zeros((n_boot, len(ids)))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, which]


def boot_ratio(weights: np.ndarray, num: np.ndarray, den: np.ndarray | None = None) -> np.ndarray:
    """Each resample's sum of ``num`` over its boxes divided by the sum of ``den`` (default: one
    per box, i.e. the mean): (n_boot,) or (n_boot, k) for (n_boxes,) or (n_boxes, k) values."""
    num = np.asarray(num, dtype=float)
    den = np.ones(num.shape) if den is None else np.broadcast_to(np.asarray(den, dtype=float), num.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ num) / (weights @ den)


def percentile_interval(boot: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of a statistic's bootstrap replicates (axis 0), NaN replicates
    left out (the report's descriptive intervals: per size class, AUROC)."""
    a = (1 - level) / 2
    return np.nanquantile(boot, a, axis=0), np.nanquantile(boot, 1 - a, axis=0)


# ------------------------------------------------------------------ combining the variances


@dataclass(frozen=True)
class Term:
    """One independent component of an estimate's variance (per metric) and its degrees of
    freedom: the photograph bootstrap's (df: photographs - 1), or a row's seeds' (seeds - 1)."""

    variance: np.ndarray
    df: np.ndarray


def seed_term(per_seed: np.ndarray) -> Term | None:
    """The training variance of a mean over seeds: the seeds' variance (ddof 1) over their number,
    with n - 1 degrees of freedom; ``per_seed``: (n_seeds, k). None with one seed."""
    per_seed = np.atleast_2d(np.asarray(per_seed, dtype=float))
    n = len(per_seed)
    if n < 2:
        return None
    return Term(per_seed.var(axis=0, ddof=1) / n, np.full(per_seed.shape[1], n - 1.0))


def combine(terms: list[Term]) -> tuple[np.ndarray, np.ndarray]:
    """The standard error sqrt(sum of the variances) and its Welch-Satterthwaite degrees of freedom
    (sum v)^2 / sum(v^2 / df); a term with no variance adds nothing."""
    var = sum(t.variance for t in terms)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = sum(np.where(t.variance > 0, t.variance**2 / t.df, 0.0) for t in terms)
        df = np.where(denom > 0, var**2 / np.where(denom > 0, denom, 1.0), np.inf)
    return np.sqrt(var), df


def t_test(est: np.ndarray, se: np.ndarray, df: np.ndarray, level: float = LEVEL):
    """(lo, hi, p): the t interval est +- t(df) se and the two-sided p value of est = 0. An
    estimate with no variance at all has p 1 when it is 0 (two identical rows), else 0."""
    from scipy import stats as st

    est, se, df = (np.asarray(x, dtype=float) for x in (est, se, df))
    q = st.t.ppf(1 - (1 - level) / 2, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(
            se > 0,
            2 * st.t.sf(np.abs(est) / np.where(se > 0, se, 1.0), df),
            np.where(est == 0, 1.0, 0.0),
        )
    return est - q * se, est + q * se, np.where(np.isnan(se) | np.isnan(est), np.nan, p)


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p values (family-wise error, any dependence between the tests):
    the i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j)). NaN stays NaN and
    is not counted. Five lines of numpy rather than statsmodels for one function."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def mdd(se, df, family: int, alpha: float = ALPHA, power: float = POWER) -> np.ndarray:
    """The minimum detectable difference: the true difference a two-sided t test at Bonferroni's
    level alpha / family (Holm's strictest step) would declare with probability ``power``,
    (t(1 - alpha / 2 family, df) + t(power, df)) se."""
    from scipy import stats as st

    se, df = np.asarray(se, dtype=float), np.asarray(df, dtype=float)
    a = alpha / max(int(family), 1)
    return (st.t.ppf(1 - a / 2, df) + st.t.ppf(power, df)) * se


# ------------------------------------------------------------------ the study's structure


def reruns(params: Params, name: str) -> list[str]:
    """``name`` and the trained rows that differ from it only in ``RERUN_KEYS``: seeds of one
    recipe, in file order (the report reads them as one row with several seeds). A row without
    reruns gives ``[name]``."""
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

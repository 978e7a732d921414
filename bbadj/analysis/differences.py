"""One difference between two rows of a set, each the mean over its seeds: the estimate, its
photograph resamples and the seeds' variance terms that ``stats.combine`` adds into one standard
error (docs/statistics.md). ``comparisons`` judges many of them; ``context`` restricts them to the
cases a crop can reach."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.params import BASELINES
from . import stats
from .results import Results
from .stats import Term


@dataclass
class Diff:
    """One difference per metric (fractions): the estimate, its photograph resamples, the
    training variance's terms, and how many seeds each side brought."""

    est: np.ndarray
    boot: np.ndarray  # (n_boot, k)
    n_photos: int
    seed_terms: list[Term]
    seeds: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    judged: bool = True

    def terms(self) -> list[Term]:
        k = len(self.est)
        return [
            Term(self.boot.var(axis=0, ddof=1), np.full(k, self.n_photos - 1.0)),
            *self.seed_terms,
        ]

    def __sub__(self, other: "Diff") -> "Diff":
        """This difference minus ``other`` (another tier's, on the same photographs and resamples):
        independent trainings, so the seeds' terms add."""
        return Diff(
            self.est - other.est,
            self.boot - other.boot,
            self.n_photos,
            self.seed_terms + other.seed_terms,
            self.seeds,
            self.notes + other.notes,
            self.judged and other.judged,
        )


def pooled_seed_variance(res: Results) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The seeds' variance (one seed's, per metric) pooled over the trained rows of ``res`` with
    at least two seeds, its degrees of freedom, and those rows; None without any. What a row
    trained once borrows (the study's older layout; docs/statistics.md)."""
    rows = [n for n in res.models if res.params[n].trained and len(res.seeds[n]) > 1]
    if not rows:
        return None
    ss = sum((len(res.seeds[n]) - 1) * res.seed_values(n).var(axis=0, ddof=1) for n in rows)
    df = float(sum(len(res.seeds[n]) - 1 for n in rows))
    return ss / df, np.full(len(res.keys), df), rows


def _shares_models(res: Results, a: str, b: str) -> bool:
    """Both rows score the same trained models (an eval-only row and its model's row)."""
    if a in BASELINES or b in BASELINES:
        return False
    return res.params[a].model_of == res.params[b].model_of


def difference(res: Results, a: str, b: str, num: dict | None = None, den: np.ndarray | None = None) -> Diff:
    """``a`` minus ``b`` on ``res``'s set, each the mean over its seeds. ``num``/``den``: per row
    (n_seeds, n_boxes, k) numerators and (n_boxes, k) denominators of a ratio over boxes (the
    reachable cases); by default each box's value, and one per box.

    Two rows that score the same models are paired seed by seed (their common seeds), the training
    variance that of the per-seed differences; two trained rows are independent, each bringing its
    seeds' variance over their number; a row trained once borrows the pooled variance of the rows
    with seeds. Without any seeds' variance, the difference is not judged."""
    va, vb = (num or res.by_seed)[a], (num or res.by_seed)[b]
    sa, sb = list(res.seeds[a]), list(res.seeds[b])
    den = np.ones(va.shape[1:]) if den is None else den
    notes, terms, judged = [], [], True
    if _shares_models(res, a, b):
        common = sorted(set(sa) & set(sb))
        va, vb = va[[sa.index(s) for s in common]], vb[[sb.index(s) for s in common]]
        sa = sb = common
        per_seed = (va - vb).sum(1) / den.sum(0)
        term = stats.seed_term(per_seed)
        if term is None:
            notes.append("one model scored two ways: photographs only")
        else:
            terms.append(term)
    else:
        pooled = None
        for name, v in ((a, va), (b, vb)):
            if name in BASELINES:
                continue
            term = stats.seed_term(v.sum(1) / den.sum(0))
            if term is None:
                pooled = pooled or pooled_seed_variance(res)
                if pooled is None:
                    judged = False
                    notes.append(f"{name}: one seed, and no row has seeds")
                    continue
                terms.append(Term(pooled[0], pooled[1]))
                notes.append(f"{name}: one seed; the seeds' variance of {', '.join(pooled[2])} borrowed")
            else:
                terms.append(term)
    ma, mb = va.mean(0), vb.mean(0)
    est = (ma - mb).sum(0) / den.sum(0)
    boot = stats.boot_ratio(res.weights, ma - mb, den)
    return Diff(est, boot, res.n_photos, terms, (len(sa), len(sb)), notes, judged)

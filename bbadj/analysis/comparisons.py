"""Every comparison the report makes, in one table: ``comparisons.csv`` beside each report, from
which its verdicts, its headline and the README's sentences are written (docs/statistics.md).

One line per comparison and metric, in points:

- ``gain``: the default row (and, in the default tier, the best row) against the jittered boxes;
- ``ablation``: each row against its parent's mean over seeds;
- ``reachable``: a buffer ablation again, on the cases (edges, corners, boxes) every buffer of the
  pair can reach (``context``);
- ``two_budgets`` (the long tier's report): an ablation's difference at the long budget minus the
  one at the default budget, the interaction test of "does the budget change the answer".

Each difference has one 95% interval that adds the photograph bootstrap's variance and the seeds'
(``stats``), a two-sided p value, Holm's adjusted p value within its family (one set of one report:
every gain, ablation and reachable line; the two_budgets lines apart), the minimum detectable
difference at 80% power, and a verdict: better, worse or inconclusive (not judged where no
training variance is known).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.params import IDENTITY
from ..scoring import metrics
from . import stats
from .context import reachable_difference
from .differences import Diff, difference
from .results import Results

KINDS = ("gain", "ablation", "reachable", "two_budgets")
VERDICTS = ("better", "worse", "inconclusive", "not judged")
CORRECTION = "Holm"  # named in every caption that shows a verdict
COLUMNS = [
    "set",
    "role",
    "kind",
    "row",
    "parent",
    "metric",
    "difference",
    "low",
    "high",
    "p",
    "p_adjusted",
    "mdd",
    "verdict",
    "seeds_row",
    "seeds_parent",
    "se_photographs",
    "se_seeds",
    "df",
    "note",
]


# ------------------------------------------------------------------ which rows are compared


def best_model(res: Results) -> str:
    """The row with a model and the highest mean of the metrics (each signed so that higher is
    better) on ``res``'s set. Chosen on the set it is reported on, its numbers are optimistic: the
    report chooses it on a validation set and reports it on the test set."""
    if not res.models:
        raise ValueError(f"no row with a model has results on {res.eval_set}")
    sign = np.array([metrics.metric(k).better_sign for k in res.keys])
    return max(res.models, key=lambda n: float(np.mean(sign * res.seed_values(n).mean(0))))


def pairs(res: Results, best: str | None = None) -> list[tuple[str, str, str]]:
    """(row, parent, kind) of ``res``'s set, in file order: the default row's gain over the jittered
    boxes first (and ``best``'s, when another row), then every ablation against its parent."""
    params = res.params
    base = params.report.baseline
    out = [(n, IDENTITY, "gain") for n in dict.fromkeys([base, best or base]) if n in res.names]
    for name in res.models:
        p = stats.parent(params, name)
        if p is not None and p in res.names:
            out.append((name, p, "ablation"))
    return out


def _line(res: Results, kind: str, row: str, parent: str, d: Diff, note: str = "") -> list[dict]:
    se, df = stats.combine(d.terms())
    se_seeds = np.sqrt(sum(t.variance for t in d.seed_terms)) if d.seed_terms else np.zeros(len(d.est))
    lo, hi, p = stats.t_test(d.est, se, df)
    text = "; ".join(filter(None, [note, *d.notes]))
    return [
        {
            "set": res.eval_set,
            "role": res.role,
            "kind": kind,
            "row": row,
            "parent": parent,
            "metric": k,
            "difference": 100 * d.est[j],
            "low": 100 * lo[j],
            "high": 100 * hi[j],
            "p": p[j] if d.judged else np.nan,
            "se_photographs": 100 * np.sqrt(d.terms()[0].variance[j]),
            "se_seeds": 100 * se_seeds[j],
            "se": 100 * se[j],
            "df": df[j],
            "seeds_row": d.seeds[0],
            "seeds_parent": d.seeds[1],
            "note": text,
        }
        for j, k in enumerate(res.keys)
    ]


def single(res: Results, a: str, b: str) -> Any:
    """One difference on its own (no family, no verdict: the figures'), indexed by metric:
    difference, low, high, p, in points."""
    import pandas as pd

    return pd.DataFrame(_line(res, "single", a, b, difference(res, a, b))).set_index("metric")


def set_lines(res: Results, best: str | None = None) -> list[dict]:
    """Every gain, ablation and reachable line of one set (before the family's correction)."""
    lines = []
    for row, parent, kind in pairs(res, best):
        lines += _line(res, kind, row, parent, difference(res, row, parent))
        if kind == "ablation":
            reach = reachable_difference(res, row, parent)
            if reach is not None:
                d, ratio = reach
                lines += _line(res, "reachable", row, parent, d, f"cases reachable at buffer {float(ratio)}")
    return lines


def budget_lines(default: Results, long: Results) -> list[dict]:
    """Every ablation both tiers score on one set: long minus default, per metric."""
    if not np.array_equal(default.weights, long.weights):
        raise ValueError(
            f"{long.eval_set}: the tiers' photograph resamples differ (study.bootstrap, "
            f"bootstrap_seed or the boxes): their differences cannot be paired"
        )
    lines = []
    for row, parent, kind in pairs(long):
        if kind != "ablation" or row not in default.names or parent not in default.names:
            continue
        d = difference(long, row, parent) - difference(default, row, parent)
        lines += _line(long, "two_budgets", row, parent, d, "long minus default budget")
    return lines


def judge(lines: list[dict]) -> Any:
    """The lines of one family as a table: Holm's adjusted p values over the family, the minimum
    detectable difference at 80% power at Bonferroni's level (the strictest step of Holm's), and
    each verdict (better or worse: adjusted p below 0.05, by the metric's direction)."""
    import pandas as pd

    t = pd.DataFrame(lines)
    if t.empty:
        return pd.DataFrame(columns=COLUMNS)
    t["p_adjusted"] = stats.holm(t["p"].to_numpy())
    family = int(t["p"].notna().sum())
    t["mdd"] = stats.mdd(t["se"].to_numpy(), t["df"].to_numpy(), family)
    sign = t["metric"].map(lambda k: metrics.metric(k).better_sign)
    decided = t["p_adjusted"] < stats.ALPHA
    t["verdict"] = np.where(
        t["p"].isna(),
        "not judged",
        np.where(~decided, "inconclusive", np.where(sign * t["difference"] > 0, "better", "worse")),
    )
    return t[COLUMNS + ["se"]]


def table(
    results: dict[str, Results],
    best: dict[str, str] | None = None,
    default_tier: dict[str, Results] | None = None,
) -> Any:
    """Every comparison of a report: per set, its gain, ablation and reachable lines judged as one
    family, and (given the default tier's results) its two_budgets lines as another."""
    import pandas as pd

    best = best or {}
    parts = [judge(set_lines(res, best.get(s))) for s, res in results.items() if res.models]
    if default_tier is not None:
        parts += [
            judge(budget_lines(default_tier[s], res)) for s, res in results.items() if s in default_tier and res.models
        ]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS + ["se"])


def write(frame, path) -> None:
    """``comparisons.csv``: the table's columns of COLUMNS, points to 4 decimals, p values to 4
    significant digits."""
    from ..util.outputs import write_text

    t = frame[COLUMNS].copy()
    for c in ("difference", "low", "high", "mdd", "se_photographs", "se_seeds", "df"):
        t[c] = t[c].astype(float).round(4)
    for c in ("p", "p_adjusted"):
        t[c] = t[c].map(lambda v: "" if np.isnan(v) else f"{v:.4g}")
    write_text(path, t.to_csv(index=False))


def lines_of(frame, eval_set: str, kind: str, row: str | None = None, parent: str | None = None) -> Any:
    """The lines of one comparison (or of every comparison of a kind), indexed by metric."""
    t = frame[(frame["set"] == eval_set) & (frame["kind"] == kind)]
    if row is not None:
        t = t[t["row"] == row]
    if parent is not None:
        t = t[t["parent"] == parent]
    return t.set_index("metric") if row is not None else t

"""Each ablation's answer at two budgets: its difference from its parent in the default tier
(100 steps) and in the long tier (bbadj.core.tiers), side by side, and in words which answers hold
(real at both, the same sign), which flip (real at both, opposite signs) and which appear at one
budget only. "Real" is the report's rule at each budget (``stats.paired_difference``: beyond the
paired interval over boxes and that tier's own training noise)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..scoring.metrics import METRIC_KEYS, METRIC_LABELS
from ..core.params import IDENTITY
from .results import Results
from .stats import comparisons, paired_difference
from .tables import COLUMNS, pts, styled

BUDGETS = ("default", "long")


@dataclass
class Answer:
    """One ablation (``row`` against ``parent``) at both budgets, metric by metric."""

    row: str
    parent: str
    changes: str
    diffs: dict[str, Any]  # budget -> paired_difference frame
    holds: list[str] = field(default_factory=list)  # real at both budgets, the same sign
    flips: list[str] = field(default_factory=list)  # real at both, opposite signs
    only: dict[str, list[str]] = field(default_factory=dict)  # budget -> real there alone

    @property
    def verdict(self) -> str:
        if self.flips:
            return "flips"
        if self.holds:
            return "holds"
        if self.only["long"] and not self.only["default"]:
            return "long budget only"
        if self.only["default"] and not self.only["long"]:
            return "default budget only"
        if self.only["default"]:
            return "real at each budget on other metrics"
        return "no real difference at either budget"


def answers(short: Results, long: Results) -> list[Answer]:
    """Every ablation both tiers score on one set (rows against their parents, in file order)."""
    out = []
    for name, parent in comparisons(long):
        if parent == IDENTITY or name not in short.names or parent not in short.names:
            continue
        d = {"default": paired_difference(short, name, parent), "long": paired_difference(long, name, parent)}
        changed = short.params.changed(name, parent)
        a = Answer(name, parent, "; ".join(f"{k}: {x} → {y}" for k, (x, y) in changed.items()) or "evaluation only",
                   d, only={b: [] for b in BUDGETS})
        for k in METRIC_KEYS:
            real = {b: bool(d[b].loc[k, "real"]) for b in BUDGETS}
            if all(real.values()):
                same = (d["default"].loc[k, "diff"] > 0) == (d["long"].loc[k, "diff"] > 0)
                (a.holds if same else a.flips).append(k)
            for b in BUDGETS:
                if real[b] and not all(real.values()):
                    a.only[b].append(k)
        out.append(a)
    return out


def _signed(a: Answer, keys: list[str], budgets=BUDGETS) -> str:
    return ", ".join(f"{METRIC_LABELS[k]} " + " / ".join(pts(a.diffs[b].loc[k, "diff"]) for b in budgets) for k in keys)


def sentence(a: Answer) -> str:
    """One sentence: the verdict, then the metrics behind it with their differences in points."""
    head = f"`{a.row}` ({a.changes}, against `{a.parent}`)"
    parts = []
    if a.holds:
        signs = {a.diffs["long"].loc[k, "diff"] > 0 for k in a.holds}
        direction = ("better " if signs == {True} else "worse " if signs == {False} else "")
        parts.append(f"**holds**: {direction}at both budgets on {_signed(a, a.holds)} (default / long)")
    if a.flips:
        parts.append(f"**flips** on {_signed(a, a.flips)} (default / long)")
    for b in BUDGETS:
        if a.only[b]:
            parts.append(f"real at the {b} budget only on {_signed(a, a.only[b], (b,))}")
    return f"{head}: " + ("; ".join(parts) if parts else "no real difference at either budget") + "."


def answer_in_words(found: list[Answer]) -> str:
    """The study's question, "which design choices matter?", answered from both budgets."""
    groups = {}
    for a in found:
        groups.setdefault(a.verdict, []).append(f"`{a.row}`")
    order = [("holds", "matter at both budgets, in the same direction"),
             ("flips", "matter at both budgets, in opposite directions"),
             ("long budget only", "matter only once the model works (the long budget)"),
             ("default budget only", "mattered only at the default budget (gone with the long one)"),
             ("real at each budget on other metrics", "matter at each budget, on different metrics"),
             ("no real difference at either budget", "make no real difference at either budget")]
    said = [f"{', '.join(groups[v])} {words}" for v, words in order if v in groups]
    return ("**Which design choices matter?** " + "; ".join(said) + "." if said else
            "**Which design choices matter?** No ablation is scored at both budgets yet.")


def table(found: list[Answer]) -> Any:
    """Per ablation and metric: the difference at the default and at the long budget (points),
    bold where real, and the verdict."""
    import pandas as pd

    rows, bold = {}, set()
    for a in found:
        cells = []
        for k, col in zip(METRIC_KEYS, COLUMNS):
            cells.append(" / ".join(pts(a.diffs[b].loc[k, "diff"]) + ("" if a.diffs[b].loc[k, "real"] else " ·")
                                    for b in BUDGETS))
            if k in a.holds or k in a.flips:
                bold.add((a.row, col))
        rows[a.row] = [a.parent, a.changes, *cells, a.verdict]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["against", "what changes", *COLUMNS, "verdict"])
    return styled(frame, "Points, row minus the row it is compared with, at the default budget / at the long one, "
                         "each paired over the same boxes and draws. ·: not real at that budget (within its interval "
                         "or that tier's training noise). Bold: real at both budgets.", bold,
                  text=["against", "what changes", "verdict"])

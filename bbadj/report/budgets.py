"""Each ablation's answer at two budgets: its difference from its parent in the default tier (100
steps) and in the long tier (bbadj.core.tiers), and the difference of the two differences (long
minus default) with its own interval: the interaction test that says whether the budget changes the
answer. "Decided at one budget and not at the other" is not evidence that the budget matters; only
a decided difference of differences is (docs/statistics.md). Everything is read from the two tiers'
comparisons tables (``comparisons``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..scoring import metrics
from ..analysis.comparisons import CORRECTION, lines_of
from .tables import SMALL, columns, signed, styled

BUDGETS = ("default", "long")
DECIDED = ("better", "worse")
ORDER = [
    ("changes", "the budget changes the answer (the difference of differences decided)"),
    ("holds", "the same answer at both budgets"),
    (
        "one budget",
        "decided at one budget only; the other budget's difference is not shown to differ from "
        "it (the difference of differences inconclusive)",
    ),
    ("neither", "inconclusive at both budgets"),
]
# the table's column
SHORT = {
    "changes": "the budget changes it",
    "holds": "same at both",
    "one budget": "one budget only",
    "neither": "inconclusive at both",
}


@dataclass
class Answer:
    """One ablation (``row`` against ``parent``) at both budgets, metric by metric."""

    row: str
    parent: str
    # "default", "long", "both" (long - default) -> comparisons lines, by metric
    lines: dict[str, Any]
    changes: list[str] = field(default_factory=list)  # the difference of differences decided
    holds: list[str] = field(default_factory=list)  # decided at both budgets, the same direction
    # budget -> decided there only, no interaction
    one: dict[str, list[str]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.changes:
            return "changes"
        if self.holds:
            return "holds"
        if any(self.one.values()):
            return "one budget"
        return "neither"


def answers(default_frame, long_frame, eval_set: str) -> list[Answer]:
    """Every ablation both tiers score on ``eval_set``, from the default tier's comparisons and the
    long tier's (its ablation and two_budgets lines)."""
    out = []
    both = lines_of(long_frame, eval_set, "two_budgets")
    for (row, parent), inter in both.groupby(["row", "parent"], sort=False):
        lines = {
            "default": lines_of(default_frame, eval_set, "ablation", row, parent),
            "long": lines_of(long_frame, eval_set, "ablation", row, parent),
            "both": inter.set_index("metric"),
        }
        a = Answer(row, parent, lines, one={b: [] for b in BUDGETS})
        for k in lines["both"].index:
            v = {b: lines[b].loc[k, "verdict"] for b in BUDGETS}
            if lines["both"].loc[k, "verdict"] in DECIDED:
                a.changes.append(k)
            elif v["default"] in DECIDED and v["default"] == v["long"]:
                a.holds.append(k)
            else:
                for b in BUDGETS:
                    if v[b] in DECIDED:
                        a.one[b].append(k)
        out.append(a)
    return out


def _each(a: Answer, keys: list[str], budgets=BUDGETS) -> str:
    return ", ".join(
        f"{metrics.label(k)} " + " / ".join(signed(a.lines[b].loc[k, "difference"]) for b in budgets) for k in keys
    )


def sentence(a: Answer) -> str:
    """One sentence: what the interaction test decided, then what holds and what is decided at one
    budget only, with the differences in points (default / long)."""
    both = a.lines["both"]

    def diff(budget: str, k: str) -> str:
        return signed(a.lines[budget].loc[k, "difference"])

    def mdds(keys) -> str:
        return ", ".join(f"{metrics.label(k)} {both.loc[k, 'mdd']:.1f}" for k in keys)

    parts = []
    if a.changes:
        parts.append(
            "**the budget changes it** on "
            + ", ".join(
                f"{metrics.label(k)} ({diff('default', k)} at the default budget, "
                f"{diff('long', k)} at the long one: long minus default "
                f"{signed(both.loc[k, 'difference'])} "
                f"[{signed(both.loc[k, 'low'])}, {signed(both.loc[k, 'high'])}])"
                for k in a.changes
            )
        )
    if a.holds:
        signs = "/".join(sorted({a.lines["long"].loc[k, "verdict"] for k in a.holds}))
        parts.append(f"**holds**: {signs} at both budgets on {_each(a, a.holds)} (default / long)")
    for b in BUDGETS:
        if a.one[b]:
            parts.append(
                f"decided at the {b} budget only on {_each(a, a.one[b])} (default / long), "
                f"the budget's effect inconclusive (could have seen {mdds(a.one[b])})"
            )
    if not parts:
        parts.append(
            "inconclusive at both budgets and between them (the budget's effect could have "
            f"been seen from {mdds(both.index)})"
        )
    return f"`{a.row}` (against `{a.parent}`): " + "; ".join(parts) + "."


def answer_in_words(found: list[Answer]) -> str:
    """The study's question, "which design choices matter?", answered from both budgets."""
    groups: dict[str, list[str]] = {}
    for a in found:
        groups.setdefault(a.verdict, []).append(f"`{a.row}`")
    said = [f"{', '.join(groups[v])}: {words}" for v, words in ORDER if v in groups]
    return (
        "**Which design choices matter, and does the budget change the answer?** " + "; ".join(said) + "."
        if said
        else "**Which design choices matter?** No ablation is scored at both budgets yet."
    )


def table(found: list[Answer]) -> Any:
    """Per ablation and metric: the difference at the default and at the long budget (points, each
    marked · where inconclusive), and under them long minus default with its interval, shaded where
    that is decided."""
    import pandas as pd

    rows, shade = {}, {}
    keys = list(found[0].lines["both"].index) if found else list(metrics.metric_keys())
    for a in found:
        cells = []
        for k, col in zip(keys, columns(keys)):
            both = a.lines["both"].loc[k]
            cells.append(
                " / ".join(
                    signed(a.lines[b].loc[k, "difference"]) + ("" if a.lines[b].loc[k, "verdict"] in DECIDED else " ·")
                    for b in BUDGETS
                )
                + SMALL.format(f"Δ {signed(both['difference'])} [{signed(both['low'])}, {signed(both['high'])}]")
            )
            if both["verdict"] in DECIDED:
                shade[(a.row, col)] = "changes"
        rows[a.row] = [a.parent, *cells, SHORT[a.verdict]]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["against", *columns(keys), "answer"])
    return styled(
        frame,
        f"Points, the row's mean over its seeds minus its parent's, at the default budget / at the "
        f"long one (·: inconclusive at that budget), and under them Δ, the long budget's "
        f"difference minus the default's, with its 95% interval (photographs and both tiers' "
        f"seeds). Shaded: "
        f"the budget changes the answer, long minus default decided ({CORRECTION}-adjusted "
        f"p < 0.05 over the two_budgets lines of comparisons.csv).",
        shade,
        text=["against", "answer"],
    )

"""The report's sentences, written from the comparisons table (``comparisons``) each time it is
rendered: how far the main row is from the paper, which design choices matter at this budget, and
the rule that decides."""

from __future__ import annotations

import numpy as np

from ..core.params import IDENTITY
from ..scoring import metrics
from ..analysis.comparisons import CORRECTION, lines_of
from ..analysis.results import Results
from .tables import headroom, signed

NUMBERS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
}


def _names(keys) -> str:
    keys = [metrics.label(k) for k in keys]
    return ", ".join(keys) if keys else "none"


def _count(n: int) -> str:
    return NUMBERS.get(n, str(n))


def reached(line, key: str) -> bool:
    """A decided gain at or above the aim, both as the tables round them (one decimal)."""
    return line["verdict"] == "better" and round(line["difference"], 1) >= round(metrics.metric(key).aim, 1)


def headline(
    res: Results,
    frame,
    best: str,
    chosen_before: bool = False,
    best_of_all: str | None = None,
    chosen_on: str | None = None,
) -> str:
    """How far ``best`` is from the paper on ``res``'s set: which gains are decided, which reach
    half the paper's, by how much the others fall short, the share of the paper's gain and of the
    headroom. ``best``: the row chosen before the run (``chosen_before``, the default row;
    ``best_of_all`` named beside it), or the best row, chosen on the set ``chosen_on``."""
    d = lines_of(frame, res.eval_set, "gain", best, IDENTITY)
    keys = list(res.keys)
    decided = [k for k in keys if d.loc[k, "verdict"] == "better"]
    undecided = [k for k in keys if k not in decided]
    reach = [k for k in keys if reached(d.loc[k], k)]
    gap = {k: round(metrics.metric(k).aim, 1) - round(d.loc[k, "difference"], 1) for k in keys}
    short = [f"{metrics.label(k)} by {gap[k]:.1f}" for k in keys if k not in reach]
    share = np.array([d.loc[k, "difference"] / metrics.metric(k).gain for k in keys])
    room = np.array([headroom(100 * res.value(IDENTITY, k), d.loc[k, "difference"]) for k in keys])
    paper_room = np.array([headroom(metrics.metric(k).jittered, metrics.metric(k).gain) for k in keys])
    who = (
        f"the default row, `{best}`, chosen before the run"
        if chosen_before
        else f"the best model, `{best}` ({res.params.describe(best)})"
    )
    seeds = int(d["seeds_row"].iloc[0])
    every = f"**all {_count(len(keys))} metrics**"
    text = (
        f"On **{res.source}**, {who} ({_count(seeds)} seed{'s' * (seeds > 1)}), improves on the "
        f"jittered boxes on {every if not undecided else _names(decided)} ({CORRECTION}-adjusted "
        f"p < 0.05, the interval adding the photographs' and the seeds' variance)"
    )
    if undecided and decided:
        text += "; inconclusive on " + ", ".join(
            f"{metrics.label(k)} ({signed(d.loc[k, 'difference'])}, could have seen {d.loc[k, 'mdd']:.1f})"
            for k in undecided
        )
    text += (
        f". Its gains are {share.min():.2f} to {share.max():.2f} of the paper's Snapper gains "
        f"(mean {share.mean():.2f}) and {room.min():.2f} to {room.max():.2f} of the headroom its "
        f"jittered boxes leave (the paper's: {paper_room.min():.2f} to {paper_room.max():.2f}); "
    )
    text += (
        "they reach the aim, half the paper's gain, on every metric."
        if not short
        else f"they reach the aim, half the paper's gain, on {_names(reach)}, and fall short on "
        f"{'; '.join(short)} points."
    )
    if chosen_before:
        return text + (f" The best row on this set is `{best_of_all}`." if best_of_all and best_of_all != best else "")
    if chosen_on and chosen_on != res.eval_set:
        return text + f" The best row was chosen on `{chosen_on}`, the validation set, and is reported here."
    return text + (
        f" The best of several rows, chosen on the set it is reported on: its numbers are "
        f"optimistic (`{res.params.report.baseline}`, the default row, is the row chosen "
        "beforehand)."
    )


def _cells(t, keys) -> str:
    return ", ".join(f"{metrics.label(k)} {signed(t.loc[k, 'difference'])}" for k in keys)


def answer(res: Results, frame) -> str:
    """The study's question at this budget, "which design choices matter?", in words and a few
    bullets: the rows decided better, worse, those inconclusive on every metric with what the data
    could have seen, and what remains of the buffer ablations on the cases every buffer reaches."""
    groups = {"better": [], "worse": [], "none": []}
    for (row, parent), t in lines_of(frame, res.eval_set, "ablation").groupby(["row", "parent"], sort=False):
        t = t.set_index("metric")
        said = False
        for v in ("better", "worse"):
            keys = [k for k in res.keys if t.loc[k, "verdict"] == v]
            if keys:
                groups[v].append(f"`{row}` ({_cells(t, keys)})")
                said = True
        if not said:
            groups["none"].append(f"`{row}` (could have seen {_cells_mdd(t, res.keys)})")
    bullets = [
        f"- {words}: {'; '.join(groups[v])}"
        for v, words in (
            ("better", "better than its parent"),
            ("worse", "worse than its parent"),
            ("none", "inconclusive on every metric"),
        )
        if groups[v]
    ]
    for (row, parent), t in lines_of(frame, res.eval_set, "reachable").groupby(["row", "parent"], sort=False):
        t = t.set_index("metric")
        where = t["note"].iloc[0].split(";")[0].replace("cases reachable at buffer ", "")
        said = [
            f"{v} on {_cells(t, keys)}"
            for v in ("worse", "better")
            if (keys := [k for k in res.keys if t.loc[k, "verdict"] == v])
        ]
        bullets.append(
            f"- `{row}` against `{parent}` on the cases both crops reach (those inside the crop at "
            f"buffer {where}): " + ("; ".join(said) or "decided on no metric")
        )
    family = int(frame[(frame["set"] == res.eval_set) & (frame["kind"] != "two_budgets")]["p"].notna().sum())
    return (
        f"**Which design choices matter at this budget?** On {res.eval_set} ({res.role} set), each "
        f"row's mean over its seeds against its parent's, in points, decided where the "
        f"{CORRECTION}-adjusted p over this set's {family} tests is below 0.05:\n\n"
        + ("\n".join(bullets) if bullets else "- no ablation here")
    )


def _cells_mdd(t, keys) -> str:
    return ", ".join(f"{metrics.label(k)} {t.loc[k, 'mdd']:.1f}" for k in keys)


def rule(res: Results, frame) -> str:
    """The rule in words, with this set's seeds and the size of its family of tests."""
    family = int(frame[(frame["set"] == res.eval_set) & (frame["kind"] != "two_budgets")]["p"].notna().sum())
    seeds = {n: len(res.seeds[n]) for n in res.models if res.params[n].trained}
    counts = sorted(set(seeds.values()))
    text = (
        f"Each difference is the row's mean over its seeds minus its parent's, on the same boxes "
        f"and draws. Its 95% interval adds two variances: the sampling one, from "
        f"{res.params.report.bootstrap} resamples of the {res.n_photos} photographs (the boxes of "
        f"one photograph stay together), and the training one, each trained side's variance over "
        f"its seeds divided by their number; the multiplier is Student's t at the "
        f"Welch-Satterthwaite degrees of freedom, honest for a few seeds. A difference is decided "
        f"(better or worse) where its {CORRECTION}-adjusted p value over this set's {family} "
        f"tests is below 0.05, else inconclusive (docs/statistics.md). Trained rows here have "
        f"{' to '.join(str(c) for c in counts) if counts else 'no'} seed(s)."
    )
    borrowed = sorted({n for n in lines_of(frame, res.eval_set, "ablation")["note"] if "borrowed" in n})
    if borrowed:
        text += (
            " A row trained once (the study's older layout) borrows the pooled seeds' variance of "
            "the rows that have seeds."
        )
    return text

"""The report's sentences, computed from the numbers each time it is rendered: how far the best
model is from the paper, what each ablation changes, and how the rule judges them."""
from __future__ import annotations

import numpy as np

from ..scoring.metrics import METRIC_KEYS, METRIC_LABELS, pct
from ..core.params import IDENTITY
from .results import Results
from .stats import comparisons, noise_sd, paired_difference, rerun_sd, reruns
from .tables import AIM, PAPER_GAIN, pts


def _names(keys) -> str:
    keys = [METRIC_LABELS[k] for k in keys]
    return ", ".join(keys) if keys else "none"


def headline(res: Results, best: str, chosen_before: bool = False, best_of_all: str | None = None) -> str:
    """How far ``best`` is from the paper on ``res``'s set: which gains are real, which reach half
    the paper's, by how much the others fall short, and the share of the paper's gain. ``best`` is
    the best row on this set, or with ``chosen_before`` the row chosen before the run (the default
    row), ``best_of_all`` then named beside it."""
    d = paired_difference(res, best, IDENTITY)
    real = [k for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] > 0]
    reach = [k for k in real if pct(d.loc[k, "diff"]) >= AIM[k]]
    short = [f"{METRIC_LABELS[k]} by {AIM[k] - pct(d.loc[k, 'diff']):.1f}" for k in METRIC_KEYS if k not in reach]
    share = np.array([pct(d.loc[k, "diff"]) / PAPER_GAIN[k] for k in METRIC_KEYS])
    who = (f"the default row, `{best}`, chosen before the run" if chosen_before
           else f"the best model, `{best}` ({res.params.describe(best)})")
    text = (f"On **{res.source}**, {who}, improves on the jittered "
            f"boxes beyond the interval and the training noise on "
            f"{'**all six metrics**' if len(real) == len(METRIC_KEYS) else _names(real)}. Its gains are "
            f"{share.min():.2f} to {share.max():.2f} of the paper's Snapper gains (mean {share.mean():.2f}); ")
    text += ("they reach the aim, half the paper's gain, on every metric." if not short else
             f"they reach the aim, half the paper's gain, on {_names(reach)}, and fall short on {'; '.join(short)} "
             f"points.")
    if chosen_before:
        return text + (f" The best row on this set is `{best_of_all}`." if best_of_all and best_of_all != best else "")
    return text + (f" The best of several rows, chosen on the set it is reported on: its numbers are optimistic "
                   f"(`{res.params.report.baseline}`, the default row, is the row chosen beforehand).")


def ablation_verdicts(res: Results) -> str:
    """One line per row against its parent: better or worse where real, else no difference."""
    lines = []
    for name, parent in comparisons(res):
        if parent == IDENTITY:
            continue
        d = paired_difference(res, name, parent)
        if not d["judged"].any():
            lines.append(f"- `{name}` vs `{parent}`: not judged (no reruns of either recipe).")
            continue
        up = [f"{METRIC_LABELS[k]} {pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] > 0]
        down = [f"{METRIC_LABELS[k]} {pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS if d.loc[k, "real"] and d.loc[k, "diff"] < 0]
        verdict = "; ".join(filter(None, [f"better on {', '.join(up)}" if up else "",
                                          f"worse on {', '.join(down)}" if down else ""]))
        lines.append(f"- `{name}` vs `{parent}`: {verdict or 'no real difference'}.")
    return "\n".join(lines)


def rule(res: Results) -> str:
    """The rule in words, with this set's training noise and the count of tests."""
    baseline = res.params.report.baseline
    sd = rerun_sd(res, baseline)
    tests = [c for c in comparisons(res) if c[1] != IDENTITY]
    text = ("A difference is real when its paired 95% interval over boxes excludes 0 **and** it is larger than the "
            "training noise: 2 sd of its recipe's reruns (rows that differ only in `train.seed` or `train.threads`: "
            "other seeds, and float sums in another order, as on another CPU), each sd at least `study.noise_floor` "
            "(what reruns on other machines showed, docs/noise.md), per independently trained model in the pair "
            "(2 x sqrt(2) sd between two trained rows). Two rows scored with one model share its training: only the "
            "interval judges them.")
    if sd is not None:
        runs = [n for n in reruns(res.params, baseline) if n in res.names]
        used = noise_sd(res, baseline)
        text += (f" Here `{baseline}` was trained {len(runs)} times ({', '.join(f'`{n}`' for n in runs)}); the sd in "
                 f"points, and the one the rule takes: " + ", ".join(
                     f"{METRIC_LABELS[k]} {100 * s:.2f}" + (f" ({100 * u:.2f})" if u > s else "")
                     for k, s, u in zip(METRIC_KEYS, sd, used)) + ".")
    else:
        text += f" `{baseline}` has no reruns here, so the differences between trained rows are **not judged**."
    text += (f" {len(tests) * len(METRIC_KEYS)} differences are tested on this set; at 95% each, about "
             f"{0.05 * len(tests) * len(METRIC_KEYS):.1f} would clear the interval by chance alone (no correction for "
             f"multiple comparisons: a single small difference is a lead, not a result).")
    return text

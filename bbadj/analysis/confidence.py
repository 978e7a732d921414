"""Does a snapped edge say how far off it is? The annotation-tool question: which edges can be
accepted without a look. Every edge of every box and draw is one case; it is *accurate* when it
lies within 1 px of the true edge. Three scores rank the cases:

- ``err_px``: the model's expected absolute error in image pixels (its edge distribution's mean
  distance from the decoded position, times the crop's pixels per position);
- ``size``: the rough box's side along the edge's axis alone (smaller boxes have finer crops);
- ``conf``: the probability mass near the decoded position (in crop positions, blind to scale).

Intervals resample photographs (each box keeps its four edges, all its draws and seeds), with the
report's resamples. AUROCs are shown, compared with their aims and subtracted at three decimals,
rounded once (``r3``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.box_ops import EDGE_COORDS
from .results import Results
from .stats import percentile_interval

ACCURATE_PX = 1.0  # "edge within 1 px", the paper's finest edge metric
AUROC_AIM = 0.85
SIZE_BINS = 5  # within-size AUROC: the mean over these equal-count bins of the box side
WITHIN_SIZE_AIM = 0.75  # the long tier's default row's aim for it
SCORES = {"err_px": "expected error (px)", "size": "box size alone", "conf": "confidence (crop positions)"}
_AXIS = {"top": ("y0", "y1"), "bottom": ("y0", "y1"), "left": ("x0", "x1"), "right": ("x0", "x1")}


def edge_cases(res: Results, name: str) -> Any:
    """Long DataFrame, one row per (draw, box, edge): ``box`` (row of ``res.values``, for the
    bootstrap), ``edge``, ``err_px`` (predicted), ``size`` (rough box side, px), ``conf``,
    ``abs_err`` (observed, px) and ``accurate`` (abs_err < 1 px)."""
    import pandas as pd

    df = res.per_box[name]
    box = pd.Index(res.values[name].index).get_indexer(df["ann_id"])
    parts = [
        pd.DataFrame(
            {
                "box": box,
                "edge": e,
                "conf": df[f"conf_{e}"].to_numpy(),
                "err_px": df[f"err_px_{e}"].to_numpy() if f"err_px_{e}" in df else np.nan,
                "size": (df[f"jit_{_AXIS[e][1]}"] - df[f"jit_{_AXIS[e][0]}"]).to_numpy(),
                "abs_err": (df[f"adj_{c}"] - df[f"gt_{c}"]).abs().to_numpy(),
            }
        )
        for e, c in EDGE_COORDS.items()
    ]
    d = pd.concat(parts, ignore_index=True)
    d["accurate"] = d.abs_err < ACCURATE_PX
    return d


def has_confidence(res: Results, name: str) -> bool:
    """Identity and GrabCut have none (NaN)."""
    d = edge_cases(res, name)
    return bool(d.err_px.notna().all() and d.err_px.nunique() > 1)


def ranking(d, score: str) -> np.ndarray:
    """Higher ranks first: a small expected error or box, a high confidence."""
    return d[score].to_numpy() if score == "conf" else -d[score].to_numpy()


def r3(x: float) -> float:
    """An AUROC as every sentence and table of the report shows it: three decimals."""
    return round(float(x), 3)


def weighted_auroc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of ``score`` for ``positive`` under each row of ``weights`` (n_sets, n_cases): the
    weighted Mann-Whitney statistic, ties counted half. Written out because the bootstrap needs a
    thousand weighted AUROCs per score, and one sort of the cases serves all of them."""
    order = np.argsort(score, kind="stable")
    score, positive, weights = score[order], positive[order].astype(bool), np.atleast_2d(weights)[:, order]
    starts = np.flatnonzero(np.r_[True, np.diff(score) != 0])  # groups of tied scores
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def within_size(d, score: str, weights: np.ndarray) -> np.ndarray:
    """The mean over ``SIZE_BINS`` equal-count bins of the box side of ``score``'s AUROC within the
    bin: how well it ranks the edges of boxes of one size (box size alone ranks them barely)."""
    import pandas as pd

    bins = pd.qcut(d["size"].rank(method="first"), SIZE_BINS, labels=False).to_numpy()
    pos, rank = d.accurate.to_numpy(), ranking(d, score)
    return np.mean(
        [weighted_auroc(rank[bins == b], pos[bins == b], weights[:, bins == b]) for b in range(SIZE_BINS)], axis=0
    )


def within_size_ceiling(res: Results, name: str, draws: int = 20, seed: int = 0) -> float:
    """What ``within_size`` would be for err_px if it were exactly right: each edge's error drawn
    from a Laplace distribution with mean absolute error err_px (the error model of ``bbadj snap``'s
    probability rule), the mean over ``draws`` such draws. A ranking cannot beat chance by more than
    the spread of its expected errors allows: this says how much of the shortfall is the model's
    sharpness rather than its ranking."""
    d = edge_cases(res, name)
    rng = np.random.default_rng(seed)
    ones = np.ones((1, len(d)))
    out = []
    for _ in range(draws):
        e = d.assign(accurate=np.abs(rng.laplace(0.0, d.err_px.to_numpy())) < ACCURATE_PX)
        out.append(within_size(e, "err_px", ones)[0])
    return float(np.mean(out))


def auroc(res: Results, name: str) -> Any:
    """Per score: the AUROC for "edge within 1 px" with its 95% interval over boxes, the paired
    difference of each score's AUROC from box size's (what the model's distribution adds), and the
    within-size AUROC (``within_size``) with its interval."""
    import pandas as pd

    d = edge_cases(res, name)
    pos = d.accurate.to_numpy()
    weights = res.weights[:, d.box.to_numpy()]
    ones = np.ones((1, len(d)))
    point = {s: float(weighted_auroc(ranking(d, s), pos, ones)[0]) for s in SCORES}
    boot = {s: weighted_auroc(ranking(d, s), pos, weights) for s in SCORES}
    rows = {}
    for s in SCORES:
        lo, hi = percentile_interval(boot[s])
        dlo, dhi = percentile_interval(boot[s] - boot["size"])
        wlo, whi = percentile_interval(within_size(d, s, weights))
        rows[s] = {
            "auroc": point[s],
            "lo": float(lo),
            "hi": float(hi),
            "vs_size": point[s] - point["size"],
            "vs_size_lo": float(dlo),
            "vs_size_hi": float(dhi),
            "within_size": float(within_size(d, s, ones)[0]),
            "within_lo": float(wlo),
            "within_hi": float(whi),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs.update(accurate=float(pos.mean()), edges=len(d))
    return out


def reliability(res: Results, name: str, n_bins: int = 10) -> Any:
    """Edges in ``n_bins`` equal-count bins of predicted error: the mean predicted and the mean
    observed absolute error (px, with its 95% interval), and the share within 1 px."""
    import pandas as pd

    d = edge_cases(res, name)
    d["bin"] = pd.qcut(d.err_px.rank(method="first"), n_bins, labels=False)
    n_boxes = len(res.values[name])
    total, err = np.zeros((n_boxes, n_bins)), np.zeros((n_boxes, n_bins))
    np.add.at(total, (d.box, d.bin), 1.0)
    np.add.at(err, (d.box, d.bin), d.abs_err.to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (res.weights @ err) / (res.weights @ total)  # (n_boot, n_bins)
    g = d.groupby("bin").agg(
        predicted=("err_px", "mean"),
        observed=("abs_err", "mean"),
        accurate=("accurate", "mean"),
        edges=("err_px", "size"),
    )
    g["lo"], g["hi"] = percentile_interval(boot)
    return g


def selective_curve(res: Results, name: str, steps: int = 100) -> Any:
    """Accept the k% best-ranked edges, for k = 1..100%: the share of them within 1 px, for each
    score, beside a random pick (the overall share) and a perfect ranking (accurate edges first)."""
    import pandas as pd

    d = edge_cases(res, name)
    k = np.linspace(1, 100, steps)
    n = np.maximum(1, np.round(k / 100 * len(d)).astype(int))
    out = {"accepted": k}
    for s in SCORES:
        acc = d.accurate.to_numpy(float)[np.argsort(-ranking(d, s), kind="stable")]
        out[s] = np.cumsum(acc)[n - 1] / n
    acc = d.accurate.to_numpy(float)
    out["random"] = np.full(steps, acc.mean())
    out["perfect"] = np.minimum(1.0, acc.sum() / n)
    return pd.DataFrame(out)


def _signed(x: float) -> str:
    """+0.016, -0.002; never -0.000."""
    return f"{r3(x) + 0.0:+.3f}".replace("-0.000", "+0.000")


def _aim(value: float, aim: float, what: str) -> str:
    """Reaches the aim, or falls short by the difference of the two numbers as shown."""
    value = r3(value)
    return (
        f"reaches {what} of {aim:.3f}" if value >= aim else f"falls short of {what} of {aim:.3f} by {aim - value:.3f}"
    )


def short_table(a) -> Any:
    """The trust section's table: per score, its AUROC for "within 1 px" and its AUROC among boxes
    of one size, each with its 95% interval (three decimals)."""
    import pandas as pd

    def cell(s: str, value: str, lo: str, hi: str) -> str:
        return f"{r3(a.loc[s, value]):.3f} [{r3(a.loc[s, lo]):.3f}, {r3(a.loc[s, hi]):.3f}]"

    within = [cell(s, "within_size", "within_lo", "within_hi") for s in SCORES]
    return pd.DataFrame(
        {"AUROC [95%]": [cell(s, "auroc", "lo", "hi") for s in SCORES], "among boxes of one size [95%]": within},
        index=[SCORES[s] for s in SCORES],
    )


def conclusion(res: Results, name: str, a=None) -> str:
    """The trust section's one sentence: does the expected error rank accurate edges first, beyond
    box size, against the aims."""
    a = auroc(res, name) if a is None else a
    e = a.loc["err_px"]
    long_aim = _aim(e.within_size, WITHIN_SIZE_AIM, "the long tier's aim")
    adds = (
        "adds to what box size alone tells"
        if e.vs_size_lo > 0
        else "tells **less** than box size alone"
        if e.vs_size_hi < 0
        else "does **not** add to what box size alone tells"
    )
    return (
        f"On {res.eval_set}, `{name}`'s expected error ranks the edges that land within "
        f"{ACCURATE_PX:g} px first with AUROC {r3(e.auroc):.3f} against "
        f"{r3(a.loc['size', 'auroc']):.3f} for box size alone: it {adds} ({_signed(e.vs_size)} "
        f"[{_signed(e.vs_size_lo)}, {_signed(e.vs_size_hi)}]), "
        f"{_aim(e.auroc, AUROC_AIM, 'the aim')}, and among boxes of one size "
        f"({r3(e.within_size):.3f}) {long_aim}."
    )


def detail(res: Results, name: str, a=None, accept: float = 25.0) -> str:
    """The rest, for the appendix: the ceiling a perfect err_px would reach among boxes of one
    size, and what accepting the ``accept``% best-ranked edges without review gives."""
    a = auroc(res, name) if a is None else a
    c = selective_curve(res, name)
    top = float(np.interp(accept, c.accepted, c.err_px))
    size_top = float(np.interp(accept, c.accepted, c["size"]))
    return (
        f"On {res.eval_set}, `{name}`: were err_px exactly each edge's expected error (Laplace "
        f"errors of that mean), it would rank the edges of one size at "
        f"{r3(within_size_ceiling(res, name)):.3f} (it ranks them at "
        f"{r3(a.loc['err_px', 'within_size']):.3f}). Accepting the {accept:g}% of edges it is "
        f"surest of without review accepts edges within {ACCURATE_PX:g} px {100 * top:.0f}% of "
        f"the time ({100 * size_top:.0f}% by box size, {100 * a.attrs['accurate']:.0f}% for all "
        "edges)."
    )

"""Does the per-edge confidence predict the error? The annotation-tool question: which snapped
edges can be accepted without a look. Every edge of every box and draw is one case; it is
*accurate* when it lies within 1 px of the true edge. Intervals resample boxes (each keeps its
four edges and all its draws), with the same resamples as the report's other intervals."""
from __future__ import annotations

from typing import Any

import numpy as np

from .evaluation import EDGE_COLUMNS
from .stats import Results


ACCURATE_PX = 1.0  # "edge within 1 px", the paper's finest edge metric


def edge_cases(res: Results, name: str) -> Any:
    """Long DataFrame, one row per (draw, box, edge): ``box`` (row of ``res.values``, for the
    bootstrap), ``edge``, ``conf``, ``abs_err`` (px) and ``accurate`` (abs_err < 1 px)."""
    import pandas as pd

    df = res.per_box[name]
    box = pd.Index(res.values[name].index).get_indexer(df["ann_id"])
    parts = [pd.DataFrame({"box": box, "edge": e, "conf": df[f"conf_{e}"].to_numpy(),
                           "abs_err": (df[f"adj_{c}"] - df[f"gt_{c}"]).abs().to_numpy()})
             for e, c in EDGE_COLUMNS.items()]
    d = pd.concat(parts, ignore_index=True)
    d["accurate"] = d.abs_err < ACCURATE_PX
    return d


def has_confidence(res: Results, name: str) -> bool:
    """Identity has no confidence (NaN); GrabCut's is a constant."""
    conf = edge_cases(res, name).conf
    return bool(conf.notna().all() and conf.nunique() > 1)


def _box_weights(idx: np.ndarray, n_boxes: int) -> np.ndarray:
    """(n_boot, n_boxes): how often each box occurs in each resample."""
    w = np.zeros((len(idx), n_boxes))
    np.add.at(w, (np.arange(len(idx))[:, None], idx), 1.0)
    return w


def weighted_auroc(conf: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of ``conf`` for ``positive`` under each row of ``weights`` (n_sets, n_cases): the
    weighted Mann-Whitney statistic, ties counted half. Written out because the bootstrap needs a
    thousand weighted AUROCs per row, and one sort of the cases serves all of them."""
    order = np.argsort(conf, kind="stable")
    conf, positive, weights = conf[order], positive[order].astype(bool), np.atleast_2d(weights)[:, order]
    starts = np.flatnonzero(np.r_[True, np.diff(conf) != 0])  # groups of tied confidences
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def auroc(res: Results, name: str) -> dict[str, float]:
    """AUROC of the confidence for "edge within 1 px", with its 95% bootstrap interval over boxes."""
    d = edge_cases(res, name)
    conf, pos = d.conf.to_numpy(), d.accurate.to_numpy()
    point = float(weighted_auroc(conf, pos, np.ones(len(d)))[0])
    boot = weighted_auroc(conf, pos, _box_weights(res.idx, len(res.values[name]))[:, d.box.to_numpy()])
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    return {"auroc": point, "lo": float(lo), "hi": float(hi), "accurate": float(pos.mean()), "edges": len(d)}


def auroc_table(res: Results) -> Any:
    """AUROC (with interval) and the share of accurate edges of every row with a confidence."""
    import pandas as pd

    rows = {n: auroc(res, n) for n in res.names if has_confidence(res, n)}
    return pd.DataFrame.from_dict(rows, orient="index")


def reliability(res: Results, name: str, n_bins: int = 10) -> Any:
    """Edges in ``n_bins`` equal-count bins of confidence: mean confidence, share accurate with
    its 95% interval, mean |error| (px)."""
    import pandas as pd

    d = edge_cases(res, name)
    d["bin"] = pd.qcut(d.conf.rank(method="first"), n_bins, labels=False)
    n_boxes = len(res.values[name])
    # per box and bin: edges and accurate edges, so a resample of boxes sums their rows
    total = np.zeros((n_boxes, n_bins))
    hits = np.zeros((n_boxes, n_bins))
    np.add.at(total, (d.box, d.bin), 1.0)
    np.add.at(hits, (d.box, d.bin), d.accurate.to_numpy(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = hits[res.idx].sum(1) / total[res.idx].sum(1)  # (n_boot, n_bins)
    g = d.groupby("bin").agg(conf=("conf", "mean"), accurate=("accurate", "mean"), abs_err=("abs_err", "mean"),
                             edges=("conf", "size"))
    g["lo"], g["hi"] = np.nanquantile(boot, 0.025, axis=0), np.nanquantile(boot, 0.975, axis=0)
    return g


def selective_curve(res: Results, name: str, steps: int = 100) -> Any:
    """Accept the k% most confident edges: the share of them that is accurate, for k = 1..100%,
    beside a random pick (the overall share) and a perfect ranking (all accurate edges first)."""
    import pandas as pd

    d = edge_cases(res, name).sort_values("conf", ascending=False, kind="stable")
    acc = d.accurate.to_numpy(float)
    k = np.linspace(1, 100, steps)
    n = np.maximum(1, np.round(k / 100 * len(acc)).astype(int))
    cum = np.cumsum(acc)
    return pd.DataFrame({"accepted": k, "accurate": cum[n - 1] / n,
                         "random": acc.mean(), "perfect": np.minimum(1.0, acc.sum() / n)})


def conclusion(res: Results, name: str, accept: float = 25.0) -> str:
    """One computed sentence: does the confidence rank accurate edges first, and what would
    accepting the ``accept``% most confident edges automatically give?"""
    a = auroc(res, name)
    curve = selective_curve(res, name)
    top = float(np.interp(accept, curve.accepted, curve.accurate))
    verdict = ("ranks accurate edges ahead of inaccurate ones better than chance" if a["lo"] > 0.5 else
               "ranks accurate edges **worse** than chance" if a["hi"] < 0.5 else
               "does **not** rank accurate edges better than chance (the interval includes 0.5)")
    return (f"On {res.eval_set}, the confidence of `{name}` {verdict}: AUROC {a['auroc']:.2f} "
            f"[{a['lo']:.2f}, {a['hi']:.2f}] for \"edge within {ACCURATE_PX:g} px\". Accepting the "
            f"{accept:g}% most confident edges without review would accept edges that are within "
            f"{ACCURATE_PX:g} px {100 * top:.0f}% of the time, against {100 * a['accurate']:.0f}% for all edges.")

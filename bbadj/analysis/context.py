"""The buffer axis is about reach before it is about context: the model places each edge among the
positions of its crop (the jittered box scaled about its centre by the buffer ratio,
``box_ops.crop_windows``), so a true edge outside the crop cannot be reached at all. This module
says how many true edges lie outside each row's crop, and compares the rows that change the buffer
again on the cases every buffer of the pair can reach (an edge inside both crops; a corner whose
two edges are; a box whose four are), so that what remains of a difference is about context."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.box_ops import COORDS, boxes_to_positions, crop_windows
from ..core.params import BASELINES, IDENTITY
from ..scoring import metrics
from .differences import difference
from .results import Results

# (x0, y0, x1, y1) <- (top, bottom, left, right) of boxes_to_positions
_EDGES_TO_COORDS = [2, 0, 3, 1]
BUFFER = "data.buffer_ratio"


def reach(df, ratio: float) -> np.ndarray:
    """(n_lines, 4) bool in COORDS order: whether each true edge of the per-box lines ``df`` lies
    inside the crop cut around its jittered box at ``ratio`` (on the border counts as inside)."""
    jit = df[[f"jit_{c}" for c in COORDS]].to_numpy(dtype=float, copy=True)
    gt = df[[f"gt_{c}" for c in COORDS]].to_numpy(dtype=float, copy=True)
    u = boxes_to_positions(gt, crop_windows(jit, ratio), 2, clamp=False).numpy()  # 0..1 inside
    return ((u >= 0) & (u <= 1))[:, _EDGES_TO_COORDS]


def outside_share(res: Results, ratio: float) -> float:
    """The share of true edges (over every draw and box of the set) outside the crop at
    ``ratio``."""
    return float(1 - reach(res.per_box[IDENTITY], ratio).mean())


def row_ratio(res: Results, name: str) -> float | None:
    """The buffer ratio row ``name`` is scored at (None for identity and GrabCut, which cut no
    crop)."""
    return None if name in BASELINES else float(res.params[name].config.data.buffer_ratio)


def outside_table(res: Results) -> Any:
    """Per row with a model: its buffer ratio and the share of true edges outside its crop (%)."""
    import pandas as pd

    ratios = {n: row_ratio(res, n) for n in res.models}
    share = {r: 100 * outside_share(res, r) for r in set(ratios.values())}
    return pd.DataFrame(
        {
            "buffer ratio": ratios,
            "true edges outside the crop (%)": {n: round(share[r], 1) for n, r in ratios.items()},
        }
    )


def reachable_values(res: Results, name: str, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Row ``name``'s metrics on the cases reachable at ``ratio``: per seed and box, the sum over
    draws of the successes among them (n_seeds, n_boxes, k), and per box their count (n_boxes,
    k)."""
    import pandas as pd

    df = res.per_box[name]
    errors = metrics.per_box_errors(
        df[[f"adj_{c}" for c in COORDS]].to_numpy(dtype=float),
        df[[f"gt_{c}" for c in COORDS]].to_numpy(dtype=float),
    )
    cases = metrics.per_case_metrics(errors)
    edges = reach(df, ratio)
    num, den = {}, {}
    for m in metrics.declared():
        ok = metrics.reachable_cases(m, edges).double()
        num[m.key] = (cases[m.key] * ok).sum(1).numpy()
        den[m.key] = ok.sum(1).numpy()
    keys = list(res.keys)
    index = [df["seed"].to_numpy(), df["ann_id"].to_numpy()]
    n = pd.DataFrame({k: num[k] for k in keys}, index=index).groupby(level=[0, 1]).sum()
    d = pd.DataFrame({k: den[k] for k in keys}, index=index).groupby(level=[0, 1]).sum()
    seeds = res.seeds[name]
    values = np.stack([n.xs(s, level=0).loc[res.box_ids].to_numpy() for s in seeds])
    counts = np.stack([d.xs(s, level=0).loc[res.box_ids].to_numpy() for s in seeds])
    if not (counts == counts[0]).all():
        raise ValueError(f"{name}: its seeds were scored on other jittered boxes on {res.eval_set}")
    return values, counts[0]


def reachable_difference(res: Results, a: str, b: str):
    """(``differences.Diff`` of a - b on the cases every buffer of the pair reaches, the smallest
    ratio) when the two rows differ in the buffer ratio; None otherwise, or when their jittered
    boxes differ (another jitter: no common cases)."""
    if a in BASELINES or b in BASELINES or BUFFER not in res.params.changed(a, b):
        return None
    ratio = min(row_ratio(res, a), row_ratio(res, b))
    (va, ca), (vb, cb) = reachable_values(res, a, ratio), reachable_values(res, b, ratio)
    if not np.array_equal(ca, cb):
        return None
    return difference(res, a, b, {a: va, b: vb}, ca), ratio

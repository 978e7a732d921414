"""The metrics by object size, with COCO's size classes: small (area < 32^2 px), medium, large
(area >= 96^2), the area that of the TRUE box (width x height of ``gt_*`` in the per-box files:
the same rule for every set, whether its annotations carry a segment ``area`` or not)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scoring import metrics
from .results import Results, box_table
from .stats import boot_ratio, percentile_interval

SIZE_CLASSES = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, np.inf)}


def object_areas(res: Results) -> Any:
    """The true box's area of every box of ``res`` (a Series indexed like ``res.values``)."""
    gt = box_table(res.per_box[res.names[0]]).loc[res.box_ids]
    return ((gt.gt_x1 - gt.gt_x0) * (gt.gt_y1 - gt.gt_y0)).rename("area")


def size_classes(res: Results) -> Any:
    """COCO's size class of every box of ``res``."""
    import pandas as pd

    area = object_areas(res)
    edges = [lo for lo, _ in SIZE_CLASSES.values()] + [np.inf]
    return pd.cut(area, edges, right=False, labels=list(SIZE_CLASSES))


def size_table(res: Results, names: list[str] | None = None, with_intervals: bool = False) -> Any:
    """Rows: (row, size class with its box count); columns: every metric in percent, each row the
    mean over its seeds (with the 95% interval within the class, photographs resampled, where
    asked)."""
    import pandas as pd

    cls = size_classes(res).to_numpy()
    rows, index = [], []
    for name in names or res.names:
        vals = res.by_seed[name].mean(0)
        for c in SIZE_CLASSES:
            mask = cls == c
            if not mask.any():
                continue
            cells = 100 * vals[mask].mean(0)
            if with_intervals:  # the report's photograph resamples, each over its class's boxes
                inside = mask[:, None].astype(float)
                lo, hi = percentile_interval(
                    boot_ratio(res.weights, vals * inside, np.broadcast_to(inside, vals.shape))
                )
                rows.append([f"{m:.1f} [{100 * a:.1f}, {100 * b:.1f}]" for m, a, b in zip(cells, lo, hi)])
            else:
                rows.append([round(float(m), 1) for m in cells])
            index.append((name, f"{c} ({int(mask.sum())})"))
    return pd.DataFrame(
        rows,
        columns=[metrics.label(k) for k in res.keys],
        index=pd.MultiIndex.from_tuples(index, names=["row", "size (boxes)"]),
    )


def size_gains(res: Results, against: str, names: list[str] | None = None, metric: str = "miou") -> Any:
    """``metric`` of each row minus ``against``'s, per size class, in points (rows x classes)."""
    import pandas as pd

    cls = size_classes(res).to_numpy()
    j = res.column(metric)
    out = {}
    for name in names or [n for n in res.names if n != against]:
        d = res.by_seed[name].mean(0)[:, j] - res.by_seed[against].mean(0)[:, j]
        out[name] = {
            f"{c} ({int((cls == c).sum())})": 100 * float(d[cls == c].mean()) for c in SIZE_CLASSES if (cls == c).any()
        }
    return pd.DataFrame.from_dict(out, orient="index").round(1)

"""The metrics by object size, with COCO's size classes: small (area < 32^2 px), medium, large
(area >= 96^2). As in COCO's evaluation, the area is the annotation's ``area`` field (the
segment's area, for COCO); where a file has none, the true box's area."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..scoring.metrics import METRIC_KEYS, METRIC_LABELS
from .results import Results
from .stats import percentile_interval

SIZE_CLASSES = {"small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, np.inf)}


def object_areas(res: Results) -> Any:
    """Area of every box of ``res`` (a Series indexed like ``res.values``)."""
    import pandas as pd

    anns = {a["id"]: a for a in json.loads(Path(res.annotations).read_text())["annotations"]}
    ids = res.values[res.names[0]].index
    gt = res.per_box[res.names[0]].drop_duplicates("ann_id").set_index("ann_id").loc[ids]
    box_area = (gt.gt_x1 - gt.gt_x0) * (gt.gt_y1 - gt.gt_y0)
    return pd.Series([float(anns[i].get("area", box_area[i])) for i in ids], index=ids, name="area")


def size_classes(res: Results) -> Any:
    """COCO's size class of every box of ``res``."""
    import pandas as pd

    area = object_areas(res)
    edges = [lo for lo, _ in SIZE_CLASSES.values()] + [np.inf]
    return pd.cut(area, edges, right=False, labels=list(SIZE_CLASSES))


def size_table(res: Results, names: list[str] | None = None, with_intervals: bool = False) -> Any:
    """Rows: (row, size class with its box count); columns: the six metrics in percent (with the
    95% bootstrap interval within the class where asked)."""
    import pandas as pd

    cls = size_classes(res)
    rows, index = [], []
    for name in names or res.names:
        v = res.values[name]
        for c in SIZE_CLASSES:
            mask = (cls == c).to_numpy()
            if not mask.any():
                continue
            vals = v[list(METRIC_KEYS)].to_numpy()
            cells = 100 * vals[mask].mean(0)
            if with_intervals:  # the report's resamples of all boxes, each averaged over its boxes of this class
                inside = mask[res.idx][..., None]
                means = (vals[res.idx] * inside).sum(1) / np.maximum(inside.sum(1), 1)
                lo, hi = percentile_interval(means)
                rows.append([f"{m:.1f} [{100 * a:.1f}, {100 * b:.1f}]" for m, a, b in zip(cells, lo, hi)])
            else:
                rows.append([round(float(m), 1) for m in cells])
            index.append((name, f"{c} ({int(mask.sum())})"))
    return pd.DataFrame(rows, columns=[METRIC_LABELS[k] for k in METRIC_KEYS],
                        index=pd.MultiIndex.from_tuples(index, names=["row", "size (boxes)"]))


def size_gains(res: Results, against: str, names: list[str] | None = None, metric: str = "miou") -> Any:
    """``metric`` of each row minus ``against``'s, per size class, in points (rows x classes)."""
    import pandas as pd

    cls = size_classes(res)
    out = {}
    for name in names or [n for n in res.names if n != against]:
        d = res.values[name][metric] - res.values[against][metric]
        out[name] = {f"{c} ({int((cls == c).sum())})": 100 * float(d[(cls == c).to_numpy()].mean())
                     for c in SIZE_CLASSES if (cls == c).any()}
    return pd.DataFrame.from_dict(out, orient="index").round(1)

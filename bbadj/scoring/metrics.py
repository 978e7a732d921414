"""The paper's metrics, in original-image pixels (docs/protocol.md; Table 1 of Snapper), each
declared once (``METRICS``): its key, label, unit, the paper's Table 1 values and which way is
better. Every table, figure, headline and ``bbadj show`` reads them by key, never by position.

- mIoU; IoU > 90%: fraction of boxes whose IoU exceeds 0.9 (strictly);
- edge deviation < 1 / < 3 px: fraction of the 4 edges whose absolute distance to the true edge
  is strictly below 1 / 3 pixels;
- corner deviation < 1 / < 3 px: likewise for the Euclidean distance of the 4 corners.

A metric is a share of cases (``Metric.per_case``: a box's 4 edges, its 4 corners, or the box
itself), and the mean of its per-box value over boxes: every interval of the report resamples
boxes and photographs, and the report can keep only the cases a crop can reach
(``reachable_cases``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from ..core.box_ops import paired_iou

PAPER_ROWS = ("jittered COCO", "jittered COCO + Snapper", "DETR detections", "DETR detections + Snapper")
PAPER_IDENTITY, PAPER_SNAPPER = PAPER_ROWS[:2]
CASES = ("edges", "corners", "box")  # what a metric is a share of: 4 edges, 4 corners, or the box


@dataclass(frozen=True)
class Metric:
    """One metric of Table 1. ``paper``: its value (percent, COCO val2017) in each row of
    ``PAPER_ROWS``; ``per_case``: ``per_box_errors``'s output -> (N, 4) (edges in COORDS order,
    corners as ``per_box_errors``) or (N, 1) (box) values in 0..1, each a case's success, whose
    mean is the metric; ``cases``: one of ``CASES``."""

    key: str  # the metric files', summary.csv's and `bbadj show --metric`'s name: short, no spaces
    label: str
    paper: dict
    per_case: Callable
    cases: str
    unit: str = "percent"
    higher_is_better: bool = True

    def __post_init__(self):
        where = f"metric {self.key!r} (bbadj/scoring/metrics.py)"
        if not self.key.isidentifier() or not self.label:
            raise ValueError(f"{where}: needs a key of letters, digits and _ and a label")
        missing = [r for r in PAPER_ROWS if not isinstance(self.paper.get(r), (int, float))]
        if missing:
            raise ValueError(
                f"{where}: no paper value for {missing}; every report table sets ours "
                f"beside the paper's Table 1 (give each of {list(PAPER_ROWS)})"
            )
        if not callable(self.per_case):
            raise ValueError(f"{where}: per_case must compute each case's value from per_box_errors")
        if self.cases not in CASES:
            raise ValueError(f"{where}: cases must be one of {CASES}, got {self.cases!r}")

    @property
    def jittered(self) -> float:
        return float(self.paper[PAPER_IDENTITY])

    @property
    def snapper(self) -> float:
        return float(self.paper[PAPER_SNAPPER])

    @property
    def gain(self) -> float:
        """The paper's Snapper gain over its jittered boxes, points."""
        return self.snapper - self.jittered

    @property
    def aim(self) -> float:
        """This study's aim: half the paper's gain, points."""
        return self.gain / 2

    @property
    def better_sign(self) -> int:
        return 1 if self.higher_is_better else -1


def _edges_below(px: float) -> Callable:
    return lambda e: (e["edge_err"] < px).double()


def _corners_below(px: float) -> Callable:
    return lambda e: (e["corner_err"] < px).double()


def _box(value: Callable) -> Callable:
    return lambda e: value(e).double()[:, None]


def _table1(*values: float) -> dict:
    return dict(zip(PAPER_ROWS, values))


METRICS: tuple[Metric, ...] = (
    Metric("miou", "mIoU", _table1(81.9, 89.0, 76.2, 76.6), _box(lambda e: e["iou"]), "box"),
    Metric("iou90", "IoU > 90%", _table1(8.6, 51.9, 33.1, 34.9), _box(lambda e: e["iou"] > 0.9), "box"),
    Metric("edge1", "edge < 1 px", _table1(30.4, 52.6, 34.1, 40.5), _edges_below(1), "edges"),
    Metric("edge3", "edge < 3 px", _table1(57.9, 80.4, 66.6, 68.1), _edges_below(3), "edges"),
    Metric("corner1", "corner < 1 px", _table1(12.0, 30.1, 12.3, 18.2), _corners_below(1), "corners"),
    Metric("corner3", "corner < 3 px", _table1(38.1, 65.5, 45.7, 48.8), _corners_below(3), "corners"),
)


def declared() -> tuple[Metric, ...]:
    """The metrics, checked: unique keys. Read at call time (never copied at import), so that a
    metric added to ``METRICS`` reaches every table and figure."""
    keys = [m.key for m in METRICS]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"bbadj/scoring/metrics.py declares {dup} more than once")
    return METRICS


def metric_keys() -> tuple[str, ...]:
    return tuple(m.key for m in declared())


def metric(key: str) -> Metric:
    for m in declared():
        if m.key == key:
            return m
    raise KeyError(f"no metric {key!r}; declared: {list(metric_keys())}")


def label(key: str) -> str:
    return metric(key).label


# The keys and labels at import, for the layers below the report (`bbadj evaluate`'s JSON,
# fractions; the study's metric files, reports/metrics/<row>/<set>.json, percent; summary.csv).
METRIC_KEYS = metric_keys()
METRIC_LABELS = {m.key: m.label for m in METRICS}
# percent, COCO val2017
PAPER_TABLE1 = {row: tuple(m.paper[row] for m in METRICS) for row in PAPER_ROWS}


def pct(v: float) -> float:
    """A fraction in percent, rounded once to one decimal: the study's metric files and every table
    of its report show this number."""
    return round(100 * float(v), 1)


def per_box_errors(pred, gt) -> dict[str, torch.Tensor]:
    """Per-box quantities for (N, 4) x0 y0 x1 y1 boxes: ``iou`` (N,), ``edge_err`` (N, 4) absolute
    pixel distance of x0, y0, x1, y1, ``corner_err`` (N, 4) Euclidean distance of the corners
    (x0,y0), (x1,y0), (x0,y1), (x1,y1)."""
    pred = torch.as_tensor(pred, dtype=torch.float64).reshape(-1, 4)
    gt = torch.as_tensor(gt, dtype=torch.float64).reshape(-1, 4)
    d = pred - gt
    dx = d[:, [0, 2, 0, 2]]
    dy = d[:, [1, 1, 3, 3]]
    return {"iou": paired_iou(pred, gt), "edge_err": d.abs(), "corner_err": torch.hypot(dx, dy)}


# the two coordinates (indices into COORDS: x0 y0 x1 y1) each corner of per_box_errors is made of
CORNER_COORDS = ((0, 1), (2, 1), (0, 3), (2, 3))


def reachable_cases(m: Metric, edges: torch.Tensor) -> torch.Tensor:
    """Which of ``m``'s cases are made only of reachable edges: ``edges`` (N, 4) bool in COORDS
    order -> (N, 4) for edges and corners (a corner needs both its edges), (N, 1) for the box
    (all four)."""
    e = torch.tensor(edges, dtype=torch.bool)
    if m.cases == "edges":
        return e
    if m.cases == "corners":
        return torch.stack([e[:, x] & e[:, y] for x, y in CORNER_COORDS], dim=1)
    return e.all(1, keepdim=True)


def per_case_metrics(errors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every declared metric's cases for each box ((N, 4) or (N, 1)), from ``per_box_errors``."""
    return {m.key: m.per_case(errors) for m in declared()}


def per_box_metrics(errors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every declared metric's value for each box (N,), from ``per_box_errors`` output. A metric is
    the mean of its column over the boxes (every box has 4 edges and 4 corners)."""
    return {k: v.mean(1) for k, v in per_case_metrics(errors).items()}


def summarize(errors: dict[str, torch.Tensor]) -> dict[str, float]:
    """Every declared metric (fractions in 0..1) from ``per_box_errors`` output."""
    return {k: float(v.mean()) for k, v in per_box_metrics(errors).items()}


def box_metrics(pred, gt) -> dict[str, float]:
    return summarize(per_box_errors(pred, gt))

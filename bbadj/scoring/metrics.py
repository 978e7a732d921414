"""The paper's metrics, in original-image pixels (docs/protocol.md; Table 1 of Snapper).

- mIoU; IoU > 90%: fraction of boxes whose IoU exceeds 0.9 (strictly);
- edge deviation < 1 / < 3 px: fraction of the 4 edges whose absolute distance to the true edge
  is strictly below 1 / 3 pixels;
- corner deviation < 1 / < 3 px: likewise for the Euclidean distance of the 4 corners.
"""
from __future__ import annotations

import torch
from ..core.box_ops import paired_iou

# One set of keys everywhere: `bbadj evaluate`'s JSON (fractions), the study's metric files
# (reports/metrics/<row>/<set>.json, percent), reports/summary.csv, `bbadj show --metric` and
# study.noise_floor. Short, so that `dvc metrics show` and `dvc exp show` columns fit a terminal.
METRIC_KEYS = ("miou", "iou90", "edge1", "edge3", "corner1", "corner3")
METRIC_LABELS = {
    "miou": "mIoU",
    "iou90": "IoU > 90%",
    "edge1": "edge < 1 px",
    "edge3": "edge < 3 px",
    "corner1": "corner < 1 px",
    "corner3": "corner < 3 px",
}


def pct(v: float) -> float:
    """A fraction in percent, rounded once to one decimal: the study's metric files and every table
    of its report show this number."""
    return round(100 * float(v), 1)


PAPER_TABLE1 = {  # percent, COCO val2017
    "jittered COCO": (81.9, 8.6, 30.4, 57.9, 12.0, 38.1),
    "jittered COCO + Snapper": (89.0, 51.9, 52.6, 80.4, 30.1, 65.5),
    "DETR detections": (76.2, 33.1, 34.1, 66.6, 12.3, 45.7),
    "DETR detections + Snapper": (76.6, 34.9, 40.5, 68.1, 18.2, 48.8),
}


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


def per_box_metrics(errors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The six quantities of Table 1 for each box (N,), from ``per_box_errors`` output: the IoU,
    whether it exceeds 0.9, and the share of its 4 edges / corners under 1 and 3 pixels. A metric
    is the mean of its column over the boxes (every box has 4 edges and 4 corners)."""
    iou, edge, corner = errors["iou"], errors["edge_err"], errors["corner_err"]
    return {
        "miou": iou,
        "iou90": (iou > 0.9).double(),
        "edge1": (edge < 1).double().mean(1),
        "edge3": (edge < 3).double().mean(1),
        "corner1": (corner < 1).double().mean(1),
        "corner3": (corner < 3).double().mean(1),
    }


def summarize(errors: dict[str, torch.Tensor]) -> dict[str, float]:
    """The six numbers of Table 1 (fractions in 0..1) from ``per_box_errors`` output."""
    return {k: float(v.mean()) for k, v in per_box_metrics(errors).items()}


def box_metrics(pred, gt) -> dict[str, float]:
    return summarize(per_box_errors(pred, gt))

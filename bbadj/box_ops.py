"""Box conventions, in one place (used everywhere in bbadj):

- boxes are (x0, y0, x1, y1) in continuous pixel coordinates; pixel column i spans [i, i + 1)
  (a COCO [x, y, w, h] box is (x, y, x + w, y + h));
- a crop window is the (jittered) box scaled about its centre by the buffer ratio;
- each edge is classified over the S positions of its crop; position index q in [0, S - 1] stands
  for the normalised crop coordinate u = q / (S - 1), so index 0 is the crop's top/left border and
  S - 1 its bottom/right border, and a box equal to its window maps to exactly 0 and S - 1;
- edges come in the order EDGES = (top, bottom, left, right).
"""
from __future__ import annotations

import torch

EDGES = ("top", "bottom", "left", "right")
# (top, bottom, left, right) <- (y0, y1, x0, x1)
_BOX_TO_EDGES = [1, 3, 0, 2]
# (x0, y0, x1, y1) <- (left, top, right, bottom)
_EDGES_TO_BOX = [2, 0, 3, 1]


def crop_windows(boxes, buffer_ratio: float, min_size: float = 1.0):
    """The crop window of each (jittered) box: same centre, sides times ``buffer_ratio``
    (at least ``min_size`` pixels, so a degenerate box still gets a crop)."""
    b = torch.as_tensor(boxes, dtype=torch.float64)
    c = (b[:, :2] + b[:, 2:]) / 2
    half = ((b[:, 2:] - b[:, :2]) * buffer_ratio).clamp(min=min_size) / 2
    return torch.cat([c - half, c + half], dim=1)


def boxes_to_positions(boxes, windows, size: int, clamp: bool = True) -> torch.Tensor:
    """Image-pixel boxes (N, 4) -> continuous edge positions (N, 4) in [0, S - 1], EDGES order.
    An edge outside its crop is clamped to the crop border (it cannot be classified there)."""
    b = torch.as_tensor(boxes, dtype=torch.float64)
    w = torch.as_tensor(windows, dtype=torch.float64)
    origin, extent = _frame(w)
    u = (b[:, _BOX_TO_EDGES] - origin) / extent
    if clamp:
        u = u.clamp(0.0, 1.0)
    return u * (size - 1)


def positions_to_boxes(positions, windows, size: int) -> torch.Tensor:
    """The exact inverse of ``boxes_to_positions`` (without clamping): (N, 4) EDGES-order
    positions -> (N, 4) x0 y0 x1 y1 image pixels."""
    q = torch.as_tensor(positions, dtype=torch.float64)
    w = torch.as_tensor(windows, dtype=torch.float64).to(q.device)
    origin, extent = _frame(w)
    edges = origin + q / (size - 1) * extent
    return edges[:, _EDGES_TO_BOX]


def position_size(windows, size: int) -> torch.Tensor:
    """(N, 4) image pixels per crop position of each edge, in EDGES order: how far one position
    moves that edge in the image (a large box's crop position spans many image pixels)."""
    _, extent = _frame(torch.as_tensor(windows, dtype=torch.float64))
    return extent / (size - 1)


def _frame(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per window, the origin and extent of each edge's axis, in EDGES order: (N, 4) each."""
    w = windows
    origin = torch.stack([w[:, 1], w[:, 1], w[:, 0], w[:, 0]], dim=1)
    extent = torch.stack([w[:, 3] - w[:, 1]] * 2 + [w[:, 2] - w[:, 0]] * 2, dim=1)
    return origin, extent


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of a[i] with b[i], (N,): torchvision.ops.box_iou is pairwise (N x M), and its diagonal
    alone is what is needed here."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter)  # as box_iou computes each entry


def xywh_to_xyxy(boxes) -> torch.Tensor:
    """COCO [x, y, w, h] boxes (N, 4) -> (x0, y0, x1, y1) = (x, y, x + w, y + h), float64."""
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    return torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], dim=1)


def xyxy_to_xywh(boxes) -> torch.Tensor:
    """(x0, y0, x1, y1) boxes (N, 4) -> COCO [x, y, w, h] = (x0, y0, x1 - x0, y1 - y0), float64."""
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    return torch.cat([b[:, :2], b[:, 2:] - b[:, :2]], dim=1)


def clip_to_image(boxes, width: float, height: float) -> torch.Tensor:
    """(x0, y0, x1, y1) boxes (N, 4) clipped to the image [0, width] x [0, height], float64."""
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4).clone()
    b[:, [0, 2]] = b[:, [0, 2]].clamp(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clamp(0, height)
    return b

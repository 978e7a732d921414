"""Box conventions, in one place (used everywhere in bbadj):

- boxes are (x0, y0, x1, y1) in continuous pixel coordinates; pixel column i spans [i, i + 1)
  (a COCO [x, y, w, h] box is (x, y, x + w, y + h));
- a crop window is the (jittered) box scaled about its centre by the buffer ratio;
- each edge is classified over the S positions of its crop; position index q in [0, S - 1] stands
  for the normalised crop coordinate u = q / (S - 1), so index 0 is the crop's top/left border and
  S - 1 its bottom/right border, and a box equal to its window maps to exactly 0 and S - 1;
- edges come in the order EDGES = (top, bottom, left, right); a box's coordinates in the order
  COORDS = (x0, y0, x1, y1) (the column suffixes of every per-box table).

The conversions below take numpy arrays or torch tensors of shape (..., 4) and give back the same
kind (anything else, such as a list, comes back as a float64 numpy array).
"""

from __future__ import annotations

import numpy as np
import torch

EDGES = ("top", "bottom", "left", "right")
COORDS = ("x0", "y0", "x1", "y1")  # a box's coordinates, in its order
EDGE_COORDS = {"top": "y0", "bottom": "y1", "left": "x0", "right": "x1"}  # the coordinate each edge is
# (top, bottom, left, right) <- (y0, y1, x0, x1)
_BOX_TO_EDGES = [1, 3, 0, 2]
# (x0, y0, x1, y1) <- (left, top, right, bottom)
_EDGES_TO_BOX = [2, 0, 3, 1]


def xywh_to_xyxy(boxes):
    """COCO ``[x, y, w, h]`` -> ``(x0, y0, x1, y1) = (x, y, x + w, y + h)``."""
    b = _as_boxes(boxes)
    return _cat(b[..., :2], b[..., :2] + b[..., 2:])


def xyxy_to_xywh(boxes):
    """``(x0, y0, x1, y1)`` -> COCO ``[x, y, w, h] = [x0, y0, x1 - x0, y1 - y0]``."""
    b = _as_boxes(boxes)
    return _cat(b[..., :2], b[..., 2:] - b[..., :2])


def clip_to_image(boxes, width, height):
    """``(x0, y0, x1, y1)`` boxes clipped to their image, [0, width] x [0, height]. ``width`` and
    ``height``: numbers, or one per box (shape (N,) for (N, 4) boxes)."""
    b = _as_boxes(boxes)
    if isinstance(b, torch.Tensor):
        w, h = (torch.as_tensor(v, dtype=b.dtype, device=b.device) for v in (width, height))
        return torch.minimum(b.clamp(min=0), torch.stack([w, h, w, h], dim=-1))
    w, h = np.asarray(width, dtype=b.dtype), np.asarray(height, dtype=b.dtype)
    return np.clip(b, 0.0, np.stack([w, h, w, h], axis=-1))


def _as_boxes(boxes):
    b = boxes if isinstance(boxes, (torch.Tensor, np.ndarray)) else np.asarray(boxes, dtype=np.float64)
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes must have shape (..., 4), got {tuple(b.shape)}")
    return b


def _cat(a, b):
    return torch.cat([a, b], dim=-1) if isinstance(a, torch.Tensor) else np.concatenate([a, b], axis=-1)


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


def image_bounds(windows, image_wh, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each edge's image ends, in its crop's positions: (lo, hi), (N, 4) each in EDGES order
    (the image's top and bottom border for top and bottom, its left and right for left and right).
    ``image_wh``: (W, H), or one per window. Positions beyond them are off the image."""
    w = torch.as_tensor(windows, dtype=torch.float64)
    wh = torch.as_tensor(image_wh, dtype=torch.float64).reshape(-1, 2).expand(len(w), 2)
    zero = torch.zeros(len(w), dtype=torch.float64)
    q = boxes_to_positions(torch.stack([zero, zero, wh[:, 0], wh[:, 1]], dim=1), w, size, clamp=False)
    return q[:, [0, 0, 2, 2]], q[:, [1, 1, 3, 3]]


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

"""The jitter protocol (docs/protocol.md): rough boxes as a person might draw them."""

from __future__ import annotations

import numpy as np

from ..core.box_ops import clip_to_image


def jitter_boxes(
    boxes: np.ndarray,
    image_wh: np.ndarray,
    rng: np.random.Generator,
    shift: float = 0.1,
    scale: float = 0.1,
) -> np.ndarray:
    """Jitter ``(N, 4)`` x0 y0 x1 y1 boxes.

    1. shift the centre by ``u * w`` in x and ``v * h`` in y, u, v ~ U[-shift, shift], independent;
    2. rescale width and height by one factor s ~ U[1 - scale, 1 + scale], shared by both;
    3. clip to the image (``image_wh``: (N, 2) or (2,) widths and heights).

    The draws for box i come from row i of one (N, 3) array, so a box's jitter depends only on
    the generator's state and its position, whatever model later sees it.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    draws = rng.uniform(0.0, 1.0, size=(n, 3))
    u = (2 * draws[:, 0] - 1) * shift
    v = (2 * draws[:, 1] - 1) * shift
    s = 1 + (2 * draws[:, 2] - 1) * scale
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + u * w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + v * h
    half_w, half_h = w * s / 2, h * s / 2
    out = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    wh = np.broadcast_to(np.asarray(image_wh, dtype=np.float64).reshape(-1, 2), (n, 2))
    return clip_to_image(out, wh[:, 0], wh[:, 1])

"""A classical baseline for the study: OpenCV's GrabCut started from the enlarged jittered box,
its foreground mask turned back into a box. No training; scored like any model.

GrabCut (Rother et al., 2004) fits colour models to the pixels inside a rectangle (probably
object) and outside it (background) and cuts the image along colour edges. The rectangle is
the jittered box scaled about its centre by ``enlarge``, so that the object lies inside it; the
image region handed to GrabCut extends ``context`` of the rectangle's size beyond it on every
side (the background samples) and is resized so its longer side is at most ``max_side`` pixels
(the working resolution: the cost of GrabCut grows with the pixel count).
"""

from __future__ import annotations

import math
import numpy as np
import torch

from ..core.config import GrabCutConfig
from ..data.coco import CocoBoxes
from ..core.box_ops import clip_to_image, crop_windows
from ..data.images import check_size, read_rgb
from ..util.progress import progress_bar


def grabcut_box(image: np.ndarray, box, cfg: GrabCutConfig) -> tuple[np.ndarray, bool]:
    """Snap one rough ``box`` (x0, y0, x1, y1 pixels) on an (H, W, 3) uint8 ``image`` with GrabCut.
    Returns (box, ok); where GrabCut finds no foreground, or the region has no background to
    learn from, the rough box comes back unchanged with ok = False."""
    import cv2

    H, W = image.shape[:2]
    rough = np.asarray(box, dtype=np.float64)
    rect = crop_windows(rough[None], cfg.enlarge)[0].numpy()
    rect = clip_to_image(rect, W, H)
    pad = cfg.context * (rect[2:] - rect[:2])
    # the region handed to GrabCut, in whole pixels
    region_box = np.concatenate([np.floor(rect[:2] - pad), np.ceil(rect[2:] + pad)])
    X0, Y0, X1, Y1 = (int(v) for v in clip_to_image(region_box, W, H))
    if X1 - X0 < 2 or Y1 - Y0 < 2:
        return rough, False
    scale = min(1.0, cfg.max_side / max(X1 - X0, Y1 - Y0))
    region = np.ascontiguousarray(image[Y0:Y1, X0:X1])
    if scale < 1.0:
        size = (max(2, round((X1 - X0) * scale)), max(2, round((Y1 - Y0) * scale)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    sx, sy = region.shape[1] / (X1 - X0), region.shape[0] / (Y1 - Y0)
    rx0, ry0 = math.floor((rect[0] - X0) * sx), math.floor((rect[1] - Y0) * sy)
    rx1, ry1 = math.ceil((rect[2] - X0) * sx), math.ceil((rect[3] - Y0) * sy)
    rx1, ry1 = min(max(rx1, rx0 + 1), region.shape[1]), min(max(ry1, ry0 + 1), region.shape[0])
    if rx0 == 0 and ry0 == 0 and rx1 == region.shape[1] and ry1 == region.shape[0]:
        return rough, False  # the rectangle fills the region: no background pixels to model
    mask = np.zeros(region.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(cfg.seed)
    try:
        cv2.grabCut(region, mask, (rx0, ry0, rx1 - rx0, ry1 - ry0), bgd, fgd, cfg.iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return rough, False
    ys, xs = np.nonzero((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD))
    if len(xs) == 0:
        return rough, False
    # mask pixel i covers [i, i + 1) in region pixels; back to image pixels
    return np.array([X0 + xs.min() / sx, Y0 + ys.min() / sy, X0 + (xs.max() + 1) / sx, Y0 + (ys.max() + 1) / sy]), True


def predict_grabcut(
    coco: CocoBoxes, jittered: list[np.ndarray], cfg: GrabCutConfig, progress: bool = False, desc: str = "grabcut"
) -> tuple[torch.Tensor, int]:
    """GrabCut boxes for every jittered box, in the order of ``coco.images`` (GrabCut gives no
    confidence), and how many boxes fell back to the rough box."""
    out, fallbacks = [], 0
    for rec, jit in progress_bar(list(zip(coco.images, jittered)), desc=desc, disable=not progress, unit="img"):
        image = read_rgb(rec.path)
        check_size(image, rec.width, rec.height, rec.path)
        hwc = image.permute(1, 2, 0).contiguous().numpy()
        for b in jit:
            box, ok = grabcut_box(hwc, b, cfg)
            out.append(box)
            fallbacks += not ok
    boxes = torch.as_tensor(np.array(out, dtype=np.float64).reshape(-1, 4))
    return boxes, fallbacks

"""Cutting crops: every window of one normalised image in one ``roi_align`` call, resampled to
S x S (``aligned=True``: pixel centres at i + 0.5, antialiased by averaging several samples per
output pixel). The conventions for boxes, windows and positions are in ``bbadj/core/box_ops.py``.
"""

from __future__ import annotations

import torch
from torchvision.ops import roi_align


def cut_crops(image: torch.Tensor, windows, size: int, sampling_ratio: int = -1) -> torch.Tensor:
    """Cut every window of one normalised (3, H, W) image in one ``roi_align`` call ->
    (N, 3, S, S). Samples outside the image read 0, the normalisation mean."""
    w = torch.as_tensor(windows, dtype=image.dtype, device=image.device).reshape(-1, 4)
    return roi_align(image[None], [w], output_size=size, spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=True)

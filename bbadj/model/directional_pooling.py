"""Directional spatial pooling (paper, Figure 3): a 2-D feature map becomes two 1-D sequences.

Pooling over HEIGHT leaves a sequence along x (one entry per column): it is what can locate
the LEFT and RIGHT edges. Pooling over WIDTH leaves a sequence along y (one entry per row):
it locates TOP and BOTTOM. An earlier public re-implementation paired them the wrong way
round (the sequence along x decoded into top/bottom); the axis tests in tests/test_model.py
exist to catch that.
"""

from __future__ import annotations

import torch
from torch import nn


class DirectionalPooling(nn.Module):
    def __init__(self, mode: str = "mean"):
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {mode!r}")
        self.mode = mode

    def _pool(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        return x.mean(dim) if self.mode == "mean" else x.amax(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B,C,H,W) -> (seq_x: (B,C,W) for left/right, seq_y: (B,C,H) for top/bottom)."""
        return self._pool(x, 2), self._pool(x, 3)

"""Per-edge classification losses over the S crop positions, chosen by name.

- ``two_point`` (default): cross-entropy against a target that splits its mass between the two
  positions around the continuous ground truth (linear interpolation), so sub-position
  accuracy is learnable and the expectation of the target is the true edge exactly;
- ``bce_onehot``: the earlier re-implementation's binary cross-entropy over a one-hot target at
  the nearest position;
- ``gaussian``: cross-entropy against a normalised Gaussian around the true edge.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("two_point", "bce_onehot", "gaussian")


def edge_targets(positions: torch.Tensor, size: int, kind: str = "two_point", sigma: float = 1.0) -> torch.Tensor:
    """(B, 4) continuous positions in [0, S - 1] -> (B, 4, S) target distributions."""
    q = positions.float().clamp(0, size - 1)
    grid = torch.arange(size, device=q.device, dtype=q.dtype)
    if kind == "two_point":
        # triangle kernel of width 1: weight 1 - |i - q| at the two neighbours, 0 elsewhere
        return (1 - (grid - q[..., None]).abs()).clamp(min=0)
    if kind == "bce_onehot":
        return F.one_hot(q.round().long(), size).to(q.dtype)
    if kind == "gaussian":
        t = torch.exp(-0.5 * ((grid - q[..., None]) / sigma) ** 2)
        return t / t.sum(-1, keepdim=True)
    raise ValueError(f"unknown loss {kind!r}; choose from {LOSSES}")


def edge_loss(logits: torch.Tensor, positions: torch.Tensor, kind: str = "two_point", sigma: float = 1.0) -> torch.Tensor:
    """Mean loss over boxes and the four edges. ``logits``: (B, 4, S)."""
    target = edge_targets(positions, logits.shape[-1], kind, sigma)
    logits = logits.float()
    if kind == "bce_onehot":
        return F.binary_cross_entropy_with_logits(logits, target)
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean()

"""Per-edge losses, each registered under its name (``train.loss``, ``bbadj.core.registry``) with
the decoder output it trains (``output``: ``bbadj.model.decoders``).

Classification over the S crop positions (``logits``), the target clamped to the crop (an edge
beyond it is classified at the border):

- ``two_point`` (default): cross-entropy against a target that splits its mass between the two
  positions around the continuous ground truth (linear interpolation), so sub-position
  accuracy is learnable and the expectation of the target is the true edge exactly;
- ``bce_onehot``: the earlier re-implementation's binary cross-entropy over a one-hot target at
  the nearest position;
- ``gaussian``: cross-entropy against a normalised Gaussian around the true edge.

Direct regression (``laplace``: the ``regression`` decoder), the target not clamped (an edge beyond
the crop is where it is), in crop positions:

- ``l1``: the mean absolute error of the location (its scale is not trained);
- ``laplace_nll``: the negative log-likelihood of the true edge under the predicted Laplace,
  log(2b) + |t - mu| / b (He et al., CVPR 2019, "Bounding Box Regression with Uncertainty", with a
  Laplace for their Gaussian: its b is the expected absolute error, the err_px the tool shows).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.registry import LOSSES
from ..model.decoders import Laplace


def edge_loss(out, positions: torch.Tensor, kind: str = "two_point", sigma: float = 1.0) -> torch.Tensor:
    """Mean loss ``kind`` over boxes and the four edges. ``out``: the model's output (logits (B, 4,
    S) or a ``Laplace``), ``positions``: (B, 4) true edges in crop positions; ``sigma``: the
    ``gaussian`` loss's width."""
    return LOSSES.get(kind).loss(out, positions, sigma)


def edge_targets(positions: torch.Tensor, size: int, kind: str = "two_point", sigma: float = 1.0) -> torch.Tensor:
    """(B, 4) continuous positions -> (B, 4, S) target distributions of classification loss ``kind``."""
    loss = LOSSES.get(kind)
    if not issubclass(loss, _OverPositions):
        raise ValueError(f"train.loss={kind!r} regresses the edges: it has no targets over positions")
    return loss.clamped_targets(positions, size, sigma)


class _OverPositions:
    """A classification loss: cross-entropy of the softmax over the S positions against the
    ``targets`` of the true edge, clamped to the crop."""

    @staticmethod
    def targets(q: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def clamped_targets(cls, positions: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
        return cls.targets(positions.float().clamp(0, size - 1), size, sigma)

    @classmethod
    def loss(cls, logits: torch.Tensor, positions: torch.Tensor, sigma: float) -> torch.Tensor:
        target = cls.clamped_targets(positions, logits.shape[-1], sigma)
        return -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


@LOSSES.register("two_point", output="logits")
class TwoPoint(_OverPositions):
    @staticmethod
    def targets(q: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
        # triangle kernel of width 1: weight 1 - |i - q| at the two neighbours, 0 elsewhere
        grid = torch.arange(size, device=q.device, dtype=q.dtype)
        return (1 - (grid - q[..., None]).abs()).clamp(min=0)


@LOSSES.register("bce_onehot", output="logits")
class BceOnehot(_OverPositions):
    @staticmethod
    def targets(q: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
        return F.one_hot(q.round().long(), size).to(q.dtype)

    @classmethod
    def loss(cls, logits: torch.Tensor, positions: torch.Tensor, sigma: float) -> torch.Tensor:
        target = cls.clamped_targets(positions, logits.shape[-1], sigma)
        return F.binary_cross_entropy_with_logits(logits.float(), target)


@LOSSES.register("gaussian", output="logits")
class Gaussian(_OverPositions):
    @staticmethod
    def targets(q: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
        grid = torch.arange(size, device=q.device, dtype=q.dtype)
        t = torch.exp(-0.5 * ((grid - q[..., None]) / sigma) ** 2)
        return t / t.sum(-1, keepdim=True)


@LOSSES.register("l1", output="laplace")
class L1:
    @staticmethod
    def loss(out: Laplace, positions: torch.Tensor, sigma: float) -> torch.Tensor:
        return (out.mu.float() - positions.float()).abs().mean()


@LOSSES.register("laplace_nll", output="laplace")
class LaplaceNLL:
    @staticmethod
    def loss(out: Laplace, positions: torch.Tensor, sigma: float) -> torch.Tensor:
        log_b = out.log_b.float()
        return (math.log(2) + log_b + (positions.float() - out.mu.float()).abs() * torch.exp(-log_b)).mean()

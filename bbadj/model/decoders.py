"""1-D decoders (paper: "1-D decoders ... classification vectors over the positions of the crop").

Each maps a pooled sequence (B,C,L) to the two edges of the pair that the sequence's axis locates
(top/bottom from the y sequence, left/right from the x sequence), as one of two outputs (the
decorator's ``output``):

- ``logits`` (the paper's): a tensor (B,2,S), a classification over the S positions of the crop
  for each edge;
- ``laplace`` (the ablation, ``regression``): a ``Laplace`` of each edge's position, its location
  ``mu`` (B,2) in crop positions, not confined to the crop, and its log-scale ``log_b`` (B,2).

Each is registered under its name (``bbadj.core.registry``) and built as ``cls(in_channels, hidden,
in_length, geometry)``: ``in_length`` is the sequence length the backbone gives at this crop size,
``geometry`` the crops the model takes (``CropGeometry``).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import CropGeometry
from ..core.registry import DECODERS


class Laplace(NamedTuple):
    """Each edge's position as a Laplace distribution (the ``laplace`` output): location ``mu`` in
    crop positions (any real number: an edge may lie beyond the crop) and log-scale ``log_b``.
    E|x - mu| = b: the expected absolute error, in positions."""

    mu: torch.Tensor
    log_b: torch.Tensor


def combine(fn: Callable[..., torch.Tensor], *outs):
    """``fn`` over decoder outputs of one kind: the logit tensors, or each field of the Laplaces
    (how the adjuster joins the two pairs of edges and averages over maps, for either output)."""
    if isinstance(outs[0], Laplace):
        return Laplace(*(fn(*fields) for fields in zip(*outs)))
    return fn(*outs)


@DECODERS.register("conv1d", output="logits")
class Conv1dDecoder(nn.Module):
    """1x1 conv to ``hidden``, then (x2 linear upsample, conv k3, GroupNorm, ReLU) blocks until the
    length reaches S, an exact resize to S, and a conv head with 2 output channels.

    GroupNorm, not BatchNorm: the result must not depend on how a batch is split across
    processes. ``in_length`` (the sequence length the backbone gives at this crop size) fixes
    the number of blocks; a different length still works, the final resize absorbs it.
    """

    def __init__(self, in_channels: int, hidden: int, in_length: int, geometry: CropGeometry):
        super().__init__()
        self.out_positions = out_positions = geometry.crop_size
        layers: list[nn.Module] = [nn.Conv1d(in_channels, hidden, 1)]
        length = in_length
        while length < out_positions:
            length *= 2
            layers += [
                nn.Upsample(scale_factor=2, mode="linear", align_corners=False),
                nn.Conv1d(hidden, hidden, 3, padding=1),
                nn.GroupNorm(math.gcd(32, hidden), hidden),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(hidden, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        x = F.interpolate(x, size=self.out_positions, mode="linear", align_corners=False)
        return self.head(x)


@DECODERS.register("linear", output="logits")
class LinearDecoder(nn.Module):
    """The earlier re-implementation's decoder: ``nn.Linear(C, 2*S)`` at every pooled position,
    averaged over positions. Averaging makes it blind to *where* along the sequence a feature
    is (only what the channels encode survives); kept as an ablation baseline."""

    def __init__(self, in_channels: int, hidden: int, in_length: int, geometry: CropGeometry):
        super().__init__()
        self.out_positions = out_positions = geometry.crop_size
        self.fc = nn.Linear(in_channels, 2 * out_positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc(x.transpose(1, 2)).mean(1)  # (B,L,C) -> (B,L,2S) -> (B,2S)
        return logits.view(x.shape[0], 2, self.out_positions)


@DECODERS.register("regression", output="laplace")
class RegressionDecoder(nn.Module):
    """Direct regression, the field's alternative to classification over positions: each edge's
    offset from the rough box's edge and the scale of a Laplace around it (He et al., CVPR 2019,
    "Bounding Box Regression with Uncertainty"), from the whole sequence by two fully connected
    layers (Fast R-CNN's box head, in 1-D) after a 1x1 conv to ``hidden`` channels.

    The rough box's edges sit at (S - 1)(1/2 -+ 1/(2 buffer_ratio)) in the crop (the anchors);
    ``mu`` = anchor + (S - 1) * offset, the offset in crop widths, so the network starts at the
    rough box (the last layer starts at zero: offset 0, b = 1 position) and one step moves it by
    a share of the crop whatever S is. Nothing confines ``mu`` to the crop. The last layer runs in
    float32 under autocast: in bfloat16, a position near S - 1 = 95 is exact to 0.5 only.
    """

    def __init__(self, in_channels: int, hidden: int, in_length: int, geometry: CropGeometry):
        super().__init__()
        self.in_length, self.span = in_length, geometry.crop_size - 1
        half = 0.5 / geometry.buffer_ratio
        self.register_buffer("anchor", torch.tensor([0.5 - half, 0.5 + half]), persistent=False)
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, hidden, 1),
            nn.GroupNorm(math.gcd(32, hidden), hidden),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(hidden * in_length, hidden),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Linear(hidden, 4)  # (offset, log b) of the pair's two edges
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> Laplace:
        # a sequence of another length (another crop size) is resampled to the one the layers take
        x = self.body(F.adaptive_avg_pool1d(x, self.in_length) if x.shape[-1] != self.in_length else x)
        with torch.autocast(x.device.type, enabled=False):
            offset, log_b = self.out(x.float()).view(-1, 2, 2).unbind(-1)
        return Laplace(self.span * (self.anchor + offset), log_b)


def build_decoder(name: str, in_channels: int, hidden: int, in_length: int, geometry: CropGeometry) -> nn.Module:
    """The decoder registered as ``name`` (``model.decoder``)."""
    return DECODERS.get(name)(in_channels, hidden, in_length, geometry)

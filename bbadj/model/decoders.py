"""1-D decoders (paper: "1-D decoders ... classification vectors over the positions of the crop").

Each maps a pooled sequence (B,C,L) to two logit vectors (B,2,S): one per edge of the pair that
the sequence's axis locates (top/bottom from the y sequence, left/right from the x sequence).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Conv1dDecoder(nn.Module):
    """1x1 conv to ``hidden``, then (x2 linear upsample, conv k3, GroupNorm, ReLU) blocks until the
    length reaches S, an exact resize to S, and a conv head with 2 output channels.

    GroupNorm, not BatchNorm: the result must not depend on how a batch is split across
    processes. ``in_length`` (the sequence length the backbone gives at this crop size) fixes
    the number of blocks; a different length still works, the final resize absorbs it.
    """

    def __init__(self, in_channels: int, hidden: int, out_positions: int, in_length: int):
        super().__init__()
        self.out_positions = out_positions
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


class LinearDecoder(nn.Module):
    """The earlier re-implementation's decoder: ``nn.Linear(C, 2*S)`` at every pooled position,
    averaged over positions. Averaging makes it blind to *where* along the sequence a feature
    is (only what the channels encode survives); kept as an ablation baseline."""

    def __init__(self, in_channels: int, out_positions: int):
        super().__init__()
        self.out_positions = out_positions
        self.fc = nn.Linear(in_channels, 2 * out_positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc(x.transpose(1, 2)).mean(1)  # (B,L,C) -> (B,L,2S) -> (B,2S)
        return logits.view(x.shape[0], 2, self.out_positions)


def build_decoder(name: str, in_channels: int, hidden: int, S: int, in_length: int) -> nn.Module:
    if name == "conv1d":
        return Conv1dDecoder(in_channels, hidden, S, in_length)
    if name == "linear":
        return LinearDecoder(in_channels, S)
    raise ValueError(f"unknown decoder {name!r}; choose 'conv1d' or 'linear'")

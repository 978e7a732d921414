"""How the backbone's multi-scale features become the map(s) that are pooled and decoded.

The paper only says "multi-scale feature map"; the variants below are those docs/protocol.md lists.
Each is registered under its name (``bbadj.core.registry``) and built as ``cls(channels, strides,
hidden)``; each returns a list of maps and exposes ``channels`` and ``strides`` (one per map), so the
adjuster builds one decoder pair per map and averages their outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from ..core.registry import FUSIONS


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class Levels(nn.Module):
    """Each of ``levels`` as its own map, decoded separately (a subclass names the levels)."""

    levels: tuple[str, ...] = ()

    def __init__(self, channels: dict[str, int], strides: dict[str, int], hidden: int):
        super().__init__()
        self.channels = [channels[k] for k in self.levels]
        self.strides = [strides[k] for k in self.levels]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [feats[k] for k in self.levels]


@FUSIONS.register("l4")
class Layer4(Levels):
    """layer4 alone: one map (single scale)."""

    levels = ("layer4",)


@FUSIONS.register("l34_mean")
class Layer34Mean(Levels):
    """layer3 and layer4, two maps, each decoded by its own decoders (the outputs averaged)."""

    levels = ("layer3", "layer4")


@FUSIONS.register("l34_concat")
class Concat34(nn.Module):
    """layer4 upsampled (bilinear) to layer3's grid and concatenated: C3 + C4 channels, stride 16."""

    def __init__(self, channels: dict[str, int], strides: dict[str, int], hidden: int):
        super().__init__()
        self.channels = [channels["layer3"] + channels["layer4"]]
        self.strides = [strides["layer3"]]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        l3 = feats["layer3"]
        return [torch.cat([l3, _resize(feats["layer4"], l3)], dim=1)]


@FUSIONS.register("fpn")
class FPNSum(nn.Module):
    """torchvision's FPN over layer2-4 (out_channels=hidden); its levels upsampled to the layer2
    grid and summed into one map of stride 8."""

    levels = ("layer2", "layer3", "layer4")

    def __init__(self, channels: dict[str, int], strides: dict[str, int], hidden: int):
        super().__init__()
        self.fpn = FeaturePyramidNetwork([channels[k] for k in self.levels], out_channels=hidden)
        self.channels = [hidden]
        self.strides = [strides["layer2"]]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        pyramid = list(self.fpn({k: feats[k] for k in self.levels}).values())
        finest = pyramid[0]
        return [finest + sum(_resize(p, finest) for p in pyramid[1:])]


def build_fusion(name: str, channels: dict[str, int], strides: dict[str, int], hidden: int) -> nn.Module:
    """The fusion registered as ``name`` (``model.fusion``)."""
    return FUSIONS.get(name)(channels, strides, hidden)

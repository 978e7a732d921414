"""How the backbone's multi-scale features become the map(s) that are pooled and decoded.

The paper only says "multi-scale feature map"; these are the variants docs/protocol.md lists:
  l4          layer4 only (single scale)
  l34_mean    layer3 and layer4, each with its own decoders; logits averaged
  l34_concat  layer4 upsampled to the layer3 grid and concatenated; one decoder set
  fpn         torchvision FeaturePyramidNetwork over layer2-4, summed on the layer2 grid
Each fusion module returns a list of maps and exposes ``channels`` and ``strides`` (one per map),
so the adjuster builds one decoder pair per map and averages their logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

FUSIONS = ("l4", "l34_mean", "l34_concat", "fpn")


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class Levels(nn.Module):
    """Each named level as its own map (l4: one map; l34_mean: two, decoded separately)."""

    def __init__(self, levels: tuple[str, ...], channels: dict[str, int], strides: dict[str, int]):
        super().__init__()
        self.levels = levels
        self.channels = [channels[k] for k in levels]
        self.strides = [strides[k] for k in levels]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [feats[k] for k in self.levels]


class Concat34(nn.Module):
    """layer4 upsampled (bilinear) to layer3's grid and concatenated: C3 + C4 channels, stride 16."""

    def __init__(self, channels: dict[str, int], strides: dict[str, int]):
        super().__init__()
        self.channels = [channels["layer3"] + channels["layer4"]]
        self.strides = [strides["layer3"]]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        l3 = feats["layer3"]
        return [torch.cat([l3, _resize(feats["layer4"], l3)], dim=1)]


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
    if name == "l4":
        return Levels(("layer4",), channels, strides)
    if name == "l34_mean":
        return Levels(("layer3", "layer4"), channels, strides)
    if name == "l34_concat":
        return Concat34(channels, strides)
    if name == "fpn":
        return FPNSum(channels, strides, hidden)
    raise ValueError(f"unknown fusion {name!r}; choose one of {FUSIONS}")

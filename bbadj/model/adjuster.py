"""The box adjuster (paper, Figure 3): backbone -> multi-scale fusion -> directional pooling ->
1-D decoders -> four classification vectors over the S positions of the crop (or, with the
``regression`` decoder, the ablation of that choice, a Laplace per edge: ``decoders.py``).

Output position i of the S positions is the normalised crop coordinate u = i / (S - 1):
0 is the crop's left (or top) border, S - 1 its right (or bottom) border. The model itself
does not use this; the code that builds targets and decodes boxes does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bbadj.core.config import CropGeometry, ModelConfig

from .backbone import build_backbone
from .decoders import build_decoder, combine
from .directional_pooling import DirectionalPooling
from .fusion import build_fusion


class BoxAdjuster(nn.Module):
    """forward(x: (B,3,S,S) normalised crops) -> the four edges in box_ops.EDGES order (top, bottom,
    left, right): (B,4,S) logits, or a ``Laplace`` of (B,4) tensors (``decoders.py``)."""

    def __init__(self, cfg: ModelConfig, geometry: CropGeometry):
        super().__init__()
        self.cfg = cfg
        self.geometry = geometry  # the crops it takes (bbadj.adjust and evaluation cut them so)
        self.crop_size = crop_size = geometry.crop_size
        self.backbone = build_backbone(cfg)
        self.fusion = build_fusion(cfg.fusion, self.backbone.channels, self.backbone.strides, cfg.hidden)
        self.pool = DirectionalPooling(cfg.pooling)
        # Each ResNet stride-2 step maps a length n to ceil(n / 2), so a map of stride s is
        # ceil(S / s) long; the conv1d decoder sizes its upsampling stack by it, the regression
        # decoder its fully connected layer.
        lengths = [math.ceil(crop_size / s) for s in self.fusion.strides]
        pairs = list(zip(self.fusion.channels, lengths))
        self.y_decoders = nn.ModuleList(build_decoder(cfg.decoder, c, cfg.hidden, n, geometry) for c, n in pairs)
        self.x_decoders = nn.ModuleList(build_decoder(cfg.decoder, c, cfg.hidden, n, geometry) for c, n in pairs)

    def head(self, maps: list[torch.Tensor]):
        """Fused maps (B,C,H,W) -> the four edges: pool, decode each map, average over maps."""
        outs = []
        for fmap, dec_y, dec_x in zip(maps, self.y_decoders, self.x_decoders, strict=True):
            seq_x, seq_y = self.pool(fmap)
            # Rows along y give the top/bottom edges; columns along x give left/right.
            outs.append(combine(lambda y, x: torch.cat([y, x], dim=1), dec_y(seq_y), dec_x(seq_x)))
        return combine(lambda *per_map: torch.stack(per_map).mean(0), *outs)

    def forward(self, x: torch.Tensor):
        if x.shape[-2:] != (self.crop_size, self.crop_size):
            raise ValueError(f"expected crops of {self.crop_size}x{self.crop_size}, got {tuple(x.shape)}")
        return self.head(self.fusion(self.backbone(x)))


def build_model(cfg: ModelConfig, geometry: CropGeometry) -> BoxAdjuster:
    return BoxAdjuster(cfg, geometry)

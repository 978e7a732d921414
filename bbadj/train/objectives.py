"""What a training run trains (``train.objective``), each registered under its name: the network it
builds from the config, and its loss on the crops' true edges (``positions``: (B, 4) in crop
positions, EDGES order, not clamped to the crop).

- ``boxes``: the box adjuster (paper, Figure 3) with ``train.loss`` on its four edges: every row.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.config import Config, TrainConfig
from ..core.registry import OBJECTIVES
from ..model import build_model
from .losses import edge_loss


@OBJECTIVES.register("boxes", adjusts_boxes=True)
class Boxes:
    @staticmethod
    def build(cfg: Config) -> nn.Module:
        return build_model(cfg.model, cfg.data.geometry)

    @staticmethod
    def loss(out, positions: torch.Tensor, tc: TrainConfig, size: int) -> torch.Tensor:
        return edge_loss(out, positions, tc.loss, tc.gaussian_sigma)

"""The Snapper box-adjustment model: one file per idea (backbone, fusion, pooling, decoders)."""

from .adjuster import BoxAdjuster, build_model
from .backbone import build_backbone
from .directional_pooling import DirectionalPooling

__all__ = ["BoxAdjuster", "build_model", "build_backbone", "DirectionalPooling"]

"""The backbone: a torchvision ResNet cut into a multi-scale feature extractor.

Paper: "ResNet-50 ... multi-scale feature map". The paper does not say which layers; we expose
layer2-4 (strides 8, 16, 32) and let ``fusion.py`` decide how they are combined.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from bbadj.config import ModelConfig

RETURN_LAYERS = ("layer2", "layer3", "layer4")
STRIDES = {"layer2": 8, "layer3": 16, "layer4": 32}

# name -> (constructor, weights enum); each enum's DEFAULT is the ImageNet weights we use.
_ARCHS = {
    "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights),
    "resnet34": (torchvision.models.resnet34, torchvision.models.ResNet34_Weights),
    "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights),
}
_NORMS = {"batchnorm": nn.BatchNorm2d, "frozen": FrozenBatchNorm2d}


class Backbone(nn.Module):
    """forward(x: (B,3,S,S)) -> OrderedDict {"layer2","layer3","layer4"} of (B,C,S/stride,S/stride)."""

    def __init__(self, resnet: torchvision.models.ResNet):
        super().__init__()
        # layer4's width is what the classifier reads; each earlier stage has half the channels.
        c4 = resnet.fc.in_features
        self.channels = {"layer2": c4 // 4, "layer3": c4 // 2, "layer4": c4}
        self.strides = dict(STRIDES)
        self.body = create_feature_extractor(resnet, return_nodes={k: k for k in RETURN_LAYERS})

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        out = self.body(x)
        return OrderedDict((k, out[k]) for k in RETURN_LAYERS)


def build_backbone(cfg: ModelConfig) -> Backbone:
    if cfg.backbone not in _ARCHS:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; choose one of {sorted(_ARCHS)}")
    if cfg.norm not in _NORMS:
        raise ValueError(f"unknown norm {cfg.norm!r}; choose one of {sorted(_NORMS)}")
    ctor, weights_enum = _ARCHS[cfg.backbone]
    resnet = ctor(weights=None, norm_layer=_NORMS[cfg.norm])
    if cfg.pretrained == "imagenet":
        resnet.load_state_dict(_imagenet_state_dict(weights_enum.DEFAULT))
    elif cfg.pretrained != "none":
        _load_path(resnet, cfg.pretrained)
    return Backbone(resnet)


def _imagenet_state_dict(weights) -> dict:
    """torchvision's own download-or-cache path; a failure is an error, never a silent random init
    (a "pretrained" ablation that quietly trained from scratch would be a wrong result)."""
    cache = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # URLError, hash mismatch, truncated file ...: all mean "no weights"
        raise RuntimeError(
            f"could not load ImageNet weights {weights!r} for model.pretrained=imagenet: "
            f"{type(e).__name__}: {e}\n"
            f"torch looks for them at {cache} (torch.hub.get_dir() = {torch.hub.get_dir()}, "
            f"set by $TORCH_HOME) and otherwise downloads {weights.url}.\n"
            f"Fix: download that file into {os.path.dirname(cache)} on a machine with internet, "
            f"or set model.pretrained to the path of a saved state dict."
        ) from e


def _load_path(resnet: nn.Module, path: str) -> None:
    """A plain torchvision ResNet state dict; the classifier (fc.*) may be absent: we don't use it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model.pretrained: no state dict file at {path!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        missing, unexpected = resnet.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches (e.g. resnet50 weights for a resnet18)
        raise RuntimeError(f"model.pretrained={path!r} does not fit this backbone: {e}") from e
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise RuntimeError(
            f"model.pretrained={path!r} is not a plain state dict of this ResNet: "
            f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected key(s) "
            f"{unexpected[:5]}"
        )

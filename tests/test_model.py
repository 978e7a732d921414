"""Tests of bbadj.model (with ResNets): shapes and gradients of every variant, the pooling axes, weight loading."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.misc import FrozenBatchNorm2d

from bbadj.core.config import DataConfig, ModelConfig
from bbadj.core.box_ops import EDGES
from bbadj.model import BoxAdjuster, DirectionalPooling, build_backbone, build_model
from bbadj.core.registry import DECODERS, FUSIONS
from bbadj.model.decoders import Laplace, RegressionDecoder
from bbadj.model.decoding import decode_edges


def resnet(**kw) -> ModelConfig:
    """A ResNet-18 from scratch, all of it trained (these tests are about the ResNets; the default
    backbone, EfficientNet-Lite0, is tests/test_backbone.py's)."""
    return ModelConfig(**{"backbone": "resnet18", "pretrained": "none", "train_from": "stem", **kw})


def _fields(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, Laplace) else [out]


@pytest.mark.parametrize("S", [96, 224])
@pytest.mark.parametrize("decoder", DECODERS.names())
@pytest.mark.parametrize("fusion", FUSIONS.names())
def test_every_variant_forward_backward(fusion, decoder, S):
    torch.manual_seed(0)
    model = build_model(resnet(fusion=fusion, decoder=decoder, hidden=32), DataConfig(crop_size=S).geometry)
    out = model(torch.randn(2, 3, S, S))
    # logits over the S positions of each edge, or a Laplace's (mu, log b) of each edge
    shape = {"logits": (2, len(EDGES), S), "laplace": (2, len(EDGES))}[DECODERS.meta(decoder)["output"]]
    assert all(t.shape == shape and torch.isfinite(t).all() for t in _fields(out))
    if isinstance(out, Laplace):  # its last layer starts at zero: the rough box's edges, b = 1 position
        anchor = (S - 1) * (0.5 + 0.5 / 1.3 * torch.tensor([-1.0, 1.0, -1.0, 1.0]))
        assert torch.allclose(out.mu, anchor.expand(2, 4)) and torch.equal(out.log_b, torch.zeros(2, 4))
        torch.manual_seed(1)
        for d in (*model.y_decoders, *model.x_decoders):
            torch.nn.init.normal_(d.out.weight, std=0.1)  # so that gradients reach the layers below
        out = model(torch.randn(2, 3, S, S))
    sum(t.square().mean() for t in _fields(out)).backward()
    for part in (model.backbone, model.y_decoders, model.x_decoders):
        grads = [p.grad for p in part.parameters()]
        assert grads and all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in (p.grad for p in model.backbone.parameters()))
    assert all(isinstance(d, DECODERS.get(decoder)) for d in (*model.y_decoders, *model.x_decoders))


def test_fusion_channel_counts_and_fpn():
    channels = {
        f: build_model(resnet(fusion=f, hidden=32), DataConfig(crop_size=96).geometry).fusion.channels
        for f in FUSIONS.names()
    }
    assert channels == {"l4": [512], "l34_mean": [256, 512], "l34_concat": [256 + 512], "fpn": [32]}
    fpn = build_model(resnet(fusion="fpn", hidden=32), DataConfig(crop_size=96).geometry)
    assert any(isinstance(m, FeaturePyramidNetwork) for m in fpn.modules())
    assert len(fpn.y_decoders) == 1
    assert len(build_model(resnet(fusion="l34_mean"), DataConfig(crop_size=96).geometry).y_decoders) == 2


def test_resnet50_channels():
    backbone = build_backbone(resnet(backbone="resnet50"))
    assert backbone.channels == {"layer2": 512, "layer3": 1024, "layer4": 2048}
    feats = backbone(torch.randn(1, 3, 64, 64))
    assert list(feats) == ["layer2", "layer3", "layer4"]
    assert {k: v.shape[1] for k, v in feats.items()} == backbone.channels
    assert feats["layer4"].shape[-2:] == (2, 2)
    model = build_model(resnet(backbone="resnet50", fusion="l34_concat", hidden=32), DataConfig(crop_size=64).geometry)
    assert model.fusion.channels == [1024 + 2048]
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4, 64)


# ---------------------------------------------------------------------------------------------
# The axes. docs/protocol.md: a re-implementation decoded the sequence along x into top/bottom.
# Every test below would fail with that wiring.


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_directional_pooling_axes(mode):
    pool = DirectionalPooling(mode)
    x = torch.zeros(1, 2, 8, 10)
    x[:, :, 2, 3:6] = 1.0  # a bright horizontal bar at row 2, columns 3-5
    down = torch.roll(x, 3, dims=2)  # bar moved to row 5
    right = torch.roll(x, 4, dims=3)  # bar moved to columns 7-9
    seq_x, seq_y = pool(x)
    assert seq_x.shape == (1, 2, 10) and seq_y.shape == (1, 2, 8)
    assert seq_y[0, 0].argmax() == 2  # the sequence along y finds the bar's row
    down_x, down_y = pool(down)
    assert torch.equal(down_x, seq_x) and not torch.equal(down_y, seq_y)
    assert down_y[0, 0].argmax() == 5
    right_x, right_y = pool(right)
    assert torch.equal(right_y, seq_y) and not torch.equal(right_x, seq_x)


def _split(out):
    if isinstance(out, Laplace):  # (top, bottom), (left, right) by EDGES, each (mu, log b)
        return torch.stack([out.mu[:, :2], out.log_b[:, :2]]), torch.stack([out.mu[:, 2:], out.log_b[:, 2:]])
    return out[:, :2], out[:, 2:]


def test_edges_order():
    assert EDGES == ("top", "bottom", "left", "right")
    model = build_model(resnet(), DataConfig(crop_size=96).geometry)
    assert isinstance(model, BoxAdjuster) and model.crop_size == 96 and model.cfg == resnet()


def _trained_looking(model):
    """The regression decoders' last layer off zero (where it starts): their output then depends on the input."""
    torch.manual_seed(2)
    for d in (*model.y_decoders, *model.x_decoders):
        if isinstance(d, RegressionDecoder):
            torch.nn.init.normal_(d.out.weight, std=0.5)
    return model


@pytest.mark.parametrize("decoder", ["conv1d", "regression"])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_adjuster_head_axes(pooling, decoder):
    # The head (pooling + decoders) on a random fused map. Rolling the map along H permutes
    # each column's values, which mean/max pooling over H ignores: seq_x is unchanged (up to
    # summation order), so left/right must stay equal while top/bottom change. With the wrong
    # wiring it is top/bottom that would stay equal.
    torch.manual_seed(0)
    model = build_model(
        resnet(fusion="l4", decoder=decoder, pooling=pooling, hidden=32), DataConfig(crop_size=224).geometry
    ).eval()
    model = _trained_looking(model)
    fmap = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        base_tb, base_lr = _split(model.head([fmap]))
        down_tb, down_lr = _split(model.head([torch.roll(fmap, 2, dims=2)]))
        right_tb, right_lr = _split(model.head([torch.roll(fmap, 2, dims=3)]))
    assert torch.allclose(down_lr, base_lr, rtol=1e-5, atol=1e-5) and (down_tb - base_tb).abs().max() > 1e-2
    assert torch.allclose(right_tb, base_tb, rtol=1e-5, atol=1e-5) and (right_lr - base_lr).abs().max() > 1e-2


class _PatchBackbone(nn.Module):
    """A stand-in backbone that is *exactly* shift-equivariant for shifts by multiples of 32:
    a 32x32/stride-32 patch embedding with no padding (a ResNet's zero padding and 400+ px
    receptive field mean no shift of a 224 crop leaves its features merely shifted)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 512, kernel_size=32, stride=32)

    def forward(self, x):
        f = self.embed(x)
        return {"layer2": None, "layer3": None, "layer4": f}


@pytest.mark.parametrize("decoder", ["conv1d", "regression"])
def test_adjuster_forward_axes_on_images(decoder):
    # The full forward path (fusion -> pooling -> decoders -> EDGES order) from images: an
    # object pasted at two heights (same columns) must move top/bottom and leave left/right
    # equal; pasted at two horizontal positions, the reverse.
    torch.manual_seed(0)
    model = build_model(resnet(fusion="l4", decoder=decoder, hidden=32), DataConfig(crop_size=224).geometry).eval()
    model = _trained_looking(model)
    model.backbone = _PatchBackbone()
    obj = torch.rand(3, 50, 70)

    def paste(row, col):
        img = torch.zeros(1, 3, 224, 224)
        img[0, :, row : row + 50, col : col + 70] = obj
        return img

    with torch.no_grad():
        base_tb, base_lr = _split(model(paste(20, 30)))
        down_tb, down_lr = _split(model(paste(20 + 64, 30)))  # two patch rows lower
        right_tb, right_lr = _split(model(paste(20, 30 + 96)))  # three patch columns right
    assert torch.allclose(down_lr, base_lr, rtol=1e-5, atol=1e-5) and (down_tb - base_tb).abs().max() > 1e-2
    assert torch.allclose(right_tb, base_tb, rtol=1e-5, atol=1e-5) and (right_lr - base_lr).abs().max() > 1e-2


# ---------------------------------------------------------------------------------------------
# Pretrained weights and norms.


def _no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in this test")

    monkeypatch.setattr(torch.hub, "urlopen", refuse)  # hermetic even where internet exists


def test_imagenet_without_cache_fails_clearly(monkeypatch, tmp_path):
    _no_network(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError) as err:
        build_backbone(resnet(backbone="resnet18", pretrained="imagenet"))
    msg = str(err.value)
    assert "ResNet18_Weights.IMAGENET1K_V1" in msg
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    assert "state dict" in msg


def test_imagenet_loads_from_cache(monkeypatch, tmp_path):
    # The real loading path: a file at the cache location the error message names is used.
    _no_network(monkeypatch, tmp_path)
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    saved = torchvision.models.resnet18().state_dict()
    torch.save(saved, cache / weights.url.rsplit("/", 1)[1])
    body = build_backbone(resnet(backbone="resnet18", pretrained="imagenet")).body.state_dict()
    assert torch.equal(body["layer4.1.conv2.weight"], saved["layer4.1.conv2.weight"])


def test_pretrained_missing_path(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_backbone(resnet(pretrained=str(path)))


@pytest.mark.parametrize("norm", ["batchnorm", "frozen"])
def test_pretrained_path_loads(tmp_path, norm):
    torch.manual_seed(1)
    saved = torchvision.models.resnet18().state_dict()
    for k, v in saved.items():  # distinguishable from any default init, buffers included
        if v.is_floating_point():
            v.normal_()
    del saved["fc.weight"], saved["fc.bias"]  # the classifier may be absent
    path = tmp_path / "r18.pth"
    torch.save(saved, path)
    body = build_backbone(resnet(pretrained=str(path), norm=norm)).body.state_dict()
    for k, v in saved.items():
        if not k.endswith("num_batches_tracked") or norm == "batchnorm":
            assert torch.equal(body[k], v), k


def test_pretrained_path_with_wrong_keys(tmp_path):
    saved = torchvision.models.resnet18().state_dict()
    saved = {("module." + k if k.startswith("layer1") else k): v for k, v in saved.items()}
    path = tmp_path / "bad.pth"
    torch.save(saved, path)
    with pytest.raises(RuntimeError, match=r"missing key.*layer1\..*unexpected key.*module\.layer1"):
        build_backbone(resnet(pretrained=str(path)))


def test_frozen_norm():
    backbone = build_backbone(resnet(norm="frozen"))
    kinds = {type(m) for m in backbone.modules()}
    assert FrozenBatchNorm2d in kinds and nn.BatchNorm2d not in kinds
    assert nn.BatchNorm2d in {type(m) for m in build_backbone(resnet()).modules()}


def test_input_size_checked():
    model = build_model(resnet(), DataConfig(crop_size=96).geometry)
    with pytest.raises(ValueError, match="96x96"):
        model(torch.randn(1, 3, 64, 64))


def test_regression_places_an_edge_beyond_the_crop():
    # buffer 1: the rough box's edges are the crop's borders, positions 0 and S - 1 = 10
    dec = RegressionDecoder(8, 8, 3, DataConfig(crop_size=11, buffer_ratio=1.0).geometry)
    with torch.no_grad():
        dec.out.bias.copy_(torch.tensor([-0.3, 0.0, 0.25, 0.0]))  # (offset, log b) of each edge of the pair
    out = dec(torch.randn(2, 8, 3))
    assert torch.allclose(out.mu, torch.tensor([[-3.0, 12.5]] * 2))
    assert out.log_b.tolist() == [[0.0, 0.0]] * 2
    # decoded where it lies, beyond [0, 10]; but never beyond the image
    four = Laplace(out.mu.repeat(1, 2), out.log_b.repeat(1, 2))
    pos, _, _ = decode_edges(four)
    assert torch.allclose(pos, torch.tensor([[-3.0, 12.5, -3.0, 12.5]] * 2))
    lo, hi = torch.full((2, 4), -1.0), torch.full((2, 4), 20.0)
    assert torch.allclose(decode_edges(four, bounds=(lo, hi))[0], torch.tensor([[-1.0, 12.5, -1.0, 12.5]] * 2))

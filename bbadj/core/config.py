"""Configuration as data: dataclasses loaded from ``params.yaml`` (or any YAML/dict).

Every number that changes what the study measures lives here, not in code. Each section checks
its values when it is made (``__post_init__``): a value out of range, or a name the package does
not know (a backbone, a fusion, a loss...), is a ``ConfigError`` naming the key (as ``--set``
spells it) and what it may be, before anything loads. ``Config.from_dict`` checks every key and
section before it stops, and names every problem at once.
"""

from __future__ import annotations

import dataclasses
import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import yaml

from ..util.errors import ConfigError, UnknownName, WrongType
from .registry import DECODERS, DECODINGS, FUSIONS, LOSSES, OBJECTIVES

# ImageNet statistics: torchvision's pretrained ResNets expect them, and crops are filled with
# the mean (zero after normalisation) where they leave the image.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The names each setting may take, checked here, so a wrong one stops a command before data or
# weights load rather than deep inside a training. Fusions, decoders, losses, decodings and
# objectives are the names their modules register (bbadj.core.registry, read from their source:
# importing them would import torch); the rest are listed here (tests/test_config.py checks them
# against bbadj.model.backbone).
BACKBONES = ("resnet18", "resnet34", "resnet50", "efficientnet_lite0")
POOLINGS = ("mean", "max")
NORMS = ("batchnorm", "frozen")
TRAIN_FROM = ("stem", "layer2", "layer3", "layer4")
OPTIMIZERS = ("adam", "adamw")
# boxes in one batch, at most: a batch of 4096 crops of 224 px is 2.5 GB of input alone, and the
# activations are many times that (the paper's batch was 64; docs/gpu.md's H200 measured 128)
MAX_BATCH = 4096
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass
class JitterConfig:
    """The jitter protocol (docs/protocol.md): centre shift u*w, v*h with u, v ~ U[-shift, shift];
    one scale s ~ U[1-scale, 1+scale] for both sides; clipped to the image."""

    shift: float = 0.1
    scale: float = 0.1

    def __post_init__(self):
        require(self.shift >= 0, "data.jitter.shift", ">= 0", self.shift)
        require(0 <= self.scale < 1, "data.jitter.scale", "in [0, 1) (a box scaled by 1 - scale)", self.scale)


@dataclass
class MixConfig:
    """A second training source: ``fraction`` of every batch comes from it (0: none)."""

    annotations: str = ""
    images: str = ""
    fraction: float = 0.0

    def __post_init__(self):
        require(0.0 <= self.fraction < 1.0, "data.mix.fraction", "in [0, 1)", self.fraction)
        if self.fraction > 0 and not (self.annotations and self.images):
            raise ConfigError("data.mix.fraction > 0 needs data.mix.annotations and data.mix.images")


@dataclass
class CalibrationConfig:
    """Held-out boxes of the training photographs (never trained on) on which, after training, the
    scale of ``err_px`` is fitted: the mean expected error made equal to the mean observed one over
    ``draws`` jitter draws (bbadj/scoring/calibration.py). "": none (err_px as the model gives it)."""

    annotations: str = ""
    images: str = ""
    draws: int = 8

    def __post_init__(self):
        require(self.draws >= 1, "data.calibration.draws", ">= 1", self.draws)
        if bool(self.annotations) != bool(self.images):
            raise ConfigError("data.calibration needs both annotations and images (or neither)")


def _default_eval_sets() -> dict[str, dict[str, str]]:
    return {
        "coco_val2017": {
            "annotations": "data/coco_val2017/annotations/test.json",
            "images": "data/coco_val2017/images",
            "role": "test",
        },
        "coco128": {
            "annotations": "data/coco128/annotations/val.json",
            "images": "data/coco128/images",
            "role": "validation",
        },
    }


ROLES = ("validation", "test")  # eval.sets.<name>.role: chosen on, or reported on (docs/protocol.md)


@dataclass
class DataConfig:
    train_annotations: str = "data/coco128/annotations/train.json"
    train_images: str = "data/coco128/images"
    mix: MixConfig = field(default_factory=MixConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    crop_size: int = 96  # S: the crop is resampled to S x S, and each edge is classified over S positions
    buffer_ratio: float = 1.3  # the jittered box is scaled about its centre by this to define the crop
    jitter: JitterConfig = field(default_factory=JitterConfig)
    hflip: float = 0.5  # training only: the share of crops mirrored left-right (their left/right targets swapped)
    skip_crowd: bool = True
    min_box_size: float = 1.0  # boxes narrower or lower than this (pixels) are skipped and counted
    roi_sampling_ratio: int = 2  # roi_align samples per output pixel per axis (-1: adaptive, slower on big boxes)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    num_workers: int = 0  # DataLoader processes that decode and crop while the model steps
    image_cache_mb: float = 2048.0  # training keeps prepared images in memory up to this (per loader process; 0: none)

    def __post_init__(self):
        require(
            self.crop_size >= 2,
            "data.crop_size",
            "an integer >= 2 (each edge is classified over its S positions)",
            self.crop_size,
        )
        check_buffer_ratio(self.buffer_ratio, "data.buffer_ratio")
        require(0 <= self.hflip <= 1, "data.hflip", "in [0, 1] (a share of the crops)", self.hflip)
        require(self.min_box_size >= 0, "data.min_box_size", ">= 0 pixels", self.min_box_size)
        require(
            self.roi_sampling_ratio == -1 or self.roi_sampling_ratio >= 1,
            "data.roi_sampling_ratio",
            "-1 (adaptive) or >= 1",
            self.roi_sampling_ratio,
        )
        require(self.num_workers >= 0, "data.num_workers", ">= 0", self.num_workers)
        require(self.image_cache_mb >= 0, "data.image_cache_mb", ">= 0", self.image_cache_mb)
        require(
            len(self.mean) == 3 and len(self.std) == 3 and all(s > 0 for s in self.std),
            "data.mean and data.std",
            "3 numbers each, std > 0",
            (self.mean, self.std),
        )

    @property
    def geometry(self) -> CropGeometry:
        return CropGeometry(
            self.crop_size, self.buffer_ratio, self.roi_sampling_ratio, tuple(self.mean), tuple(self.std)
        )


@dataclass(frozen=True)
class CropGeometry:
    """How a rough box becomes the model's input: the window (the box scaled about its centre by
    ``buffer_ratio``) resampled to ``crop_size`` x ``crop_size`` by ``roi_align`` with
    ``roi_sampling_ratio`` samples per output pixel and axis, normalised with ``mean``/``std``.
    The model owns one (``model.geometry``, from the data section it was trained with, which its
    checkpoint stores); evaluation may override the buffer ratio, and nothing else."""

    crop_size: int
    buffer_ratio: float
    roi_sampling_ratio: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def with_buffer_ratio(self, buffer_ratio: float | None) -> "CropGeometry":
        if buffer_ratio is None:
            return self
        check_buffer_ratio(buffer_ratio, "the buffer ratio (--buffer-ratio)")
        return dataclasses.replace(self, buffer_ratio=float(buffer_ratio))


def check_buffer_ratio(value: float, key: str) -> None:
    # the window is the rough box scaled by it: under 1 it cuts off the very edges to be found
    # (issue 17's probe: data.buffer_ratio 0.5 gave mIoU 0.002, and 0 a window of nothing)
    require(math.isfinite(value) and value >= 1, key, ">= 1 (the crop window is the box scaled by it)", value)


def check_name(value, key: str, names: tuple[str, ...]) -> None:
    require(value in names, key, f"one of {', '.join(names)}", value)


def check_device(value, key: str) -> None:
    require(isinstance(value, str) and bool(_DEVICE_RE.match(value)), key, "auto, cpu, cuda or cuda:N", value)


@dataclass
class ModelConfig:
    backbone: str = "efficientnet_lite0"  # efficientnet_lite0 | resnet18 | resnet34 | resnet50 (the paper's)
    # backbone weights: imagenet | none | a path: a bbadj checkpoint (its backbone) or a state dict of the
    # backbone's classifier network
    pretrained: str = "imagenet"
    init_from: str = ""  # a bbadj checkpoint whose weights start the whole model (two-stage training); "": none
    norm: str = "batchnorm"  # backbone norm layers: batchnorm (trainable) | frozen (DETR's FrozenBatchNorm2d)
    # the backbone trains from this level on (stem: all of it); the layers before it keep their initial
    # weights and normalisation statistics: stem | layer2 | layer3 | layer4
    train_from: str = "layer2"
    fusion: str = "l4"  # a fusion of bbadj/model/fusion.py
    decoder: str = "conv1d"  # a decoder of bbadj/model/decoders.py (regression: the edges regressed, not classified)
    pooling: str = "mean"  # directional pooling: mean | max
    hidden: int = 128  # channels inside the conv1d decoder and the FPN

    def __post_init__(self):
        require(self.hidden >= 1, "model.hidden", ">= 1", self.hidden)
        for key, names in (
            ("backbone", BACKBONES),
            ("fusion", FUSIONS.names()),
            ("decoder", DECODERS.names()),
            ("pooling", POOLINGS),
            ("norm", NORMS),
            ("train_from", TRAIN_FROM),
        ):
            check_name(getattr(self, key), f"model.{key}", names)
        require(bool(self.pretrained), "model.pretrained", "imagenet, none or a path to weights", self.pretrained)


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # adam | adamw
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 32  # boxes per optimiser step (global, across all processes)
    epochs: float = 1.0
    max_steps: int = 100  # > 0 caps the run at this many steps whatever `epochs` says; 0: run the epochs
    warmup_steps: int = 10
    grad_clip: float = 1.0  # max gradient norm; 0 disables
    loss: str = "two_point"  # a loss of bbadj/train/losses.py, for model.decoder's output
    gaussian_sigma: float = 1.0  # in positions, for loss=gaussian
    amp: bool = True  # used on CUDA only (bf16 where supported)
    channels_last: bool = True  # NHWC model and crops (faster convolutions on CUDA)
    compile: bool = False
    seed: int = 0
    # torch.set_num_threads while training (0: torch's own); other counts sum in another order (docs/noise.md).
    # 1: the study trains a row's seeds side by side (study.seeds_at_once), one core each
    threads: int = 1
    checkpoint_every: int = 100  # steps; a checkpoint is also written at the end
    log_every: int = 10
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    nproc_per_node: int = 1  # > 1: the study's train stage runs under torchrun with this many processes
    # what is trained (bbadj/train/objectives.py): boxes (the model, train.loss on its edges)
    objective: str = "boxes"

    def __post_init__(self):
        # lr 0 is allowed (it trains only the batch-norm statistics; engine.train warns)
        for key, ok, allowed in [
            ("lr", math.isfinite(self.lr) and self.lr >= 0, ">= 0 and finite"),
            ("weight_decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0, ">= 0"),
            ("batch_size", 1 <= self.batch_size <= MAX_BATCH, f"in 1..{MAX_BATCH} (boxes per step)"),
            ("epochs", math.isfinite(self.epochs) and self.epochs > 0, "> 0"),
            ("max_steps", self.max_steps >= 0, ">= 0 (0: run train.epochs)"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("grad_clip", math.isfinite(self.grad_clip) and self.grad_clip >= 0, ">= 0 (0: no clipping)"),
            ("gaussian_sigma", self.gaussian_sigma > 0, "> 0"),
            ("seed", self.seed >= 0, ">= 0"),
            ("threads", self.threads >= 0, ">= 0 (0: torch's own choice)"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1 (steps)"),
            ("log_every", self.log_every >= 1, ">= 1 (steps)"),
            ("nproc_per_node", self.nproc_per_node >= 1, ">= 1"),
        ]:
            require(ok, f"train.{key}", allowed, getattr(self, key))
        check_name(self.optimizer, "train.optimizer", OPTIMIZERS)
        check_name(self.loss, "train.loss", LOSSES.names())
        check_name(self.objective, "train.objective", OBJECTIVES.names())
        check_device(self.device, "train.device")


@dataclass
class EvalConfig:
    decoding: str = "subpixel"  # a decoding of bbadj/model/decoding.py (of the logits; a Laplace decodes at its mu)
    window: int = 2  # subpixel: positions either side of the peak in the expectation
    passes: int = 1  # > 1: the model is applied again to its own output (iterative refinement)
    repeats: int = 2  # jitter draws averaged
    seed: int = 1234
    batch_size: int = 32  # boxes per forward (params.yaml says why)
    device: str = "auto"
    # name -> {annotations, images, role}: the held-out sets every evaluation scores, each on its own.
    # role: validation (recipes, steps and thresholds are chosen on it) or test (the headline and every
    # ablation are reported on it, and it is used for nothing else): exactly one test set; a set without
    # a role is a validation set, and a single set without one is the test set
    sets: dict = field(default_factory=_default_eval_sets)

    def __post_init__(self):
        require(self.window >= 0, "eval.window", ">= 0 (positions either side of the peak)", self.window)
        for key in ("passes", "repeats", "batch_size"):
            require(getattr(self, key) >= 1, f"eval.{key}", ">= 1", getattr(self, key))
        require(
            self.batch_size <= MAX_BATCH, "eval.batch_size", f"in 1..{MAX_BATCH} (boxes per batch)", self.batch_size
        )
        check_name(self.decoding, "eval.decoding", DECODINGS.names())
        check_device(self.device, "eval.device")
        require(self.seed >= 0, "eval.seed", ">= 0", self.seed)
        if not isinstance(self.sets, dict) or not self.sets:
            raise ConfigError(
                f"eval.sets must be a non-empty mapping name -> {{annotations, images}}, got {self.sets!r}"
            )
        for name, paths in self.sets.items():
            if not isinstance(paths, dict) or not {"annotations", "images"} <= set(paths) <= {
                "annotations",
                "images",
                "role",
            }:
                raise ConfigError(
                    f"eval.sets.{name} must have the keys annotations and images (and a role), got {paths!r}"
                )
            check_name(paths.get("role", "validation"), f"eval.sets.{name}.role", ROLES)
        tests = [n for n, p in self.sets.items() if p.get("role") == "test"]
        if len(tests) > 1:
            raise ConfigError(
                f"eval.sets: one set `role: test` at most (the headline and every verdict come "
                f"from it; the others are validation sets), got {len(tests)}: {', '.join(tests)}"
            )

    @property
    def test_set(self) -> str | None:
        """The name of the set the study reports on (``role: test``), None where no set has that role:
        then the report's verdicts come from a validation set, and it says so."""
        return next((n for n, s in self.sets.items() if s.get("role") == "test"), None)

    def role(self, name: str) -> str:
        """``test`` or ``validation`` (the default): what evaluation set ``name`` is for."""
        self.set_paths(name)
        return self.sets[name].get("role", "validation")

    def set_paths(self, name: str | None = None) -> tuple[str, str]:
        """(annotations, images) of evaluation set ``name`` (default: the test set, else the first)."""
        name = (self.test_set or next(iter(self.sets))) if name is None else name
        if name not in self.sets:
            raise UnknownName(f"no evaluation set {name!r}; eval.sets has {sorted(self.sets)}")
        return self.sets[name]["annotations"], self.sets[name]["images"]


@dataclass
class GrabCutConfig:
    """The ``grabcut`` section: the classical baseline's settings (``bbadj/scoring/grabcut.py``)."""

    enlarge: float = 1.12  # GrabCut's rectangle: the jittered box scaled about its centre by this
    iterations: int = 5  # GrabCut's EM iterations
    max_side: int = 96  # working resolution: longer side of the region, in pixels, at most
    context: float = 0.25  # background around the rectangle, as a fraction of its size per side
    seed: int = 0  # OpenCV's RNG (GrabCut's colour models start from k-means)

    def __post_init__(self):
        if self.enlarge <= 0 or self.iterations < 1 or self.max_side < 8 or self.context < 0:
            raise ConfigError(f"grabcut: need enlarge > 0, iterations >= 1, max_side >= 8 and context >= 0, got {self}")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        # the loss trains the decoder's output: logits over positions, or a Laplace per edge
        decoder, loss = self.model.decoder, self.train.loss
        if decoder in DECODERS.names() and loss in LOSSES.names():
            output = DECODERS.meta(decoder)["output"]
            fits = [n for n in LOSSES.names() if LOSSES.meta(n)["output"] == output]
            require(
                loss in fits,
                "train.loss",
                f"a loss for model.decoder={decoder}'s {output} (one of {', '.join(fits)})",
                loss,
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Config":
        return _build(cls, d or {}, "config")

    def with_overrides(self, overrides: dict[str, Any] | None) -> "Config":
        """A new Config with a nested dict (e.g. one row's entry in params.yaml) merged in."""
        return Config.from_dict(deep_merge(self.to_dict(), overrides or {}))


# while ``collecting_problems`` is active (``Config.from_dict``), ``require`` notes a problem and
# goes on, so that every bad value is named at once
_PROBLEMS: ContextVar[list | None] = ContextVar("config_problems", default=None)


def require(ok: bool, key: str, allowed: str, value) -> None:
    """A ``ConfigError`` "<key> must be <allowed>, got <value>" unless ``ok`` (noted, not raised,
    inside ``collecting_problems``)."""
    if not ok:
        error = ConfigError(f"{key} must be {allowed}, got {value!r}")
        problems = _PROBLEMS.get()
        if problems is None:
            raise error
        problems.append(error)


@contextmanager
def collecting_problems():
    """Every ``require`` and section inside notes its problem and goes on; on leaving, one
    ``ConfigError`` names them all (the very error where there is only one)."""
    if _PROBLEMS.get() is not None:  # an outer collection gathers them
        yield
        return
    problems: list = []
    token = _PROBLEMS.set(problems)
    try:
        yield
    finally:
        _PROBLEMS.reset(token)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigError(f"{len(problems)} settings are wrong:\n- " + "\n- ".join(str(e) for e in problems))


_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def build_dataclass(cls, d: dict[str, Any] | None, where: str):
    """``cls`` from a (nested) dict, rejecting unknown keys and wrong types with the key path."""
    return _build(cls, d or {}, where)


def _build(cls, d: dict[str, Any], where: str):
    with collecting_problems():
        return _build_section(cls, d, where)


def _note(error: ConfigError) -> None:
    problems = _PROBLEMS.get()
    if problems is None:
        raise error
    problems.append(error)


def _build_section(cls, d: dict[str, Any], where: str):
    """``cls`` from ``d``; each bad key noted (``_note``) and left at its default, so that the
    rest is still checked."""
    if not isinstance(d, dict):
        _note(WrongType(f"{where}: expected a mapping, got {type(d).__name__}"))
        d = {}
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        _note(UnknownName(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}"))
    kwargs = {}
    for name, value in d.items():
        if name in known:
            try:
                kwargs[name] = _field_value(known[name], value, where)
            except ConfigError as e:
                _note(e)
    try:
        return cls(**kwargs)
    except ConfigError as e:  # a section's check that is not a `require` (it stops the section)
        _note(e)
        token = _PROBLEMS.set([])  # its defaults stand in for it; what they would note is noted already
        try:
            return cls(**{k: v for k, v in kwargs.items() if is_dataclass(v)})
        finally:
            _PROBLEMS.reset(token)


def _field_value(f, value, where: str):
    """The value of field ``f`` of section ``where`` from its YAML ``value``, type-checked."""
    name = f.name
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if is_dataclass(default):
        return _build_section(type(default), value, f"{where}.{name}")
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise WrongType(f"{where}.{name}: expected a list, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise WrongType(f"{where}.{name}: expected true/false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, float) and isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        return float(value)  # YAML 1.1 (PyYAML) reads 3e-4, without a dot, as a string
    if default is not None and (not isinstance(value, type(default)) or isinstance(value, bool)):
        # (true is an int to Python: train.batch_size: true would be a batch of 1)
        raise WrongType(f"{where}.{name}: expected {type(default).__name__}, got {value!r}")
    return value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["train.lr=3e-4", "model.fusion=fpn"]`` -> nested dict, values parsed as YAML."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out

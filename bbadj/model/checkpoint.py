"""Checkpoints: written atomically, so a run killed mid-write still has its last good one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..core.config import Config
from ..util.errors import ConfigError, DataError, RunError
from ..util.outputs import atomic_open


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` through ``outputs.atomic_open``: readers see the old file or the new one; a
    full disk is an ``OutputError`` naming ``path`` and leaves no ``.tmp`` behind."""
    # into a Python file object, not a path: torch's own file writer reports a full disk as
    # "enforce fail at inline_container.cc", while a file object raises OSError(ENOSPC)
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def read_checkpoint(path: str | Path, what: str = "checkpoint", needs: tuple[str, ...] = ("model", "config"),
                    fix: str = "") -> dict:
    """The dict a bbadj checkpoint holds, with the keys ``needs``. A missing file is a
    ``FileNotFoundError``, a damaged one (a copy cut short, another format) or one without
    those keys a ``DataError``, each naming ``path`` (and, where given, ``fix``: what to do)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    hint = f"; {fix}" if fix else ""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch.load fails on a damaged file with RuntimeError, pickle or EOF errors, ...
        raise DataError(f"{path}: cannot read this {what}, the file is damaged or not a PyTorch checkpoint "
                        f"({type(e).__name__}: {e}){hint}") from e
    missing = [k for k in needs if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise DataError(f"{path}: not a bbadj {what} (it has no {', '.join(repr(k) for k in missing)}){hint}")
    return ckpt


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """A trained model from a training checkpoint (``last.pt``) or an exported ``model.pt``,
    in eval mode: its architecture (``model.cfg``) and crop geometry (``model.geometry``) from
    the config the checkpoint stores, its weights from the file (nothing is downloaded). Weights
    that are NaN or infinite (a run that diverged) are a ``DataError``: they would only give NaN."""
    from . import build_model

    ckpt = read_checkpoint(path)
    check_finite(ckpt["model"], path)
    try:
        cfg = Config.from_dict(ckpt["config"])
    except ConfigError as e:
        raise DataError(f"{path}: the configuration it holds is not valid: {e}") from e
    # the architecture comes from the config; the weights from the file, never downloaded again
    model = build_model(_no_download(cfg).model, cfg.data.geometry)
    model.load_state_dict(ckpt["model"])
    model.err_scale = float(ckpt.get("err_scale", 1.0))  # fitted after training (bbadj.scoring.calibration), else 1
    model.checkpoint = str(path)  # where it came from: bbadj snap records it with the file's sha256
    return model.to(device).eval()


def check_finite(state_dict: dict, path) -> None:
    bad = [k for k, t in state_dict.items()
           if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise DataError(f"{path}: {len(bad)} of {len(state_dict)} weight tensors hold NaN or inf (first: {bad[0]}); "
                        f"the run that wrote it diverged: train it again, e.g. with a lower train.lr")


def init_weights(model, path: str | Path) -> None:
    """Start ``model`` from the weights of the bbadj checkpoint at ``path`` (``model.init_from``):
    the whole model, so the architecture (backbone, fusion, decoders, crop size) must match."""
    if not Path(path).exists():
        raise FileNotFoundError(f"model.init_from: checkpoint not found: {path}")
    ckpt = read_checkpoint(path, "checkpoint (model.init_from)", needs=("model",))
    check_finite(ckpt["model"], path)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise RunError(f"model.init_from: the weights in {path} do not fit this model "
                           f"(backbone, fusion, decoder, hidden and crop size must match): {e}") from e


def _no_download(cfg: Config) -> Config:
    """The config to rebuild a saved model: its weights come from the file, not from elsewhere."""
    return cfg.with_overrides({"model": {"pretrained": "none", "init_from": ""}})

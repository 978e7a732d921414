"""Checkpoints: written atomically, so a run killed mid-write still has its last good one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .config import Config
from .outputs import atomic_open


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` through ``outputs.atomic_open``: readers see the old file or the new one; a
    full disk is an ``OutputError`` naming ``path`` and leaves no ``.tmp`` behind."""
    # into a Python file object, not a path: torch's own file writer reports a full disk as
    # "enforce fail at inline_container.cc", while a file object raises OSError(ENOSPC)
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """A trained model from a training checkpoint (``last.pt``) or an exported ``model.pt``,
    in eval mode: its architecture (``model.cfg``) and crop geometry (``model.geometry``) from
    the config the checkpoint stores, its weights from the file (nothing is downloaded)."""
    from .model import build_model

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path}: not a bbadj checkpoint (needs 'model' and 'config')")
    cfg = Config.from_dict(ckpt["config"])
    # the architecture comes from the config; the weights from the file, never downloaded again
    model = build_model(_no_download(cfg).model, cfg.data.geometry)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def init_weights(model, path: str | Path) -> None:
    """Start ``model`` from the weights of the bbadj checkpoint at ``path`` (``model.init_from``):
    the whole model, so the architecture (backbone, fusion, decoders, crop size) must match."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model.init_from: checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"model.init_from: {path} is not a bbadj checkpoint (needs 'model')")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise RuntimeError(f"model.init_from: the weights in {path} do not fit this model "
                           f"(backbone, fusion, decoder, hidden and crop size must match): {e}") from e


def _no_download(cfg: Config) -> Config:
    """The config to rebuild a saved model: its weights come from the file, not from elsewhere."""
    return cfg.with_overrides({"model": {"pretrained": "none", "init_from": ""}})

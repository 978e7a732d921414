"""Checkpoints: written atomically, so a run killed mid-write still has its last good one; read as
data only (``torch.load(..., weights_only=True)``), so a file from elsewhere never runs code.

What a checkpoint holds is tensors and plain values only (the weights, the optimiser's, scheduler's
and scaler's states, torch's RNG state, the config as a dict, the step, the run's fingerprints,
``err_scale`` and what it was fitted on): exactly what torch's restricted unpickler reads. A file
that holds anything else (a pickled object, which could run code as it is read) is refused, named.
"""

from __future__ import annotations

import pickle
import re
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


def read_checkpoint(
    path: str | Path, what: str = "checkpoint", needs: tuple[str, ...] = ("model", "config"), fix: str = ""
) -> dict:
    """The dict a bbadj checkpoint holds, with the keys ``needs``, read as data only (tensors and
    plain values: nothing in the file is run). A missing file is a ``FileNotFoundError``; a
    damaged one (a copy cut short, another format), one that holds other objects (refused unread:
    they could run code) or one without those keys a ``DataError``, each naming ``path`` (and,
    where given, ``fix``: what to do)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    hint = f"; {fix}" if fix else ""
    damaged = f"{path}: cannot read this {what}, the file is damaged or not a PyTorch checkpoint"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message goes on to suggest weights_only=False: never for a file from elsewhere
        why = re.search(r"WeightsUnpickler error:\s*([^\n]*?)(?:\. Please|\n|$)", str(e))
        if why is None or "Unsupported operand" in why.group(1):  # not a pickle torch reads at all
            raise DataError(f"{damaged} ({why.group(1) if why else type(e).__name__}){hint}") from None
        raise DataError(
            f"{path}: refused: this {what} holds objects other than tensors and plain values "
            f"({why.group(1)}); such a file can run code as it is read, and no file bbadj writes "
            f"holds one: do not use it unless you know who made it and why{hint}"
        ) from None
    except Exception as e:  # a damaged file: RuntimeError, OSError, EOFError, ...
        raise DataError(f"{damaged} ({type(e).__name__}: {e}){hint}") from e
    missing = [k for k in needs if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise DataError(f"{path}: not a bbadj {what} (it has no {', '.join(repr(k) for k in missing)}){hint}")
    wrong = [k for k in ("model", "config") if k in needs and not isinstance(ckpt[k], dict)]
    if wrong:
        kind = type(ckpt[wrong[0]]).__name__
        raise DataError(f"{path}: not a bbadj {what} (its {wrong[0]!r} is a {kind}, not a dict){hint}")
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
    load_weights(model, ckpt["model"], path)
    model.err_scale = float(ckpt.get("err_scale", 1.0))  # fitted after training (bbadj.scoring.calibration), else 1
    model.checkpoint = str(path)  # where it came from: bbadj snap records it with the file's sha256
    return model.to(device).eval()


def load_weights(model, state_dict: dict, path) -> None:
    """``model.load_state_dict(state_dict)``; a weight missing, unexpected or of another shape is a
    ``DataError`` naming ``path`` and the first such key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(v.shape)} instead of {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and torch.is_tensor(v) and v.shape != own[k].shape
    ]
    problems = [
        f"{len(keys)} {what} (first: {keys[0]})"
        for keys, what in (
            (missing, "weights missing"),
            (extra, "weights this model does not have"),
            (shapes, "weights of another shape"),
        )
        if keys
    ]
    if problems:
        raise DataError(f"{path}: its weights do not fit the model its config describes: {'; '.join(problems)}")
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as e:  # a value that is not a tensor, say
        raise DataError(f"{path}: its weights cannot be loaded: {e}") from e


def check_finite(state_dict: dict, path) -> None:
    bad = [
        k for k, t in state_dict.items() if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()
    ]
    if bad:
        raise DataError(
            f"{path}: {len(bad)} of {len(state_dict)} weight tensors hold NaN or inf (first: {bad[0]}); "
            f"the run that wrote it diverged: train it again, e.g. with a lower train.lr"
        )


def init_weights(model, path: str | Path) -> None:
    """Start ``model`` from the weights of the bbadj checkpoint at ``path`` (``model.init_from``):
    the whole model, so the architecture (backbone, fusion, decoders, crop size) must match."""
    if not Path(path).exists():
        raise FileNotFoundError(f"model.init_from: checkpoint not found: {path}")
    ckpt = read_checkpoint(path, "checkpoint (model.init_from)", needs=("model",))
    check_finite(ckpt["model"], path)
    try:
        load_weights(model, ckpt["model"], path)
    except DataError as e:
        raise RunError(
            f"model.init_from: the weights in {path} do not fit this model "
            f"(backbone, fusion, decoder, hidden and crop size must match): {e}"
        ) from e


def _no_download(cfg: Config) -> Config:
    """The config to rebuild a saved model: its weights come from the file, not from elsewhere."""
    return cfg.with_overrides({"model": {"pretrained": "none", "init_from": ""}})

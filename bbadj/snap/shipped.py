"""The model shipped with bbadj (``bbadj/snap/weights/``, its card beside it), so that an annotation team
snaps boxes on a fresh clone before it has trained anything: ``bbadj snap``, ``bbadj adjust``, ``bbadj serve``
and the snap notebook take it when no checkpoint is given. ``export_half`` writes it from a study model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..model.checkpoint import read_checkpoint, save_atomic

WEIGHTS = Path(__file__).resolve().parent / "weights"
SHIPPED = WEIGHTS / "l4-long.pt"  # the long tier's default row, seed 0, weights in half precision
CARD = WEIGHTS / "MODEL_CARD.md"


def default_checkpoint() -> Path:
    """The shipped model's file; a clear error where an installation lost it."""
    if not SHIPPED.is_file():
        raise FileNotFoundError(
            f"the model shipped with bbadj is missing ({SHIPPED}): reinstall bbadj, or give --checkpoint "
            "(a model the study trained: runs/<row>/seed0/model.pt)"
        )
    return SHIPPED


def checkpoint_or_shipped(path: str | Path | None) -> Path:
    """``path`` when one is given (a command's ``--checkpoint``), else the shipped model's file."""
    return Path(path) if path else default_checkpoint()


def export_half(src: str | Path, dst: str | Path) -> dict:
    """Write the model of ``src`` (a ``model.pt``) to ``dst`` with its floating-point weights in half
    precision (half the bytes; loading casts them back), keeping its config, err_px scale and provenance,
    and the source file's sha256 under ``exported_from``. Returns what was recorded."""
    ckpt = read_checkpoint(src, "model")
    half = {k: v.half() if torch.is_floating_point(v) else v for k, v in ckpt["model"].items()}
    source = {"file": str(src), "sha256": hashlib.sha256(Path(src).read_bytes()).hexdigest(), "dtype": "float16"}
    save_atomic({**ckpt, "model": half, "exported_from": source}, dst)
    return source

"""What a training run is made of, so that a checkpoint resumes only the run it belongs to.

A checkpoint records four fingerprints of its run's inputs: the settings that change the result
(``config``), the training data (``data``: the annotation files' contents and the images'
contents, each image named by its path under the images' common folder: no absolute path and no
modification time, so two clones of the same data, made at other times in other folders, have the
same fingerprint, and a checkpoint trained in either has the same bytes), the code (``code``: the normalised code the training loop reaches, ``bbadj.util.layout.TRAINING``,
without the variants the row does not use, and torch's, torchvision's and timm's versions:
``bbadj.fingerprint.code``) and the weights it started from (``weights``: ``model.init_from`` and a
``model.pretrained`` file). A run resumes only when all four match; otherwise the new inputs
would be trained on top of weights learnt from the old ones, while DVC records the new ones. A
comment, a docstring, a new module or a change to the study's, the report's or the command line's
code changes none of them (docs/which-code-trains.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from .code import code_digest, digest
from ..util.layout import TRAINING

PARTS = ("config", "data", "code", "weights")


def comparable_config(cfg: dict) -> dict:
    """The parts of a config that must match to resume (not where it runs, nor how often it logs)."""
    d = json.loads(json.dumps(cfg))
    for key in ("device", "checkpoint_every", "log_every", "nproc_per_node"):
        d["train"].pop(key, None)
    for key in ("num_workers", "image_cache_mb"):
        d["data"].pop(key, None)
    d.pop("eval", None)
    return d


def run_inputs(
    cfg, annotation_files: Iterable[str | Path], image_files: Iterable[str | Path], root: str | Path | None = None
) -> dict[str, str]:
    """The four fingerprints (hex digests) of a run of ``cfg`` (a ``bbadj.core.config.Config``: infrastructure
    imports no settings) on these files, with the package under ``root`` (default: the one imported)."""
    weights = [cfg.model.init_from] if cfg.model.init_from else []
    if cfg.model.pretrained not in ("imagenet", "none"):
        weights.append(cfg.model.pretrained)
    return {
        "config": config_digest(cfg.to_dict()),
        "data": data_digest(annotation_files, image_files),
        "code": code_digest(TRAINING, root, cfg.to_dict()),
        "weights": digest([file_digest(p) for p in weights]),
    }


def config_digest(cfg: dict) -> str:
    return digest([json.dumps(comparable_config(cfg), sort_keys=True)])


def data_digest(annotation_files: Iterable[str | Path], image_files: Iterable[str | Path]) -> str:
    """The annotation files' contents and each image's contents under its relative name: not where the
    files are (a clone elsewhere trains the same), nor when they were written (a checkout rewrites them all)."""
    return digest([file_digest(p) for p in annotation_files] + _images_digests(image_files))


def _images_digests(image_files: Iterable[str | Path]) -> list[str]:
    """``<name>:<sha256>`` of each image (once), in name order, the name its path under the images'
    common folder (``000000000009.jpg``; with two sources, ``coco128/images/...``). The contents,
    not the size and modification time: an image changed in place at the same size is seen."""
    paths = sorted({os.path.abspath(p) for p in image_files})
    if not paths:
        return []
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    return sorted(f"{Path(os.path.relpath(p, root)).as_posix()}:{_sha256(p)}" for p in paths)


def changed_parts(saved: dict | None, now: dict[str, str]) -> list[str]:
    """The parts of ``now`` that differ from a checkpoint's ``saved`` fingerprints (all of them when
    it has none: a checkpoint written before fingerprints existed is never resumed)."""
    saved = saved or {}
    return [p for p in PARTS if saved.get(p) != now[p]]


def file_digest(path: str | Path) -> str:
    """A file's name and the sha256 of its contents."""
    return f"{Path(path).name}:{_sha256(path)}"


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

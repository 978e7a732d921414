"""What a training run is made of, so that a checkpoint resumes only the run it belongs to.

A checkpoint records four fingerprints of its run's inputs: the settings that change the result
(``config``), the training data (``data``: the annotation files' contents and the images'
contents, each image named by its path under the images' common folder: no absolute path and no
modification time, so two clones of the same data, made at other times in other folders, have the
same fingerprint, and a checkpoint trained in either has the same bytes), the code (``code``:
bbadj's core modules, torch's and timm's versions) and the weights it started from (``weights``:
``model.init_from`` and a ``model.pretrained`` file). A run resumes only when all four match;
otherwise the new inputs would be trained on top of weights learnt from the old ones, while DVC
records the new ones.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Iterable

PARTS = ("config", "data", "code", "weights")
# the package's modules that do not change what training computes: the study, the benchmarks, the
# command line (a change there never makes a run's checkpoint stale)
_NOT_TRAINING = ("study", "report", "bench", "cli", "args.py", "__main__.py")


def comparable_config(cfg: dict) -> dict:
    """The parts of a config that must match to resume (not where it runs, nor how often it logs)."""
    d = json.loads(json.dumps(cfg))
    for key in ("device", "checkpoint_every", "log_every", "nproc_per_node"):
        d["train"].pop(key, None)
    for key in ("num_workers", "image_cache_mb"):
        d["data"].pop(key, None)
    d.pop("eval", None)
    return d


def run_inputs(cfg, annotation_files: Iterable[str | Path], image_files: Iterable[str | Path]) -> dict[str, str]:
    """The four fingerprints (hex digests) of a run of ``cfg`` (a ``bbadj.core.config.Config``: infrastructure
    imports no settings) on these files."""
    weights = [cfg.model.init_from] if cfg.model.init_from else []
    if cfg.model.pretrained not in ("imagenet", "none"):
        weights.append(cfg.model.pretrained)
    return {
        "config": _digest([json.dumps(comparable_config(cfg.to_dict()), sort_keys=True)]),
        "data": _digest([_file_digest(p) for p in annotation_files] + _images_digests(image_files)),
        "code": code_digest(),
        "weights": _digest([_file_digest(p) for p in weights]),
    }


def changed_parts(saved: dict | None, now: dict[str, str]) -> list[str]:
    """The parts of ``now`` that differ from a checkpoint's ``saved`` fingerprints (all of them when
    it has none: a checkpoint written before fingerprints existed is never resumed)."""
    saved = saved or {}
    return [p for p in PARTS if saved.get(p) != now[p]]


def code_digest(root: str | Path | None = None) -> str:
    """bbadj's core modules (their source; ``root``: the package folder), and the versions of torch,
    torchvision and timm."""
    root = Path(root or Path(__file__).resolve().parents[1])
    files = sorted(p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in _NOT_TRAINING)
    items = [f"{p.relative_to(root).as_posix()}\0{p.read_text()}" for p in files]
    for dist in ("torch", "torchvision", "timm"):
        try:
            items.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            items.append(f"{dist} absent")
    return _digest(items)


def _file_digest(path: str | Path) -> str:
    return f"{Path(path).name}:{_sha256(path)}"


def _images_digests(image_files: Iterable[str | Path]) -> list[str]:
    """``<name>:<sha256>`` of each image (once), in name order, the name its path under the images'
    common folder (``000000000009.jpg``; with two sources, ``coco128/images/...``). The contents,
    not the size and modification time: those differ between clones, and an image changed in place
    at the same size would go unseen."""
    paths = sorted({os.path.abspath(p) for p in image_files})
    if not paths:
        return []
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    return sorted(f"{Path(os.path.relpath(p, root)).as_posix()}:{_sha256(p)}" for p in paths)


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()

"""Where a stage runs and what it needs: the repository root (notebooks opened by hand start in
``notebooks/``), and the checks every stage makes before it starts, which say what is missing and
how to get it."""

from __future__ import annotations

from pathlib import Path

from ..core.config import Config
from ..util.errors import BbadjError, ConfigError
from ..core.params import PARAMS


class StudyError(BbadjError, RuntimeError):
    """A stage cannot run here; the message says what is missing and how to fix it."""


def find_root(params_path: str | Path = PARAMS, start: str | Path | None = None) -> Path:
    """The folder the study runs from: the nearest of ``start`` (default: the working directory)
    and its parents that holds ``params_path``. A notebook opened by hand in JupyterLab starts
    its kernel in ``notebooks/``; the study's paths are relative to the repository root."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / params_path).exists():
            return folder
    raise FileNotFoundError(
        f"params file not found: {params_path} (looked in {start} and every folder above it); "
        f"open the notebook from inside the repository, or set params_path"
    )


def chdir_to_root(params_path: str | Path = PARAMS) -> Path:
    """``os.chdir`` to ``find_root(params_path)`` and return it (a no-op when already there)."""
    import os

    root = find_root(params_path)
    os.chdir(root)
    return root


def _hint(path: str) -> str:
    p = Path(path).as_posix()
    if "synth" in p:
        return (
            "no stage of the default study makes a synthetic set: `bbadj synth --out <folder> --images N` "
            "writes one (<folder>/annotations.json and <folder>/images)"
        )
    if "coco128" in p:
        return "data/coco128 is part of the repository: restore it with `git checkout -- data/coco128`"
    if "runs/" in p or p.endswith(".pt"):
        return "train that row first (`dvc repro` trains it before this one)"
    return (
        'MS COCO 2017 goes under data/coco/ (`make coco` downloads it; README, "COCO 2017"); '
        "or go back to the default study with `git checkout params.yaml`"
    )


def preflight(cfg: Config, split: str, device: str | None = None) -> None:
    """Fail early, saying what is missing: the data of ``split`` (train | val) and the device."""
    from ..util.device import resolve_device

    problems = []
    d = cfg.data
    if split == "train":
        paths = [d.train_annotations, d.train_images]
        if d.mix.fraction > 0:
            paths += [d.mix.annotations, d.mix.images]
        if cfg.model.init_from:
            paths.append(cfg.model.init_from)
    else:  # the sets, and the held-out boxes each model's err_px is calibrated on first
        paths = [p for name in cfg.eval.sets for p in cfg.eval.set_paths(name)]
        if d.calibration.annotations:
            paths += [d.calibration.annotations, d.calibration.images]
    missing = list(dict.fromkeys(p for p in paths if not Path(p).exists()))
    for p in missing:
        problems.append(f"{split} input missing: {p}: {_hint(p)}")
    dev = device or (cfg.train.device if split == "train" else cfg.eval.device)
    try:
        resolve_device(dev)
    except ConfigError as e:  # a device torch does not know, or CUDA that is not there
        problems.append(
            f"{e}; set train.device and eval.device to auto or cpu to run on CPU "
            f"(the paper-scale preset needs a CUDA GPU to finish in reasonable time)"
        )
    if problems:
        raise StudyError("cannot run this stage here:\n- " + "\n- ".join(problems))

"""params.yaml -> experiments: names, overrides, one Config each, and the preflight checks
every stage runs before it starts."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, deep_merge, load_config


PARAMS = "params.yaml"


IDENTITY = "identity"  # the jittered boxes as they are: no model


GRABCUT = "grabcut"  # OpenCV's GrabCut from the enlarged jittered box: a classical baseline, no training


BASELINES = (IDENTITY, GRABCUT)


NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


# what an eval-only variant may change: anything else changes the model and needs training
EVAL_ONLY_KEYS = {"eval": None, "data": {"buffer_ratio", "jitter", "num_workers"}}


GROUPS = ("experiments", "finetune", "eval_only")


class StudyError(RuntimeError):
    """A stage cannot run here; the message says what is missing and how to fix it."""


def find_root(params_path: str | Path = PARAMS, start: str | Path | None = None) -> Path:
    """The folder the study runs from: the nearest of ``start`` (default: the working directory)
    and its parents that holds ``params_path``. A notebook opened by hand in JupyterLab starts
    its kernel in ``notebooks/``; the study's paths are relative to the repository root."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / params_path).exists():
            return folder
    raise FileNotFoundError(f"params file not found: {params_path} (looked in {start} and every folder above it); "
                            f"open the notebook from inside the repository, or set params_path")


def chdir_to_root(params_path: str | Path = PARAMS) -> Path:
    """``os.chdir`` to ``find_root(params_path)`` and return it (a no-op when already there)."""
    import os

    root = find_root(params_path)
    os.chdir(root)
    return root


def load_params(params_path: str | Path = PARAMS) -> dict[str, Any]:
    path = Path(params_path)
    if not path.exists():
        raise FileNotFoundError(f"params file not found: {path}")
    params = yaml.safe_load(path.read_text()) or {}
    _validate(params, path)
    return params


def _validate(params: dict, path: Path) -> None:
    groups = {g: params.get(g) or {} for g in GROUPS}
    for g, entries in groups.items():
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: `{g}` must be a mapping name -> overrides")
    seen: dict[str, str] = {}
    for g, entries in groups.items():
        for name in entries:
            if not NAME_RE.match(str(name)) or name in BASELINES:
                raise ValueError(f"{path}: experiment name {name!r} must be letters, digits and _ only, "
                                 f"and not one of {BASELINES} (it becomes a DVC stage and a params key)")
            if name in seen:
                raise ValueError(f"{path}: {name!r} is both in {seen[name]} and in {g}")
            seen[name] = g
    exps, tuned, evals = (groups[g] for g in GROUPS)
    for name, over in tuned.items():
        if (over or {}).get("from") not in exps:
            raise ValueError(f"{path}: finetune.{name}.from must name one of experiments {sorted(exps)} "
                             f"(the model it starts from), got {(over or {}).get('from')!r}")
    for name, over in evals.items():
        over = over or {}
        if over.get("from") not in exps:
            raise ValueError(f"{path}: eval_only.{name}.from must name one of experiments {sorted(exps)}, "
                             f"got {over.get('from')!r}")
        for section, value in over.items():
            if section == "from":
                continue
            if section not in EVAL_ONLY_KEYS:
                raise ValueError(f"{path}: eval_only.{name} changes {section}.*, which needs training; "
                                 f"make it an entry of `experiments`")
            allowed = EVAL_ONLY_KEYS[section]
            if allowed is not None and set(value or {}) - allowed:
                raise ValueError(f"{path}: eval_only.{name} may change only {sorted(allowed)} in {section}, "
                                 f"not {sorted(set(value) - allowed)}: those need training")


def experiment_names(params_path: str | Path = PARAMS, which: str = "all") -> list[str]:
    """Names in params order. ``which``: ``"experiments"`` (trained from scratch or from
    ``model.pretrained``), ``"finetune"`` (trained from another experiment's model), ``"trained"``
    (both), ``"eval_only"``, or ``"all"``."""
    params = load_params(params_path)
    groups = {g: list(params.get(g) or {}) for g in GROUPS}
    groups["trained"] = groups["experiments"] + groups["finetune"]
    groups["all"] = groups["trained"] + groups["eval_only"]
    if which not in groups:
        raise ValueError(f"which must be one of {sorted(groups)}, got {which!r}")
    return groups[which]


def experiment_overrides(params: dict, name: str, runs_dir: str | Path = "runs") -> dict[str, Any]:
    """The nested overrides that turn the base sections into experiment ``name``. A finetune or
    eval_only entry inherits the overrides of its ``from``; a finetune entry also starts from its
    model (``model.init_from``)."""
    exps, tuned, evals = ((params.get(g) or {}) for g in GROUPS)
    if name in exps:
        return dict(exps[name] or {})
    for group in (tuned, evals):
        if name in group:
            own = {k: v for k, v in (group[name] or {}).items() if k != "from"}
            src = group[name]["from"]
            over = deep_merge(experiment_overrides(params, src, runs_dir), own)
            if group is tuned:
                over = deep_merge(over, {"model": {"init_from": f"{Path(runs_dir) / src / 'model.pt'}"}})
            return over
    raise KeyError(f"unknown experiment {name!r}; params have {list(exps) + list(tuned) + list(evals)}")


def model_experiment(params_path: str | Path, name: str) -> str:
    """The trained experiment whose model ``name`` is evaluated on (itself unless eval-only)."""
    params = load_params(params_path)
    evals = params.get("eval_only") or {}
    return evals[name]["from"] if name in evals else name


def experiment_config(params_path: str | Path, name: str, runs_dir: str | Path = "runs") -> Config:
    """The full Config of experiment ``name`` (base sections of ``params_path`` + its overrides);
    for ``identity`` and ``grabcut``, the base sections."""
    params = load_params(params_path)
    base = load_config(params_path)
    return base if name in BASELINES else base.with_overrides(experiment_overrides(params, name, runs_dir))


def describe(params_path: str | Path, name: str) -> str:
    """What differs from the base recipe, e.g. ``model.fusion=fpn`` (``default`` if nothing)."""
    if name == IDENTITY:
        return "jittered boxes as they are (no model)"
    params = load_params(params_path)
    if name == GRABCUT:
        g = params.get(GRABCUT) or {}
        return "OpenCV GrabCut from the jittered box" + (f" ({', '.join(f'{k} {v}' for k, v in g.items())})" if g else "")
    flat = flatten(experiment_overrides(params, name))
    base = flatten(load_config(params_path).to_dict())
    diff = [f"{k}={v}" for k, v in flat.items() if base.get(k) != v]
    text = ", ".join(diff) if diff else "default"
    if name in (params.get("eval_only") or {}):
        text += f" (evaluated on the model of {params['eval_only'][name]['from']})"
    return text


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def _hint(path: str) -> str:
    p = Path(path).as_posix()
    if "synth" in p:
        return "run `dvc repro synth` (or `bbadj synth`) to make the synthetic set"
    if "coco128" in p:
        return "data/coco128 is part of the repository: restore it with `git checkout -- data/coco128`"
    if "runs/" in p or p.endswith(".pt"):
        return "train that experiment first (`dvc repro` trains it before this one)"
    return ("MS COCO 2017 goes under data/coco/ (`make coco` downloads it; README, \"COCO 2017\"); "
            "or go back to the default study with `git checkout params.yaml`")


def preflight(cfg: Config, split: str, device: str | None = None) -> None:
    """Fail early, saying what is missing: the data of ``split`` (train | val) and the device."""
    from ..device import resolve_device

    problems = []
    d = cfg.data
    if split == "train":
        paths = [d.train_annotations, d.train_images]
        if d.mix.fraction > 0:
            paths += [d.mix.annotations, d.mix.images]
        if cfg.model.init_from:
            paths.append(cfg.model.init_from)
    else:
        paths = [p for name in cfg.eval.sets for p in cfg.eval.set_paths(name)]
    missing = list(dict.fromkeys(p for p in paths if not Path(p).exists()))
    for p in missing:
        problems.append(f"{split} input missing: {p}: {_hint(p)}")
    dev = device or (cfg.train.device if split == "train" else cfg.eval.device)
    try:
        resolve_device(dev)
    except RuntimeError as e:
        problems.append(f"{e}; set train.device and eval.device to auto or cpu to run on CPU "
                        f"(the paper-scale preset needs a CUDA GPU to finish in reasonable time)")
    if problems:
        raise StudyError("cannot run this stage here:\n- " + "\n- ".join(problems))

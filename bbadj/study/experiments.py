"""params.yaml -> experiments: names, overrides, one Config each, and the preflight checks
every stage runs before it starts."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, deep_merge, load_config


PARAMS = "params.yaml"


IDENTITY = "identity"


NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


# what an eval-only variant may change: anything else changes the model and needs training
EVAL_ONLY_KEYS = {"eval": None, "data": {"buffer_ratio", "jitter", "num_workers"}}


class StudyError(RuntimeError):
    """A stage cannot run here; the message says what is missing and how to fix it."""


def load_params(params_path: str | Path = PARAMS) -> dict[str, Any]:
    path = Path(params_path)
    if not path.exists():
        raise FileNotFoundError(f"params file not found: {path}")
    params = yaml.safe_load(path.read_text()) or {}
    _validate(params, path)
    return params


def _validate(params: dict, path: Path) -> None:
    exps = params.get("experiments") or {}
    evals = params.get("eval_only") or {}
    if not isinstance(exps, dict) or not isinstance(evals, dict):
        raise ValueError(f"{path}: `experiments` and `eval_only` must be mappings name -> overrides")
    for name in list(exps) + list(evals):
        if not NAME_RE.match(str(name)) or name == IDENTITY:
            raise ValueError(f"{path}: experiment name {name!r} must be letters, digits and _ only, "
                             f"and not {IDENTITY!r} (it becomes a DVC stage and a params key)")
    for name in set(exps) & set(evals):
        raise ValueError(f"{path}: {name!r} is both in experiments and in eval_only")
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
    """Names in params order: ``which`` is ``"trained"``, ``"eval_only"`` or ``"all"``."""
    params = load_params(params_path)
    trained = list(params.get("experiments") or {})
    evals = list(params.get("eval_only") or {})
    return {"trained": trained, "eval_only": evals, "all": trained + evals}[which]


def experiment_overrides(params: dict, name: str) -> dict[str, Any]:
    """The nested overrides that turn the base sections into experiment ``name``."""
    exps = params.get("experiments") or {}
    evals = params.get("eval_only") or {}
    if name in exps:
        return dict(exps[name] or {})
    if name in evals:
        own = {k: v for k, v in (evals[name] or {}).items() if k != "from"}
        return deep_merge(dict(exps[evals[name]["from"]] or {}), own)
    raise KeyError(f"unknown experiment {name!r}; params have {list(exps) + list(evals)}")


def model_experiment(params_path: str | Path, name: str) -> str:
    """The trained experiment whose model ``name`` is evaluated on (itself unless eval-only)."""
    params = load_params(params_path)
    evals = params.get("eval_only") or {}
    return evals[name]["from"] if name in evals else name


def experiment_config(params_path: str | Path, name: str) -> Config:
    """The full Config of experiment ``name``: base sections of ``params_path`` + its overrides."""
    params = load_params(params_path)
    return load_config(params_path).with_overrides(experiment_overrides(params, name))


def describe(params_path: str | Path, name: str) -> str:
    """What differs from the base recipe, e.g. ``model.fusion=fpn`` (``default`` if nothing)."""
    if name == IDENTITY:
        return "jittered boxes as they are (no model)"
    params = load_params(params_path)
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


def preflight(cfg: Config, split: str, device: str | None = None) -> None:
    """Fail early, saying what is missing: the data of ``split`` (train | val) and the device."""
    from ..engine import resolve_device

    problems = []
    paths = {"train": [cfg.data.train_annotations, cfg.data.train_images],
             "val": [cfg.data.val_annotations, cfg.data.val_images]}[split]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        hint = ("run `dvc repro synth` (or `bbadj synth`) to make the synthetic set"
                if any("synth" in p for p in missing) else
                "the paper-coco preset needs MS COCO 2017 (train2017/, val2017/ and annotations/) under "
                "data/coco/; download it there, or go back to the synthetic study with "
                "`cp params/cpu-default.yaml params.yaml`")
        problems.append(f"{split} data missing: {', '.join(missing)}: {hint}")
    dev = device or (cfg.train.device if split == "train" else cfg.eval.device)
    try:
        resolve_device(dev)
    except RuntimeError as e:
        problems.append(f"{e}; set train.device and eval.device to auto or cpu to run on CPU "
                        f"(the paper-scale preset needs a CUDA GPU to finish in reasonable time)")
    if problems:
        raise StudyError("cannot run this stage here:\n- " + "\n- ".join(problems))


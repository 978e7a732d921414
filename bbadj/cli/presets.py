"""Presets: files in ``params/`` that list only what differs from ``params.yaml``, run beside the
baseline as a DVC experiment (``bbadj exp-run params/paper-coco.yaml``), so that
``dvc exp show`` lists both and ``params.yaml`` is never overwritten.

A preset's keys override the base key by key (a mapping merges into the base's mapping); a key
set to ``null`` is removed (a row, an evaluation set). The overrides are DVC's own ``-S``
syntax (Hydra's: ``++key=value`` sets, ``~key`` removes), so ``dvc exp run`` applies them itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..core.params import PARAMS, Params


def load_preset(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"preset not found: {path} (presets live in params/)")
    preset = yaml.safe_load(path.read_text()) or {}
    if not isinstance(preset, dict):
        raise ValueError(f"{path}: a preset is a mapping of the keys it changes")
    return preset


_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_./:-]*")


def hydra_value(v: Any) -> str:
    """``v`` in the override grammar of ``dvc exp run -S`` (Hydra); strings quoted only where a bare
    word would read as something else."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        if _BARE.fullmatch(v) and yaml.safe_load(v) == v:
            return v
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{hydra_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as a DVC -S value")


def preset_overrides(preset: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """The ``-S`` overrides that turn params ``base`` into ``base`` + ``preset``."""
    out: list[str] = []

    def walk(over: dict, here: dict, prefix: str) -> None:
        for k, v in over.items():
            key = f"{prefix}{k}"
            if v is None:
                if k not in here:
                    raise KeyError(f"the preset removes {key}, which the base params do not have")
                out.append(f"~{key}")
            elif isinstance(v, dict) and isinstance(here.get(k), dict):
                walk(v, here[k], key + ".")
            else:
                out.append(f"++{key}={hydra_value(v)}")

    walk(preset, base, "")
    return out


def exp_run_command(
    preset_path: str | Path, name: str | None = None, extra: list[str] | None = None, params_path: str | Path = PARAMS
) -> list[str]:
    """``dvc exp run -n <name> -S ... [-S extra ...]``: the preset as a DVC experiment, named after
    its file unless ``name`` is given; ``extra`` overrides come after the preset's and win."""
    base = Params.load(params_path).raw
    import shutil
    import sys

    beside = Path(sys.executable).parent / "dvc"  # the venv's dvc, activated or not
    cmd = [
        str(beside) if beside.exists() else (shutil.which("dvc") or "dvc"),
        "exp",
        "run",
        "-n",
        name or Path(preset_path).stem,
    ]
    for o in preset_overrides(load_preset(preset_path), base) + list(extra or []):
        cmd += ["-S", o]
    return cmd

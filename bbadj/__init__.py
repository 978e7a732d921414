"""bbadj: bounding-box adjustment (Snapper, IUI 2024) as a small, tested package.

The public names below load on first use (PEP 562): importing one light module of the package
(``bbadj.study.stage``, which every DVC stage starts in; ``bbadj synth``) does not import torch.
"""

import importlib
import os

# torch's OpenMP threads spin while they wait for each other: beside one other busy process on a
# 2-core machine that made training 10-20x slower; sleeping instead was as fast alone
# (docs/benchmarks.md, "Beside a busy process"). Set before torch loads OpenMP; a value set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
_PUBLIC = {
    "adjust": "snap.adjust",
    "load_model": "model.checkpoint",
    "Config": "core.config",
    "Params": "core.params",
    "load_config": "core.params",
    "EDGES": "core.box_ops",
    "METRIC_KEYS": "scoring.metrics",
    "box_metrics": "scoring.metrics",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'bbadj' has no attribute {name!r}")

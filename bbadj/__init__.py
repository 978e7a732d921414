"""bbadj: bounding-box adjustment (Snapper, IUI 2024) as a small, tested package."""
import os

# torch's OpenMP threads spin while they wait for each other: beside one other busy process on a
# 2-core machine that made training 10-20x slower; sleeping instead was as fast alone
# (docs/benchmarks.md, "Beside a busy process"). Set before torch loads OpenMP; a value set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .checkpoint import load_model
from .config import Config
from .box_ops import EDGES
from .inference import adjust
from .metrics import METRIC_KEYS, box_metrics
from .params import Params, load_config

__version__ = "0.1.0"
__all__ = ["adjust", "load_model", "Config", "Params", "load_config", "EDGES", "METRIC_KEYS", "box_metrics", "__version__"]

"""bbadj: bounding-box adjustment (Snapper, IUI 2024) as a small, tested package."""
from .checkpoint import load_model
from .config import Config
from .box_ops import EDGES
from .inference import adjust
from .metrics import METRIC_KEYS, box_metrics
from .params import Params, load_config

__version__ = "0.1.0"
__all__ = ["adjust", "load_model", "Config", "Params", "load_config", "EDGES", "METRIC_KEYS", "box_metrics", "__version__"]

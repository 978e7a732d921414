"""What every benchmark shares: the machine it ran on, timing helpers, the JSON and the table
it writes, its command-line options, and the model it times."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from ..args import add_config_args, config_from_args
from ..core.config import Config, DataConfig
from ..core.tiers import DEFAULT, TIERS
from ..data.coco import CocoBoxes
from ..data.dataset import draw_eval_jitter
from ..util.outputs import write_text


def machine(device: torch.device | str = "cpu") -> dict:
    """What the figures were measured on."""
    device = torch.device(device)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1e3, q))


def write_result(result: dict, out: str | Path | None) -> None:
    result["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    if out:
        write_text(out, json.dumps(result, indent=2) + "\n")


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(title)
    for k, v in rows:
        print(f"  {k:<{width}}  {v:.4g}" if isinstance(v, float) else f"  {k:<{width}}  {v}")


def draw_boxes(coco: CocoBoxes, cfg: DataConfig, seed: int):
    """Every box of ``coco`` with its image index and one jitter draw (the evaluation's draw 0)."""
    img = np.concatenate([np.full(len(r.boxes), i) for i, r in enumerate(coco.images)])
    gt = coco.all_boxes()
    return img, gt, np.concatenate(draw_eval_jitter(coco, cfg, seed, 0))


def untrained_model(cfg: Config, device: torch.device):
    """A randomly initialised model of ``cfg`` (timing does not depend on the weights)."""
    from ..model import build_model

    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.with_overrides({"model": {"pretrained": "none"}}).model, cfg.data.geometry)
    return model.to(device).eval()


def model_for(args, cfg: Config, device: torch.device):
    """(model, description): the checkpoint's, or an untrained one from ``cfg``."""
    if args.checkpoint:
        from ..model.checkpoint import load_model

        return load_model(args.checkpoint, device), f"checkpoint {args.checkpoint}"
    return untrained_model(cfg, device), f"untrained {cfg.model.backbone} (random weights; timing only)"


def set_threads(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def args_dict(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("func", "bench_command") and not callable(v)}


def add_training_args(p) -> None:
    """The training a benchmark times: a row of the study, or the config's own training data, or other files."""
    p.add_argument("--row", help="a row of the study (its Config from bbadj.core.params.Params)")
    p.add_argument("--tier", default=DEFAULT, choices=TIERS, help="with --row: the study's budget (default: default)")
    p.add_argument("--annotations", help="training annotations (default: data.train_annotations)")
    p.add_argument("--images", help="training images (default: data.train_images)")


def training_config(args, train: dict | None = None) -> Config:
    """The Config of ``add_training_args`` and ``add_common_args``' options (``--row``, ``--params``,
    ``--set``), with --annotations/--images as its training data and ``train`` over its train section."""
    data = {"train_annotations": args.annotations, "train_images": args.images}
    over = {"data": {k: v for k, v in data.items() if v}, "train": train or {}}
    return config_from_args(args).with_overrides(over)


def add_common_args(p, config: bool = True) -> None:
    if config:
        add_config_args(p)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="run N busy processes (`yes > /dev/null`) beside the measurement: speed under load",
    )
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--no-progress", action="store_true")


@contextlib.contextmanager
def busy_neighbours(n: int):
    """``n`` busy processes (``yes > /dev/null``) for the duration of the block: another job on
    the machine, as a shared laptop or CI runner has."""
    procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()

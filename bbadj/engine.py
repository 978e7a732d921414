"""Training: one loop, resumable from its last checkpoint, single process or DDP (torchrun).

A run killed at any point and restarted with the same command resumes from ``last.pt`` and
ends with the same weights as an uninterrupted run: the data of step k depends only on
(seed, k), and the checkpoint holds model, optimiser, scheduler, scaler and RNG states.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from .checkpoint import init_weights, save_atomic
from .config import Config, TrainConfig
from .data.dataset import TrainBatches, load_boxes
from .device import resolve_device
from .fingerprint import changed_parts, run_inputs
from .losses import edge_loss
from .model import build_model
from .outputs import append_line, write_text
from .progress import progress_bar


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def amp_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the device supports it (every CPU autocast; CUDA from Ampere on), else fp16."""
    if device.type != "cuda":
        return torch.bfloat16
    with torch.cuda.device(device):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# The training step in four parts, shared by `train` and `bbadj bench train-step` (which times
# each part): what the benchmark measures is the step that training runs.


def precision(device: torch.device, tc: TrainConfig) -> tuple[bool, torch.dtype, torch.amp.GradScaler]:
    """(use AMP, autocast dtype, scaler): AMP on CUDA only, bf16 where supported; the scaler is
    active only for fp16."""
    use_amp = device.type == "cuda" and tc.amp
    dtype = amp_dtype(device) if use_amp else torch.float32
    return use_amp, dtype, torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)


def to_device(batch: dict, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(crops, target positions) on ``device``; crops channels_last if asked."""
    x = batch["crops"].to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, batch["positions"].to(device, non_blocking=True)


def build_optimizer(model: torch.nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW, fused: one kernel for all parameters instead of a Python loop over them."""
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(tc.optimizer)
    if opt_cls is None:
        raise ValueError(f"unknown optimizer {tc.optimizer!r}; choose adam or adamw")
    return opt_cls(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, fused=True)


def forward_loss(net, x: torch.Tensor, target: torch.Tensor, tc: TrainConfig, use_amp: bool,
                 dtype: torch.dtype) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=dtype, enabled=use_amp):
        logits = net(x)
    return edge_loss(logits, target, tc.loss, tc.gaussian_sigma)


def optimizer_step(loss: torch.Tensor, model, optimizer, scaler, scheduler, grad_clip: float) -> None:
    """Backward, gradient clipping (on unscaled gradients), optimiser and scheduler step."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    if scheduler is not None:
        scheduler.step()


class _Dist:
    """Rank and world size from torchrun's environment; initialises the process group."""

    def __init__(self, device_name: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1
        self.device = resolve_device(device_name)
        if self.enabled:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t) / self.world_size


def total_steps(cfg: Config, batches_per_epoch: int) -> int:
    if cfg.train.max_steps > 0:
        return cfg.train.max_steps
    return max(1, math.ceil(cfg.train.epochs * batches_per_epoch))


def train(cfg: Config, out_dir: str | Path, *, resume: bool = True, other_run: str = "raise", progress: bool = True,
          on_log: Callable[[dict], None] | None = None, stop_after: int | None = None) -> dict:
    """Train ``cfg`` into ``out_dir`` (``last.pt``: full checkpoint; ``model.pt``: final weights
    and config; ``train_log.jsonl``: one line per logged step). Returns the final log entry.

    With ``resume``, a ``last.pt`` of the same run is picked up where it stopped: the same
    settings, training data, code and starting weights (``bbadj.fingerprint``). One of another run
    is an error (``other_run="raise"``, the command line's default) or is started over
    (``"restart"``: what the study does when DVC reruns a stage whose inputs changed). ``stop_after`` ends the run after that many steps as if it had been killed (tests).
    """
    if other_run not in ("raise", "restart"):
        raise ValueError(f"other_run must be 'raise' or 'restart', got {other_run!r}")
    out_dir = Path(out_dir)
    tc = cfg.train
    env = _Dist(tc.device)
    device = env.device
    if env.main:
        out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(tc.seed)  # same initial weights on every rank and every restart
    d = cfg.data
    coco = load_boxes(d.train_annotations, d.train_images, d, verbose=env.main)
    mix = load_boxes(d.mix.annotations, d.mix.images, d, verbose=env.main) if d.mix.fraction > 0 else None
    data = TrainBatches(coco, d, tc.batch_size, tc.seed, env.rank, env.world_size, mix=mix)
    sources = [coco] + ([mix] if mix is not None else [])
    inputs = run_inputs(cfg, [s.source for s in sources], [r.path for s in sources for r in s.images])
    steps = total_steps(cfg, len(data))

    model = build_model(cfg.model, cfg.data.geometry)
    if cfg.model.init_from:
        init_weights(model, cfg.model.init_from)
    model = model.to(device)
    cuda = device.type == "cuda"
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, tc)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(tc.warmup_steps, steps))
    use_amp, dtype, scaler = precision(device, tc)

    ckpt_path = out_dir / "last.pt"
    log_path = out_dir / "train_log.jsonl"
    start = 0
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False) if resume and ckpt_path.exists() else None
    changed = changed_parts(ckpt.get("inputs"), inputs) if ckpt is not None else []
    if changed:
        what = f"{ckpt_path} is from another run: its {', '.join(changed)} differ from this run's"
        if other_run == "raise":
            raise RuntimeError(f"{what}; use another output directory, or --restart to start over")
        if env.main:
            print(f"{what}: starting over")
        ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        start = int(ckpt["step"])
        if env.main:
            print(f"resuming {out_dir} from step {start} of {steps}")
    if env.main:
        _truncate_log(log_path, start)

    net = model
    if env.enabled:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    if tc.compile:
        net = torch.compile(net)

    def save(step: int) -> None:
        if not env.main:
            return
        save_atomic({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state()}, "step": step, "config": cfg.to_dict(), "inputs": inputs,
        }, ckpt_path)

    loader = DataLoader(data, batch_size=None, sampler=range(start, steps), num_workers=cfg.data.num_workers,
                        pin_memory=cuda, persistent_workers=False)
    bar = progress_bar(total=steps, initial=start, desc=f"train {out_dir.name}", unit="step",
                       disable=not (progress and env.main), dynamic_ncols=True)
    entry: dict = {}
    t0, seen = time.perf_counter(), 0
    step = start
    model.train()
    for batch in loader:
        x, target = to_device(batch, device, tc.channels_last)
        loss = forward_loss(net, x, target, tc, use_amp, dtype)
        optimizer_step(loss, model, optimizer, scaler, scheduler, tc.grad_clip)
        step += 1
        seen += len(x)
        bar.update(1)
        if step % tc.log_every == 0 or step == steps:
            loss_value = env.mean(float(loss.detach()))
            elapsed = time.perf_counter() - t0
            entry = {"step": step, "epoch": step / len(data), "loss": loss_value,
                     "lr": scheduler.get_last_lr()[0], "boxes_per_s": seen * env.world_size / max(elapsed, 1e-9)}
            bar.set_postfix({"loss": f"{loss_value:.4f}", "boxes/s": f"{entry['boxes_per_s']:.0f}"})
            if env.main:
                append_line(log_path, json.dumps(entry))
                if on_log is not None:
                    on_log(entry)
        if step % tc.checkpoint_every == 0 or step == steps:
            save(step)
        if stop_after is not None and step >= stop_after:
            bar.close()
            return entry
    bar.close()
    if env.main:
        save_atomic({"model": model.state_dict(), "config": cfg.to_dict(), "step": step, "inputs": inputs},
                    out_dir / "model.pt")
    if env.enabled:
        dist.barrier()
    return entry


def _truncate_log(path: Path, start: int) -> None:
    """Drop log lines past the checkpoint we resume from, so a resumed log has no duplicates."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= start]
    write_text(path, "".join(line + "\n" for line in keep))

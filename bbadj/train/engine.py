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
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..model.checkpoint import init_weights, read_checkpoint, save_atomic
from ..core.config import Config, TrainConfig
from ..data.coco import CocoBoxes
from ..data.dataset import TrainBatches, check_images, load_boxes
from ..util.device import resolve_device
from ..util.errors import RunError
from ..fingerprint.run import changed_parts, run_inputs
from .objectives import OBJECTIVES
from ..util.outputs import append_line, run_lock, write_text
from ..util.progress import progress_bar


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
    trainable = [p for p in model.parameters() if p.requires_grad]  # not the layers model.train_from keeps
    return opt_cls(trainable, lr=tc.lr, weight_decay=tc.weight_decay, fused=True)


def forward_loss(
    net, x: torch.Tensor, target: torch.Tensor, tc: TrainConfig, use_amp: bool, dtype: torch.dtype
) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=dtype, enabled=use_amp):
        out = net(x)
    return OBJECTIVES.get(tc.objective).loss(out, target, tc, x.shape[-1])


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


# Building: what `train` and `bbadj bench train-step` (which times the same step) both start from.


@dataclass
class Training:
    """What a run steps: the model, its optimiser and LR schedule, and the precision it runs in."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool
    dtype: torch.dtype

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])


def build_data(
    cfg: Config, rank: int = 0, world_size: int = 1, device: str = "cpu", verbose: bool = True
) -> tuple[TrainBatches, list[CocoBoxes]]:
    """The training batches of ``cfg.data`` (this rank's share of each), and the sources read:
    the training set and, with ``data.mix``, the mixed-in one."""
    d = cfg.data
    coco = load_boxes(d.train_annotations, d.train_images, d, verbose=verbose)
    mix = load_boxes(d.mix.annotations, d.mix.images, d, verbose=verbose) if d.mix.fraction > 0 else None
    data = TrainBatches(coco, d, cfg.train.batch_size, cfg.train.seed, rank, world_size, device=device, mix=mix)
    return data, [coco] + ([mix] if mix is not None else [])


def build_training(cfg: Config, device: torch.device, steps: int) -> Training:
    """The model of ``cfg`` (``train.objective``'s; from ``model.init_from`` where given) on
    ``device``, its optimiser, the warm-up + cosine schedule over ``steps`` and the precision. Seed
    torch first (``train.seed``): the initial weights come from its generator."""
    tc = cfg.train
    model = OBJECTIVES.get(tc.objective).build(cfg)
    if cfg.model.init_from:
        init_weights(model, cfg.model.init_from)
    model = model.to(device)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, tc)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(tc.warmup_steps, steps))
    use_amp, dtype, scaler = precision(device, tc)
    return Training(model, optimizer, scheduler, scaler, use_amp, dtype)


@dataclass
class _Run:
    """One call of ``train``: its settings, directory, processes, data and fingerprints."""

    cfg: Config
    out_dir: Path
    env: _Dist
    data: TrainBatches
    steps: int
    inputs: dict[str, str]

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def log_path(self) -> Path:
        return self.out_dir / "train_log.jsonl"


@contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to ``n`` (0: left as it is) for the block, then restored."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(
    cfg: Config,
    out_dir: str | Path,
    *,
    resume: bool = True,
    other_run: str = "raise",
    progress: bool = True,
    on_log: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
) -> dict:
    """Train ``cfg`` into ``out_dir`` (``last.pt``: full checkpoint; ``model.pt``: final weights
    and config; ``train_log.jsonl``: one line per logged step). Returns the final log entry.

    With ``resume``, a ``last.pt`` of the same run is picked up where it stopped: the same
    settings, training data, code and starting weights (``bbadj.fingerprint.run``). One of another run
    is an error (``other_run="raise"``, the command line's default) or is started over
    (``"restart"``: what the study does when DVC reruns a stage whose inputs changed).
    ``stop_after`` ends the run after that many steps as if it had been killed (tests).

    The run holds ``out_dir/train.lock`` throughout: a second run into the same directory is a
    ``RunError``. A loss that is not finite stops the run with a ``RunError`` naming the step;
    no checkpoint is written after it.
    """
    if other_run not in ("raise", "restart"):
        raise ValueError(f"other_run must be 'raise' or 'restart', got {other_run!r}")
    out_dir = Path(out_dir)
    env = _Dist(cfg.train.device)
    if env.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    if env.main and cfg.train.lr == 0:
        warnings.warn("train.lr is 0: training changes no weight, only the batch-norm statistics", stacklevel=2)
    # one lock per run (rank 0's); train.threads for the run only
    with run_lock(out_dir) if env.main else nullcontext(), torch_threads(cfg.train.threads):
        torch.manual_seed(cfg.train.seed)  # same initial weights on every rank and every restart
        data, sources = build_data(cfg, env.rank, env.world_size, verbose=env.main)
        inputs = run_inputs(cfg, [s.source for s in sources], [r.path for s in sources for r in s.images])
        run = _Run(cfg, out_dir, env, data, total_steps(cfg, len(data)), inputs)
        training = build_training(cfg, env.device, run.steps)
        start = _resume(run, training, other_run) if resume else 0
        if start < run.steps:  # a damaged image stops the run here, before any checkpoint is replaced
            check_images([r for s in sources for r in s.images])
        if env.main:
            _truncate_log(run.log_path, start)
        return _loop(run, training, start, progress, on_log, stop_after)


def _resume(run: _Run, training: Training, other_run: str) -> int:
    """The step to start from: that of ``last.pt`` when it is of this run (its states restored
    into ``training`` and torch's generator), else 0."""
    if not run.ckpt_path.exists():
        return 0
    ckpt = read_checkpoint(
        run.ckpt_path,
        "training checkpoint",
        needs=("model", "optimizer", "step", "rng"),
        fix="delete it, or rerun with --restart, to start over",
    )
    changed = changed_parts(ckpt.get("inputs"), run.inputs)
    if changed:
        what = f"{run.ckpt_path} is from another run: its {', '.join(changed)} differ from this run's"
        if other_run == "raise":
            raise RunError(f"{what}; use another output directory, or --restart to start over")
        if run.env.main:
            print(f"{what}: starting over")
        return 0
    training.load_state(ckpt)
    torch.set_rng_state(ckpt["rng"]["torch"])
    start = int(ckpt["step"])
    if run.env.main:
        print(f"resuming {run.out_dir} from step {start} of {run.steps}")
    return start


def _loop(run: _Run, tr: Training, start: int, progress: bool, on_log, stop_after: int | None) -> dict:
    """Steps ``start + 1`` to ``run.steps``: log, check the losses, checkpoint; then ``model.pt``."""
    tc, env = run.cfg.train, run.env
    cuda = env.device.type == "cuda"
    net = tr.model
    if env.enabled:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[env.device.index] if cuda else None)
    if tc.compile:
        net = torch.compile(net)
    loader = DataLoader(
        run.data,
        batch_size=None,
        sampler=range(start, run.steps),
        num_workers=run.cfg.data.num_workers,
        pin_memory=cuda,
        persistent_workers=False,
    )
    bar = progress_bar(
        total=run.steps,
        initial=start,
        desc=f"train {run.out_dir.name}",
        unit="step",
        disable=not (progress and env.main),
        dynamic_ncols=True,
    )
    losses = _Losses(start, env)
    entry, t0, seen, step, saved = {}, time.perf_counter(), 0, start, start
    tr.model.train()
    try:
        for batch in loader:
            x, target = to_device(batch, env.device, tc.channels_last)
            loss = forward_loss(net, x, target, tc, tr.use_amp, tr.dtype)
            optimizer_step(loss, tr.model, tr.optimizer, tr.scaler, tr.scheduler, tc.grad_clip)
            losses.add(loss)
            step += 1
            seen += len(x)
            bar.update(1)
            end = step == run.steps
            if step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or end:
                losses.check(run, saved)
            if step % tc.log_every == 0 or end:
                entry = _log(run, tr, step, loss, seen, time.perf_counter() - t0, bar, on_log)
            if step % tc.checkpoint_every == 0 or end:
                _save_checkpoint(run, tr, step, saved)
                saved = step
            if stop_after is not None and step >= stop_after:
                return entry  # as if killed here: no model.pt
    finally:
        bar.close()
    if env.main:
        save_atomic(
            {"model": tr.model.state_dict(), "config": run.cfg.to_dict(), "step": step, "inputs": run.inputs},
            run.out_dir / "model.pt",
        )
    if env.enabled:
        dist.barrier()
    return entry


def _log(run: _Run, tr: Training, step: int, loss: torch.Tensor, seen: int, elapsed: float, bar, on_log) -> dict:
    """The log entry of ``step`` (the loss averaged over ranks), appended to ``train_log.jsonl``."""
    env = run.env
    loss_value = env.mean(float(loss.detach()))
    entry = {
        "step": step,
        "epoch": step / len(run.data),
        "loss": loss_value,
        "lr": tr.scheduler.get_last_lr()[0],
        "boxes_per_s": seen * env.world_size / max(elapsed, 1e-9),
    }
    bar.set_postfix({"loss": f"{loss_value:.4f}", "boxes/s": f"{entry['boxes_per_s']:.0f}"})
    if env.main:
        append_line(run.log_path, json.dumps(entry))
        if on_log is not None:
            on_log(entry)
    return entry


def _save_checkpoint(run: _Run, tr: Training, step: int, saved: int) -> None:
    """``last.pt`` at ``step``, unless a weight is no longer finite (a gradient can be NaN while
    the loss is not): then the run stops and the checkpoint of step ``saved`` stays."""
    bad = [name for name, t in tr.model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise RunError(
            f"training diverged: after step {step}, {len(bad)} of {len(tr.model.state_dict())} weight "
            f"tensors hold NaN or inf (first: {bad[0]}); {_kept(run, saved)}. {_remedies(run.cfg)}"
        )
    if run.env.main:
        save_atomic(
            {
                **tr.state(),
                "rng": {"torch": torch.get_rng_state()},
                "step": step,
                "config": run.cfg.to_dict(),
                "inputs": run.inputs,
            },
            run.ckpt_path,
        )


class _Losses:
    """The losses since the last check, left where they were computed (on the GPU, a check is a
    wait for it): checked at the steps that read the loss or save anyway. A NaN or inf stops the
    run before anything more is logged or saved. Under DDP the losses are summed over the ranks
    first, so that all of them stop at the same step."""

    def __init__(self, start: int, env: _Dist):
        self.first, self.env, self.pending = start + 1, env, []

    def add(self, loss: torch.Tensor) -> None:
        self.pending.append(loss.detach())

    def check(self, run: _Run, saved: int) -> None:
        if not self.pending:
            return
        values = torch.stack(self.pending).float()
        if self.env.enabled:
            dist.all_reduce(values)
            values /= self.env.world_size
        values = values.cpu()
        first, self.first, self.pending = self.first, self.first + len(self.pending), []
        bad = torch.nonzero(~torch.isfinite(values)).flatten()
        if len(bad):
            step, value = first + int(bad[0]), float(values[bad[0]])
            raise RunError(
                f"training diverged: the loss is {value} at step {step}; {_kept(run, saved)}. {_remedies(run.cfg)}"
            )


def _kept(run: _Run, saved: int) -> str:
    if saved == 0:
        return "no checkpoint was written"
    return f"nothing was saved after step {saved}, the last good checkpoint ({run.ckpt_path})"


def _remedies(cfg: Config) -> str:
    clip = (
        f"a lower train.grad_clip (it is {cfg.train.grad_clip:g})"
        if cfg.train.grad_clip > 0
        else "train.grad_clip (e.g. 1.0; it is off)"
    )
    return (
        f"Try a lower train.lr (it is {cfg.train.lr:g}), {clip}, or check the training data "
        f"({cfg.data.train_annotations}) for broken boxes or images; then rerun with --restart"
    )


def _truncate_log(path: Path, start: int) -> None:
    """Drop log lines past the checkpoint we resume from, so a resumed log has no duplicates."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= start]
    write_text(path, "".join(line + "\n" for line in keep))

"""``bbadj bench train-step``: images (crops) per second of the full training step fed by the
engine's ``DataLoader`` over ``TrainBatches``, against the same step fed one batch already on the
device (the model's own ceiling), with where the time goes. The step is the engine's own."""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch

from ..train import engine
from ..core.config import Config
from ..util.device import resolve_device
from ..util.progress import progress_bar
from .common import (
    add_common_args,
    add_training_args,
    args_dict,
    machine,
    print_table,
    set_threads,
    sync,
    training_config,
    write_result,
)


PHASES = ("data_wait", "to_device", "forward", "backward_optimizer")


def timed_steps(
    step_parts,
    batches,
    n_warmup: int,
    n_steps: int,
    device: torch.device,
    per_phase_sync: bool,
    progress: bool,
    desc: str,
) -> tuple[float, dict[str, float]]:
    """Run ``n_warmup`` then ``n_steps`` training steps on ``batches``; return (seconds for the
    timed steps, total seconds per phase over them).

    Without ``per_phase_sync`` the GPU runs ahead as in training and only the window's ends are
    synchronised: the rate is right, the phases are launch times. With it, every phase ends
    with ``torch.cuda.synchronize``: the phases are right, the rate slightly pessimistic."""
    to_device, forward_loss, optimizer_step = step_parts
    phases = dict.fromkeys(PHASES, 0.0)
    it = iter(batches)
    bar = progress_bar(total=n_warmup + n_steps, desc=desc, disable=not progress, unit="step", leave=False)
    start = None
    for k in range(n_warmup + n_steps):
        if k == n_warmup:
            sync(device)
            start = time.perf_counter()
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        x, target = to_device(batch)
        if per_phase_sync:
            sync(device)
        t2 = time.perf_counter()
        loss = forward_loss(x, target)
        if per_phase_sync:
            sync(device)
        t3 = time.perf_counter()
        optimizer_step(loss)
        if per_phase_sync:
            sync(device)
        t4 = time.perf_counter()
        if k >= n_warmup:
            for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name] += dt
        bar.update(1)
    sync(device)
    bar.close()
    return time.perf_counter() - start, phases


def measure(
    parts, feeds: dict, warmup: int, steps: int, rounds: int, batch_size: int, device: torch.device, progress: bool
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Images per second of each of ``rounds`` runs per feed (name -> a function giving a fresh
    iterable of batches), and seconds per phase over the timed steps (mean over rounds; on CUDA
    from one more, per-phase-synchronised run of each)."""
    rates: dict[str, list[float]] = {name: [] for name in feeds}
    phases: dict[str, dict[str, float]] = {name: dict.fromkeys(PHASES, 0.0) for name in feeds}
    # rounds alternate loader and memory runs, so that a change in machine load hits both
    for r in range(rounds):
        for name, feed in feeds.items():
            seconds, ph = timed_steps(
                parts, feed(), warmup, steps, device, False, progress, f"train-step {name} {r + 1}/{rounds}"
            )
            rates[name].append(batch_size * steps / seconds)
            for k, v in ph.items():
                phases[name][k] += v / rounds
    if device.type == "cuda":  # one more run of each for a breakdown not distorted by asynchronous execution
        for name, feed in feeds.items():
            _, phases[name] = timed_steps(parts, feed(), warmup, steps, device, True, progress, f"{name} phases")
    return rates, phases


def bench_train_step(
    cfg: Config,
    steps: int = 20,
    warmup: int = 3,
    gpu_decode: bool = False,
    compile: bool | None = None,
    progress: bool = True,
    rounds: int = 1,
) -> dict:
    """Images (crops) per second of the training step, fed (A) by the engine's DataLoader over
    ``TrainBatches`` (``data.num_workers`` CPU workers and pinned memory on CUDA; or, with
    ``gpu_decode``, JPEGs decoded and cropped on the GPU in the main process) and (B) by one
    batch already on the device. ``ratio`` = A / B (medians over ``rounds`` alternating runs of
    each, every run with its own warm-up): 1 means data loading is fully hidden.

    The data, model, optimiser, LR schedule and precision (channels_last; on CUDA AMP, bf16 where
    supported) are engine.train's own (``engine.build_data``, ``engine.build_training``). On CUDA
    the rates come from unsynchronised runs and the breakdown from one more, per-phase-synchronised
    run of each; on CPU the same runs give both (mean over rounds).
    """
    from torch.utils.data import DataLoader

    tc = cfg.train
    device = resolve_device(tc.device)
    cuda = device.type == "cuda"
    if gpu_decode and not cuda:
        raise ValueError("--gpu-decode needs a CUDA device (train.device=cuda)")
    compile = tc.compile if compile is None else compile
    info = machine(device)
    torch.manual_seed(tc.seed)
    data, sources = engine.build_data(cfg, device=str(device) if gpu_decode else "cpu", verbose=False)
    tr = engine.build_training(cfg, device, engine.total_steps(cfg, len(data)))
    net = torch.compile(tr.model) if compile else tr.model
    tr.model.train()

    # the engine's own step, in its parts, so that what is timed is what training runs
    parts = (
        lambda b: engine.to_device(b, device, tc.channels_last),
        lambda x, t: engine.forward_loss(net, x, t, tc, tr.use_amp, tr.dtype),
        lambda loss: engine.optimizer_step(loss, tr.model, tr.optimizer, tr.scaler, tr.scheduler, tc.grad_clip),
    )
    # CUDA cannot be used in forked workers: GPU decoding runs in the main process.
    num_workers = 0 if gpu_decode else cfg.data.num_workers
    n = warmup + steps

    def loader():
        return DataLoader(
            data, batch_size=None, sampler=range(n), num_workers=num_workers, pin_memory=cuda and not gpu_decode
        )

    resident = dict(zip(("crops", "positions"), engine.to_device(data[0], device, tc.channels_last)))
    feeds = {"loader": loader, "memory": lambda: itertools.repeat(resident)}
    rates, phases = measure(parts, feeds, warmup, steps, rounds, tc.batch_size, device, progress)
    loader_rate, memory_rate = float(np.median(rates["loader"])), float(np.median(rates["memory"]))
    return {
        "benchmark": "train-step",
        "loader_images_per_s": loader_rate,
        "memory_images_per_s": memory_rate,
        "ratio": loader_rate / memory_rate,
        "breakdown_ms_per_step": {name: {k: 1e3 * v / steps for k, v in ph.items()} for name, ph in phases.items()},
        "breakdown_synchronized": True,
        "rounds": rounds,
        "all_rounds_images_per_s": rates,
        **_what_ran(cfg, device, tr, steps, warmup, bool(compile), gpu_decode, num_workers, sources[0]),
        "machine": info,
    }


def _what_ran(
    cfg: Config,
    device: torch.device,
    tr: engine.Training,
    steps: int,
    warmup: int,
    compile: bool,
    gpu_decode: bool,
    num_workers: int,
    train_set,
) -> dict:
    """The result's description of the step timed: model, batch, precision and data path."""
    return {
        "device": str(device),
        "backbone": cfg.model.backbone,
        "fusion": cfg.model.fusion,
        "crop_size": cfg.data.crop_size,
        "batch_size": cfg.train.batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "amp": tr.use_amp,
        "amp_dtype": str(tr.dtype).replace("torch.", "") if tr.use_amp else None,
        "channels_last": cfg.train.channels_last,
        "compile": compile,
        "decode": "gpu (torchvision.io.decode_jpeg, main process)" if gpu_decode else "cpu",
        "num_workers": num_workers,
        "pin_memory": device.type == "cuda" and not gpu_decode,
        "train_images": len(train_set.images),
        "train_boxes": train_set.n_boxes,
    }


def cmd_train_step(args) -> int:
    set_threads(args)
    cfg = training_config(args, {"device": args.device} if args.device else None)
    result = bench_train_step(
        cfg, args.steps, args.warmup, args.gpu_decode, args.compile or None, not args.no_progress, args.rounds
    )
    result["args"] = args_dict(args)
    write_result(result, args.out)
    rows = [
        ("loader images/s", result["loader_images_per_s"]),
        ("memory images/s", result["memory_images_per_s"]),
        ("ratio", result["ratio"]),
    ]
    rows += [(f"{src} {k} ms/step", v) for src, d in result["breakdown_ms_per_step"].items() for k, v in d.items()]
    print_table(
        f"train step, {cfg.model.backbone} S={cfg.data.crop_size} batch {cfg.train.batch_size} on {result['device']}",
        rows,
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("train-step", help="training images/s with real data loading vs data in memory")
    add_training_args(q)
    q.add_argument("--device", help="default: train.device")
    q.add_argument("--steps", type=int, default=20, help="timed steps per run")
    q.add_argument("--warmup", type=int, default=3, help="untimed steps first (worker start-up, autotuning, compile)")
    q.add_argument("--rounds", type=int, default=1, help="alternating loader/memory runs (medians reported)")
    q.add_argument("--gpu-decode", action="store_true", help="decode JPEGs and crop on the GPU instead of CPU workers")
    q.add_argument("--compile", action="store_true", help="torch.compile the model (default: train.compile)")
    add_common_args(q)
    q.set_defaults(func=cmd_train_step)

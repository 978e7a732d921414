"""``bbadj bench step-profile``: where one training step's time goes, op by op, and how far it is from
this machine's arithmetic limit: torch.profiler's heaviest ops of the engine's memory-fed step, the
step's FLOPs (every convolution and linear layer, forward and backward) against its time, and a
large fp32 matrix product's FLOP/s on the same threads for scale."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..core.config import Config
from ..train import engine
from ..util.device import resolve_device
from .common import (
    add_common_args,
    add_training_args,
    args_dict,
    machine,
    print_table,
    set_threads,
    training_config,
    write_result,
)


class LayerFlops:
    """FLOPs (2 per multiply-add) of every ``Conv1d``/``Conv2d``/``Linear`` call while active, forward
    and backward. Counted by hand from the layers' shapes: torch's FlopCounterMode counts a grouped
    (depthwise) convolution's backward as if it were dense. The backward of a layer is one
    forward's worth for its weight's gradient (if the weight trains) and one for its input's (if
    anything before it trains)."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.forward, self.backward, self._hooks = model, 0, 0, []

    def _count(self, module, inputs, output) -> None:
        if isinstance(module, torch.nn.Linear):
            macs = output.numel() * module.in_features
        else:
            macs = output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        self.forward += 2 * macs
        self.backward += 2 * macs * (int(module.weight.requires_grad) + int(inputs[0].requires_grad))

    def __enter__(self):
        kinds = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)
        self._hooks = [m.register_forward_hook(self._count) for m in self.model.modules() if isinstance(m, kinds)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """fp32 FLOP/s of an n x n matrix product on torch's current threads: what this CPU's cores
    give an operation that is all arithmetic (oneDNN/MKL's best case)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def profile_step(cfg: Config, steps: int = 5, warmup: int = 2, top: int = 15) -> dict:
    """The engine's own step (``engine.to_device``, ``forward_loss``, ``optimizer_step``) on one batch
    held in memory: its median time over ``steps``, its FLOPs and achieved FLOP/s, and the ``top``
    ops by their own (self) CPU time under torch.profiler over ``steps`` more."""
    from torch.profiler import ProfilerActivity, profile

    tc = cfg.train
    device = resolve_device(tc.device)
    torch.manual_seed(tc.seed)
    data, _ = engine.build_data(cfg, device="cpu", verbose=False)
    tr = engine.build_training(cfg, device, engine.total_steps(cfg, len(data)))
    tr.model.train()
    batch = data[0]

    def step():
        x, t = engine.to_device(batch, device, tc.channels_last)
        loss = engine.forward_loss(tr.model, x, t, tc, tr.use_amp, tr.dtype)
        engine.optimizer_step(loss, tr.model, tr.optimizer, tr.scaler, tr.scheduler, tc.grad_clip)

    for _ in range(warmup):
        step()
    with LayerFlops(tr.model) as flops:
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    step_s = float(np.median(times))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in ops)
    heaviest = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:top]
    peak = matmul_gflops()
    per_step = flops.forward + flops.backward
    return {
        "benchmark": "step-profile",
        "device": str(device),
        "batch_size": tc.batch_size,
        "crop_size": cfg.data.crop_size,
        "backbone": cfg.model.backbone,
        "train_from": cfg.model.train_from,
        "step_ms_median": 1e3 * step_s,
        "crops_per_s": tc.batch_size / step_s,
        "gflop_per_step": {"forward": flops.forward / 1e9, "backward": flops.backward / 1e9},
        "achieved_gflops": per_step / 1e9 / step_s,
        "matmul_fp32_gflops": peak,
        "share_of_matmul": per_step / 1e9 / step_s / peak,
        "op_calls_per_step": sum(e.count for e in ops) / steps,
        "top_ops": [
            {
                "op": e.key,
                "calls_per_step": e.count / steps,
                "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
                "share": e.self_cpu_time_total / total_us,
            }
            for e in heaviest
        ],
        "profiled_self_ms_per_step": total_us / 1e3 / steps,
        "machine": machine(device),
    }


def cmd_step_profile(args) -> int:
    set_threads(args)
    cfg = training_config(args)
    result = profile_step(cfg, args.steps, args.warmup, args.top)
    result["args"] = args_dict(args)
    write_result(result, args.out)
    rows = [
        ("step ms (median, memory-fed)", result["step_ms_median"]),
        ("crops/s", result["crops_per_s"]),
        ("GFLOP a step, forward", result["gflop_per_step"]["forward"]),
        ("GFLOP a step, backward", result["gflop_per_step"]["backward"]),
        ("achieved GFLOP/s", result["achieved_gflops"]),
        ("fp32 matmul GFLOP/s, same threads", result["matmul_fp32_gflops"]),
        ("op calls a step", result["op_calls_per_step"]),
    ]
    rows += [(f"{o['op']} ({o['calls_per_step']:.0f} calls) ms/step", o["self_ms_per_step"]) for o in result["top_ops"]]
    print_table(f"one training step, {cfg.model.backbone} S={cfg.data.crop_size} batch {cfg.train.batch_size}", rows)
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("step-profile", help="one training step op by op, its FLOP/s against a matmul's")
    add_training_args(q)
    q.add_argument("--steps", type=int, default=5, help="timed steps, then as many profiled")
    q.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    q.add_argument("--top", type=int, default=15, help="how many of the heaviest ops to list")
    add_common_args(q)
    q.set_defaults(func=cmd_step_profile)

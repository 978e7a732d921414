"""Benchmarks (``bbadj bench ...``): measured figures, never estimates, each written as JSON.
Outside the core: nothing in bbadj's core imports them. One module per benchmark:

- ``crops``: the project's crop pipeline against a per-box PIL loop;
- ``train_step``: the engine's training step fed by its DataLoader against data in memory;
- ``step_profile``: one memory-fed training step op by op, its FLOP/s against a large matmul's;
- ``adjust_latency``: one ``bbadj.adjust`` call against the bare forward;
- ``serve_latency``: one interactive request to ``bbadj serve`` (Label Studio's backend) over HTTP;
- ``evaluate``: evaluating a COCO-val-sized set;
- ``snap``: ``bbadj snap`` on a COCO-sized file (boxes per second, peak memory);
- ``snap_harm``: not a timing: mIoU of true and jittered boxes after one and two passes of snap, per
  hold value (``bbadj.snap.hold``);
- ``quality``: per-edge quality heads against err_px and box size (within-size AUROC of "edge within 1 px").

Every JSON also records the machine (``machine``: torch version, torch threads, CPU count, GPU,
load average before and after: on a shared machine other processes move the figures).
"""

from __future__ import annotations

import argparse

from . import adjust_latency, crops, evaluate, quality, serve_latency, snap, snap_harm, step_profile, train_step

BENCHMARKS = {
    "crops": crops,
    "train-step": train_step,
    "step-profile": step_profile,
    "adjust-latency": adjust_latency,
    "serve-latency": serve_latency,
    "evaluate": evaluate,
    "snap": snap,
    "snap-harm": snap_harm,
    "quality": quality,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bbadj bench", description="measured benchmarks: " + ", ".join(BENCHMARKS))
    sub = p.add_subparsers(dest="bench_command", required=True)
    for module in BENCHMARKS.values():
        module.add_parser(sub)
    return p


def main(argv: list[str]) -> int:
    from .common import busy_neighbours

    args = build_parser().parse_args(argv)
    with busy_neighbours(getattr(args, "busy", 0)):
        return args.func(args)

"""The train stage: one experiment trained into ``runs/<name>/`` (resuming a crashed run), and
its training curves, logged with dvclive."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .experiments import PARAMS, experiment_config, experiment_names, preflight


def train_experiment(name: str, params_path: str | Path = PARAMS, runs_dir: str | Path = "runs",
                     curves_dir: str | Path = "reports/train", progress: bool = False,
                     echo: Callable[[str], None] | None = print) -> dict:
    """Train experiment ``name`` (of ``experiments`` or ``finetune``) into ``runs_dir/name``
    (resuming a crashed run of the same configuration), then write its training curves with
    dvclive into ``curves_dir/name``, and the run's device and duration (``run.json``). With
    ``train.nproc_per_node`` > 1 the training runs under torchrun (``bbadj train --experiment``),
    one process per device."""
    import time

    from ..device import resolve_device
    from ..engine import train
    from .provenance import write_run_record

    started = time.time()
    if name not in experiment_names(params_path, "trained"):
        raise KeyError(f"{name!r} is not a trained experiment (experiments or finetune) of {params_path}")
    cfg = experiment_config(params_path, name, runs_dir)
    preflight(cfg, "train")
    run_dir = Path(runs_dir) / name
    # a crashed run resumes; DVC reruns this stage when its params change, and a checkpoint of
    # the old params then starts over
    if cfg.train.nproc_per_node > 1:
        entry = _torchrun(name, params_path, runs_dir, cfg.train.nproc_per_node, echo)
    else:
        def on_log(entry: dict) -> None:  # a line now and then where no progress bar reports the loss
            if echo and not progress and entry["step"] % (cfg.train.log_every * 10) == 0:
                echo(f"step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

        entry = train(cfg, run_dir, other_run="restart", progress=progress, on_log=on_log)
    write_training_curves(run_dir / "train_log.jsonl", Path(curves_dir) / name)
    write_run_record(Path(curves_dir) / name, resolve_device(cfg.train.device), started)
    return entry


def torchrun_command(name: str, params_path: str | Path, runs_dir: str | Path, nproc: int) -> list[str]:
    """``torchrun --nproc_per_node N -m bbadj train --experiment NAME ...``. Single machine by
    default (``--standalone``); with torchrun's own PET_NNODES/PET_NODE_RANK/PET_RDZV_ENDPOINT
    variables set, it joins a multi-machine run instead."""
    import os
    import sys

    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    if os.environ.get("PET_NNODES", "1") == "1":
        launch.append("--standalone")
    return launch + ["-m", "bbadj", "train", "--params", str(params_path), "--experiment", name,
                     "--runs-dir", str(runs_dir), "--no-progress", "--restart-if-changed"]


def _torchrun(name, params_path, runs_dir, nproc, echo) -> dict:
    import subprocess

    cmd = torchrun_command(name, params_path, runs_dir, nproc)
    if echo:
        echo(" ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:  # streamed, so the notebook (and the terminal) see the progress
        tail = (tail + [line])[-50:]
        if echo:
            echo(line.rstrip())
    if proc.wait():
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{''.join(tail)}")
    log = read_train_log(Path(runs_dir) / name / "train_log.jsonl")
    return log[-1] if log else {}


def read_train_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_training_curves(log_path: str | Path, live_dir: str | Path) -> None:
    """Replay a train_log.jsonl into dvclive (``live_dir/plots/metrics/*.tsv`` and
    ``live_dir/metrics.json``), whole, so a resumed run still has its full curve."""
    from dvclive import Live

    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        for entry in read_train_log(log_path):
            live.step = int(entry["step"])
            for key in ("loss", "lr", "boxes_per_s"):
                live.log_metric(key, float(entry[key]))
            live.log_metric("epoch", float(entry["epoch"]), plot=False)
            live.next_step()


def read_curves(curves_dir: str | Path, names: list[str], metric: str = "loss"):
    """The dvclive curves (``curves_dir/<name>/plots/metrics/<metric>.tsv``) as one long DataFrame."""
    import pandas as pd

    frames = []
    for name in names:
        p = Path(curves_dir) / name / "plots" / "metrics" / f"{metric}.tsv"
        if p.exists():
            f = pd.read_csv(p, sep="\t")
            f["experiment"] = name
            frames.append(f[["step", metric, "experiment"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["step", metric, "experiment"])


def write_loss_table(curves_dir: str | Path, names: list[str], out: str | Path) -> None:
    """Every experiment's loss curve in one long CSV (step, loss, experiment): what the top-level
    plot of dvc.yaml overlays, one line per experiment (template ``.dvc/plots/by_experiment.json``)."""
    frame = read_curves(curves_dir, names, "loss")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)


def plot_training_curves(curves_dir: str | Path, names: list[str], groups: dict[str, list[str]] | None = None,
                         smooth: int = 5):
    """The loss curves overlaid, one panel per group of experiments (e.g. by training data), a
    rolling mean over ``smooth`` logged steps drawn over the raw values (faint). Losses of
    different kinds (``train.loss``) share a panel but not a scale."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    groups = groups or {"": names}
    loss = read_curves(curves_dir, names, "loss")
    fig, axes = plt.subplots(1, len(groups), figsize=(7 * len(groups), 4), squeeze=False)
    for ax, (title, members) in zip(axes[0], groups.items()):
        colours = dict(zip(members, sns.color_palette("colorblind", len(members))))
        for name in members:
            f = loss[loss.experiment == name]
            if not len(f):
                continue
            ax.plot(f.step, f.loss, c=colours[name], lw=0.6, alpha=0.3)
            ax.plot(f.step, f.loss.rolling(smooth, min_periods=1).mean(), c=colours[name], lw=1.8, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig

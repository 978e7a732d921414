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
    dvclive into ``curves_dir/name``. With ``train.nproc_per_node`` > 1 the training runs under
    torchrun (``bbadj train --experiment``), one process per device."""
    from ..engine import train

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
        def on_log(entry: dict) -> None:
            if echo and entry["step"] % (cfg.train.log_every * 10) == 0:
                echo(f"step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

        entry = train(cfg, run_dir, other_run="restart", progress=progress, on_log=on_log)
    write_training_curves(run_dir / "train_log.jsonl", Path(curves_dir) / name)
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


def plot_training_curves(curves_dir: str | Path, names: list[str]):
    import matplotlib.pyplot as plt
    import seaborn as sns

    loss, lr = read_curves(curves_dir, names, "loss"), read_curves(curves_dir, names, "lr")
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw={"width_ratios": [3, 1]})
    for ax, df, key in ((axes[0], loss, "loss"), (axes[1], lr, "lr")):
        if len(df):
            sns.lineplot(data=df, x="step", y=key, hue="experiment", ax=ax, lw=1,
                         legend=key == "loss", palette="tab20")
    axes[0].set_title("training loss (per logged step; losses of different kinds are not comparable)")
    axes[1].set_title("learning rate")
    if len(loss):
        axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


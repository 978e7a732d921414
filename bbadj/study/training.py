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
    """Train experiment ``name`` into ``runs_dir/name`` (resuming a crashed run of the same
    configuration), then write its training curves with dvclive into ``curves_dir/name``."""
    from ..engine import can_resume, train

    if name not in experiment_names(params_path, "trained"):
        raise KeyError(f"{name!r} is not a trained experiment of {params_path}")
    cfg = experiment_config(params_path, name)
    preflight(cfg, "train")
    run_dir = Path(runs_dir) / name
    # DVC reruns this stage when its params change: a checkpoint of the old params starts over
    resume = can_resume(run_dir / "last.pt", cfg)
    if echo and (run_dir / "last.pt").exists() and not resume:
        echo(f"{run_dir / 'last.pt'} is from other params: starting over")

    def on_log(entry: dict) -> None:
        if echo and entry["step"] % (cfg.train.log_every * 10) == 0:
            echo(f"step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

    entry = train(cfg, run_dir, resume=resume, progress=progress, on_log=on_log)
    write_training_curves(run_dir / "train_log.jsonl", Path(curves_dir) / name)
    return entry


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


"""The training curves the train stages logged with dvclive (``reports/train/<row>/``), read back:
as one long table, as the CSV of every curve that dvc.yaml's top-level plot overlays, and as the
figure the train notebook and the report draw."""

from __future__ import annotations

from pathlib import Path

from ..core.params import Params

# matplotlib's tab10 without its grey (C7) and olive (C8, close to it on a light background): no row
# shares a colour with the legend's line kinds, and the rows are told apart
ROW_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#000080",
    "#b8860b",
)


def read_curves(curves_dir: str | Path, names: list[str], metric: str = "loss"):
    """The dvclive curves of every seed of each row (``curves_dir/<name>/seed<k>/plots/metrics/<metric>.tsv``;
    a pretraining's, one seed, in ``curves_dir/<name>/plots/...``) as one long DataFrame: step, the
    metric, row, seed."""
    import pandas as pd

    frames = []
    for name in names:
        folder = Path(curves_dir) / name
        tail = Path("plots", "metrics", f"{metric}.tsv")
        found = [(int(p.name.removeprefix("seed")), p / tail) for p in folder.glob("seed*") if p.name[4:].isdigit()]
        found = sorted(found) or [(0, folder / tail)]
        for seed, p in found:
            if p.exists():
                f = pd.read_csv(p, sep="\t")
                f["row"], f["seed"] = name, seed
                frames.append(f[["step", metric, "row", "seed"]])
    columns = ["step", metric, "row", "seed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def write_loss_table(curves_dir: str | Path, names: list[str], out: str | Path) -> None:
    """Every trained row's loss curve, the mean over its seeds at each step, in one long CSV (step,
    loss, row): what the top-level plot of dvc.yaml overlays, one line per row (template
    ``.dvc/plots/by_row.json``)."""
    from ..util.outputs import write_text

    loss = read_curves(curves_dir, names, "loss")
    mean = loss.groupby(["row", "step"], sort=False, as_index=False)["loss"].mean()[["step", "loss", "row"]]
    write_text(out, mean.to_csv(index=False))


def plot_training_curves(params: Params, curves_dir, smooth: int = 5, only: list[str] | None = None):
    """The loss curves of every trained row (or ``only`` these), one panel per loss kind (their
    scales differ): each seed's raw values (faint) and a rolling mean over ``smooth`` logged steps of
    their mean over the seeds, one colour per row; the legend says which line is which."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names = only or params.names("trained")
    kinds: dict[str, list[str]] = {}
    for n in names:
        kinds.setdefault(params[n].config.train.loss, []).append(n)
    loss = read_curves(curves_dir, names, "loss")
    fig, axes = plt.subplots(1, len(kinds), figsize=(8 * len(kinds), 4), squeeze=False)
    for ax, (kind, members) in zip(axes[0], kinds.items()):
        for i, name in enumerate(members):
            f = loss[loss["row"] == name]
            c, ls = ROW_COLOURS[i % len(ROW_COLOURS)], "-" if i < len(ROW_COLOURS) else "--"
            for _, seed in f.groupby("seed"):
                ax.plot(seed.step, seed.loss, c=c, lw=0.6, alpha=0.25)
            mean = f.groupby("step").loss.mean()
            ax.plot(mean.index, mean.rolling(smooth, min_periods=1).mean(), c=c, ls=ls, lw=1.8, label=name)
        ax.set_title(f"train.loss = {kind}", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        handles, _ = ax.get_legend_handles_labels()
        # the two line kinds in black, a colour no row has: a row is told by its colour, a kind by
        # its width
        handles += [
            Line2D([], [], c="black", lw=0.6, alpha=0.35, label="thin, faint: raw (each seed, each logged step)"),
            Line2D([], [], c="black", lw=1.8, label=f"thick: smoothed (mean over seeds, of {smooth} logged steps)"),
        ]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.set_label(
        f"Training loss against step of {', '.join(names)}: faint lines each seed's raw values, thick "
        f"lines their mean over the seeds and {smooth} logged steps"
    )
    return fig

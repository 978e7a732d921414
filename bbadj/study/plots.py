"""The report's figures: bars per metric, the buffer-ratio curve, per-edge error histograms,
confidence against error, and the gallery of real examples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.coco import load_coco
from ..metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1
from .evaluation import EDGE_COLUMNS, signed_edge_errors
from .experiments import IDENTITY
from .stats import PAPER_IDENTITY, PAPER_SNAPPER, Results, buffer_experiments


def plot_metric_bars(res: Results, names: list[str] | None = None):
    """One panel per metric: a bar per experiment (percent) with its 95% interval; the paper's
    Snapper and jittered-COCO values as dashed and dotted lines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = names or res.names
    t = res.table[res.table.experiment.isin(names)].copy()
    for c in ("value", "lo", "hi"):
        t[c] = 100 * t[c]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), sharey=False)
    palette = dict(zip(names, sns.color_palette("tab20", len(names))))
    for ax, key in zip(axes.flat, METRIC_KEYS):
        tk = t[t.metric == key].set_index("experiment").loc[names]
        sns.barplot(x=tk.index, y=tk.value, hue=tk.index, palette=palette, ax=ax, legend=False)
        ax.errorbar(range(len(names)), tk.value, yerr=[tk.value - tk.lo, tk.hi - tk.value], fmt="none",
                    ecolor="black", capsize=3, lw=1)
        paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))[key]
        ident = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY]))[key]
        ax.axhline(paper, ls="--", c="crimson", lw=1, label="paper: Snapper")
        ax.axhline(ident, ls=":", c="grey", lw=1, label="paper: jittered COCO")
        ax.set_title(METRIC_LABELS[key])
        ax.set_xlabel("")
        ax.set_ylabel("percent")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        lo = max(0.0, min(tk.lo.min(), ident) - 5)
        ax.set_ylim(lo, min(100.0, max(tk.hi.max(), paper) + 3))
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_buffer_curve(res: Results):
    """Each metric against the buffer ratio, with 95% bands."""
    import matplotlib.pyplot as plt

    groups = buffer_experiments(res)
    fig, axes = plt.subplots(1, 6, figsize=(18, 3.4))
    styles = {"trained": dict(marker="o", label="trained and evaluated at the ratio"),
              "eval_only": dict(marker="s", ls="--", label=f"{res.baseline}'s model evaluated at the ratio")}
    for ax, key in zip(axes, METRIC_KEYS):
        for group, members in groups.items():
            x = [r for r, _ in members]
            v = [100 * res.value(n, key) for _, n in members]
            ci = np.array([res.ci(n, key) for _, n in members]) * 100
            line, = ax.plot(x, v, **styles[group])
            ax.fill_between(x, ci[:, 0], ci[:, 1], alpha=0.2, color=line.get_color())
        ax.axhline(100 * res.value(IDENTITY, key), c="grey", ls=":", lw=1, label="identity (no model)")
        ax.set_title(METRIC_LABELS[key])
        ax.set_xlabel("buffer ratio")
    axes[0].set_ylabel("percent")
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_edge_histograms(res: Results, names: list[str], limit: float = 8.0):
    """Per-edge histograms of signed error (pixels), clipped to +-``limit``, one row per experiment."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(len(names), 4, figsize=(16, 2.6 * len(names)), squeeze=False, sharex=True)
    bins = np.arange(-limit, limit + 0.5, 0.5)
    for r, name in enumerate(names):
        e = signed_edge_errors(res.per_box[name])
        for c, edge in enumerate(EDGE_COLUMNS):
            x = e[e.edge == edge].error.clip(-limit, limit)
            ax = axes[r, c]
            sns.histplot(x, bins=bins, ax=ax, stat="percent", color=sns.color_palette()[r % 10])
            within1 = 100 * float((x.abs() < 1).mean())
            ax.set_title(f"{name}: {edge} ({within1:.0f}% within 1 px)", fontsize=9)
            ax.set_xlabel("predicted - true edge (px), clipped")
            ax.axvline(0, c="k", lw=0.8)
    fig.tight_layout()
    return fig


def plot_confidence(res: Results, name: str, n_bins: int = 10):
    """Is the per-edge confidence a useful review flag? Mean absolute edge error per confidence decile."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = res.per_box[name]
    parts = []
    for e, c in EDGE_COLUMNS.items():
        parts.append(pd.DataFrame({"edge": e, "conf": df[f"conf_{e}"],
                                   "abs_err": (df[f"adj_{c}"] - df[f"gt_{c}"]).abs()}))
    d = pd.concat(parts, ignore_index=True).dropna()
    d["bin"] = pd.qcut(d.conf.rank(method="first"), n_bins, labels=False)
    g = d.groupby("bin").agg(conf=("conf", "mean"), err=("abs_err", "mean"),
                             lt1=("abs_err", lambda s: 100 * (s < 1).mean()))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(g.conf, g.err, marker="o")
    ax.set_xlabel("per-edge confidence (decile mean)")
    ax.set_ylabel("mean |edge error| (px)")
    ax.set_title(f"{name}: confidence against error")
    fig.tight_layout()
    return fig, g


GALLERY_STYLE = {"gt": dict(ec="lime", lw=1.6), "jit": dict(ec="orange", lw=1.8, ls=(0, (4, 2))),
                 "adj": dict(ec="deepskyblue", lw=1.4)}


def gallery_rows(df, n: int, seed: int = 0):
    """``n`` (draw, box) rows: the worst half by IoU (distinct boxes), the rest drawn at random."""
    worst = df.sort_values("iou").drop_duplicates("ann_id").head(n - n // 2)
    rest = df[~df.ann_id.isin(worst.ann_id)].drop_duplicates("ann_id")
    pick = rest.sample(min(n // 2, len(rest)), random_state=seed) if len(rest) else rest.head(0)
    worst = worst.assign(kind="worst")
    pick = pick.assign(kind="random")
    import pandas as pd

    return pd.concat([worst, pick], ignore_index=True)


def draw_gallery(res: Results, name: str, annotations: str | Path, images_dir: str | Path,
                 n: int = 8, seed: int = 0, cols: int = 4, title: str | None = None):
    """Real validation examples: true (green), jittered (orange, dashed) and adjusted (blue)
    boxes, with the per-edge confidence written at each adjusted edge; worst cases first.
    ``title`` goes above the legend."""
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from PIL import Image

    paths = {r.image_id: r.path for r in load_coco(annotations, images_dir, verbose=False).images}
    rows = gallery_rows(res.per_box[name], n, seed)
    jit_iou = res.per_box[IDENTITY].set_index(["repeat", "ann_id"])["iou"]
    nrows = max(1, math.ceil(len(rows) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 4.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, r) in zip(axes.flat, rows.iterrows()):
        img = Image.open(paths[int(r["image_id"])]).convert("RGB")
        boxes = {k: [r[f"{k}_{c}"] for c in ("x0", "y0", "x1", "y1")] for k in ("gt", "jit", "adj")}
        allb = np.array(list(boxes.values()))
        x0, y0 = allb[:, :2].min(0)
        x1, y1 = allb[:, 2:].max(0)
        m = 0.25 * max(x1 - x0, y1 - y0) + 4
        ax.imshow(img, interpolation="nearest")
        ax.set_xlim(max(0, x0 - m), min(img.width, x1 + m))
        ax.set_ylim(min(img.height, y1 + m), max(0, y0 - m))
        for k, b in boxes.items():
            patch = Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, **GALLERY_STYLE[k])
            outline = pe.Stroke(linewidth=GALLERY_STYLE[k]["lw"] + 1.2, foreground="black", alpha=0.7)
            patch.set_path_effects([outline, pe.Normal()])
            ax.add_patch(patch)
        a = boxes["adj"]
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        spots = {"top": (cx, a[1], "center", "bottom"), "bottom": (cx, a[3], "center", "top"),
                 "left": (a[0], cy, "right", "center"), "right": (a[2], cy, "left", "center")}
        for e, (x, y, ha, va) in spots.items():
            ax.text(x, y, f"{r[f'conf_{e}']:.2f}", color="white", fontsize=8, ha=ha, va=va,
                    bbox=dict(facecolor="black", alpha=0.6, pad=1, lw=0))
        ji = float(jit_iou.get((int(r["repeat"]), int(r["ann_id"])), np.nan))
        ax.set_title(f"{r['kind']}: ann {int(r['ann_id'])}, IoU {ji:.2f} -> {r['iou']:.2f}", fontsize=9)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], color=GALLERY_STYLE[k]["ec"], lw=2, ls=GALLERY_STYLE[k].get("ls", "-"), label=label)
               for k, label in (("gt", "true"), ("jit", "jittered input"), ("adj", f"adjusted by {name}"))]
    top = 0.95
    if title:
        fig.suptitle(title, y=0.995, va="top")
        top = 0.92
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, top + 0.03), ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


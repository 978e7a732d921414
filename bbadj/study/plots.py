"""The report's figures: gains over identity (dot and whisker), iterative refinement, the
buffer-ratio curve, per-edge error histograms, the confidence's reliability and selective curve,
and the gallery of real examples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.coco import load_coco
from ..metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1
from .evaluation import EDGE_COLUMNS, signed_edge_errors
from .experiments import IDENTITY
from .stats import PAPER_IDENTITY, PAPER_SNAPPER, Results, buffer_experiments, paired_difference, pass_runs


COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")  # Okabe-Ito: apart for colour-blind readers too


def plot_gains(results: dict[str, Results]):
    """Dot and whisker: every row's gain over the identity row of its set (points, paired 95%
    interval), one panel per metric, one colour per set; a hollow dot is not a real difference by
    the report's rule; zero and the paper's Snapper gain (dashed) for scale."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(n for r in results.values() for n in r.names if n != IDENTITY))
    fig, axes = plt.subplots(1, len(METRIC_KEYS), figsize=(17, 0.34 * len(names) + 1.8), sharey=True)
    paper = dict(zip(METRIC_KEYS, (s - i for s, i in zip(PAPER_TABLE1[PAPER_SNAPPER], PAPER_TABLE1[PAPER_IDENTITY]))))
    offsets = np.linspace(-0.18, 0.18, len(results)) if len(results) > 1 else [0.0]
    labelled: set[str] = set()
    diffs = {s: {n: paired_difference(res, n, IDENTITY) for n in names if n in res.names} for s, res in results.items()}
    for ax, key in zip(axes, METRIC_KEYS):
        for (s, res), off, colour in zip(results.items(), offsets, COLOURS):
            for i, name in enumerate(names):
                if name not in res.names:
                    continue
                d = diffs[s][name].loc[key]
                y = i + off
                ax.plot([100 * d.lo, 100 * d.hi], [y, y], c=colour, lw=1.4)
                first = ax is axes[0] and s not in labelled
                labelled.add(s)
                ax.plot(100 * d["diff"], y, "o", ms=5, mec=colour, mfc=colour if d.real else "white",
                        label=s if first else None)
        ax.axvline(0, c="grey", lw=1)
        ax.axvline(paper[key], c="crimson", ls="--", lw=1.2)
        ax.set_title(METRIC_LABELS[key], fontsize=10)
        ax.set_xlabel("points over identity")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], c="crimson", ls="--", label="paper: Snapper's gain (COCO val2017)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_passes(results: dict[str, Results]):
    """Iterative refinement: each metric after 1, 2, 3... passes of the model over its own output,
    with 95% intervals, one line per set."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRIC_KEYS), figsize=(17, 2.8))
    for (s, res), colour in zip(results.items(), COLOURS):
        runs = pass_runs(res)
        if not runs:
            continue
        x = [p for p, _ in runs]
        for ax, key in zip(axes, METRIC_KEYS):
            v = [100 * res.value(n, key) for _, n in runs]
            ci = np.array([res.ci(n, key) for _, n in runs]) * 100
            ax.errorbar(x, v, yerr=[np.subtract(v, ci[:, 0]), ci[:, 1] - v], marker="o", c=colour, capsize=3, label=s)
            ax.set_title(METRIC_LABELS[key], fontsize=10)
            ax.set_xticks(x)
            ax.set_xlabel("passes")
    axes[0].set_ylabel("percent")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confidence(res: Results, names: list[str]):
    """Left: reliability, the share of edges within 1 px in each tenth of the confidence (95%
    interval over boxes). Right: the selective curve, the share of accurate edges among the k%
    most confident, beside a random pick and a perfect ranking."""
    import matplotlib.pyplot as plt

    from .confidence import reliability, selective_curve

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4))
    for name, colour in zip(names, COLOURS):
        r = reliability(res, name)
        a.errorbar(r.conf, 100 * r.accurate, yerr=[100 * (r.accurate - r.lo), 100 * (r.hi - r.accurate)],
                   marker="o", capsize=3, c=colour, label=name)
        c = selective_curve(res, name)
        b.plot(c.accepted, 100 * c.accurate, c=colour, lw=2, label=name)
        b.plot(c.accepted, 100 * c.random, c=colour, ls=":", lw=1, label=f"{name}: random pick")
        b.plot(c.accepted, 100 * c.perfect, c=colour, ls="--", lw=0.8, alpha=0.6, label=f"{name}: perfect ranking")
    a.set_xlabel("per-edge confidence (mean of each tenth of the edges)")
    a.set_ylabel("edges within 1 px (%)")
    a.set_title("reliability")
    a.legend(fontsize=8)
    b.set_xlabel("accepted: the k% most confident edges")
    b.set_ylabel("accepted edges within 1 px (%)")
    b.set_title("accept the most confident edges automatically")
    b.set_ylim(0, 101)
    b.legend(fontsize=7, ncol=1)
    fig.suptitle(res.source, fontsize=10)
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


# told apart by colour, line style and width at once: true solid and widest, input dashed, adjusted dotted
GALLERY_STYLE = {"gt": dict(ec="#00E000", lw=3.0), "jit": dict(ec="#FFB000", lw=2.0, ls=(0, (6, 3))),
                 "adj": dict(ec="#FF00FF", lw=2.0, ls=(0, (1.5, 1.5)))}


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
    """Real validation examples: true (green, solid), jittered (amber, dashed) and adjusted
    (magenta, dotted) boxes (``GALLERY_STYLE``), with the per-edge confidence written at each
    adjusted edge; worst cases first.
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


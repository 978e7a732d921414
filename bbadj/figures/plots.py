"""The report's figures: the gains over identity, the buffer-ratio curve, iterative refinement,
the expected error's reliability and selective curves, per-edge error histograms and the gallery
of real examples (the training curves: ``curves``). Each panel's axis is sized to what it compares,
legends sit outside the data, and eval-only points are drawn apart from trained ones."""

from __future__ import annotations

import math

import numpy as np

from ..core.box_ops import COORDS, EDGES
from ..data.coco import load_coco
from ..scoring import metrics
from ..core.params import IDENTITY
from ..analysis.comparisons import single
from ..analysis.per_box import signed_edge_errors
from ..analysis.results import Results

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")  # Okabe-Ito


def _legend_below(fig, handles, ncol: int | None = None) -> None:
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol or len(handles),
        frameon=False,
        fontsize=9,
    )


def gain_limits(
    values: list[tuple[float, float, float]], always: tuple[float, ...] = (0.0,), stretch: float = 1.8
) -> tuple[tuple[float, float], list[int]]:
    """The x range of one panel of ``plot_gains`` and its outliers: ``values`` are (diff, lo, hi)
    per row, in points. The row farthest from the median is an outlier when the panel's span with
    it is more than ``stretch`` times the span without it (one broken row would flatten the rest);
    so again for the next, up to a third of the rows. The range covers the other rows' intervals
    and ``always`` (0 and the aim), padded by 6%."""

    def span(rows):
        return (min([v[1] for v in rows] + list(always)), max([v[2] for v in rows] + list(always)))

    med = float(np.median([v[0] for v in values]))
    order = sorted(range(len(values)), key=lambda i: -abs(values[i][0] - med))
    outliers: list[int] = []
    for i in order[: len(values) // 3]:
        rest = [v for j, v in enumerate(values) if j not in outliers and j != i]
        (a0, a1), (b0, b1) = span(rest + [values[i]]), span(rest)
        if (a1 - a0) <= stretch * (b1 - b0):
            break
        outliers.append(i)
    lo, hi = span([v for j, v in enumerate(values) if j not in outliers])
    pad = 0.06 * (hi - lo or 1.0)
    return (lo - pad, hi + pad), sorted(outliers)


def plot_gains(results: dict[str, Results]):
    """Dot and whisker: each model row's gain over the identity row of its set (points, the mean
    over its seeds, its 95% interval adding the photographs' and the seeds' variance); one row of
    panels per set, one panel per metric, each axis sized to its rows, the aim (half the paper's
    gain) a dashed line. Filled: the interval, alone (uncorrected), excludes 0; the corrected
    verdicts are the tables'. A row far off the others (``gain_limits``) is a triangle at the
    panel's edge with its value, so that it does not flatten the rest; the paper's gain is in each
    panel's title."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    sets = [r for r in results.values() if r.models]
    keys = list(sets[0].keys)
    n = max(len(r.models) for r in sets)
    size = (17 * len(keys) / 6, (0.3 * n + 1.2) * len(sets))
    fig, axes = plt.subplots(len(sets), len(keys), figsize=size, squeeze=False)
    clipped = False
    for row, res in zip(axes, sets):
        names = res.models
        diffs = {name: single(res, name, IDENTITY) for name in names}
        for ax, key in zip(row, keys):
            m = metrics.metric(key)
            values = [tuple(diffs[nm].loc[key, c] for c in ("difference", "low", "high")) for nm in names]
            (x0, x1), outliers = gain_limits(values, (0.0, m.aim))
            for i, name in enumerate(names):
                mid, lo, hi = values[i]
                filled = lo > 0 or hi < 0
                if i in outliers:
                    left = mid < x0
                    edge = x0 + 0.02 * (x1 - x0) if left else x1 - 0.02 * (x1 - x0)
                    ax.plot(edge, i, "<" if left else ">", ms=7, mec=COLOURS[1], mfc=COLOURS[1] if filled else "white")
                    ax.annotate(
                        f"{mid:+.1f}",
                        (edge, i),
                        xytext=(8 if left else -8, 0),
                        textcoords="offset points",
                        ha="left" if left else "right",
                        va="center",
                        fontsize=8,
                        color=COLOURS[1],
                    )
                    clipped = True
                    continue
                ax.plot([lo, hi], [i, i], c=COLOURS[0], lw=1.4)
                ax.plot(mid, i, "o", ms=5, mec=COLOURS[0], mfc=COLOURS[0] if filled else "white")
            ax.axvline(0, c="grey", lw=1)
            ax.axvline(m.aim, c=COLOURS[2], lw=1.2, ls="--")
            ax.set_xlim(x0, x1)
            ax.set_title(f"{m.label}\n(paper's gain {m.gain:+.1f})", fontsize=9)
            ax.set_yticks(range(len(names)), names if ax is row[0] else [""] * len(names))
            ax.set_ylim(len(names) - 0.5, -0.5)
            ax.grid(axis="y", alpha=0.3)
        row[0].set_ylabel(res.eval_set)
    for ax in axes[-1]:
        ax.set_xlabel("points over identity")
    handles = [
        Line2D([], [], marker="o", ls="-", c=COLOURS[0], label="95% interval excludes 0 (uncorrected)"),
        Line2D([], [], marker="o", ls="-", c=COLOURS[0], mfc="white", label="95% interval includes 0"),
        Line2D([], [], c="grey", label="no change"),
        Line2D([], [], c=COLOURS[2], ls="--", label="aim: half the paper's gain"),
    ]
    if clipped:
        handles.append(Line2D([], [], marker=">", ls="", c=COLOURS[1], label="off the axis (its gain written beside)"))
    _legend_below(fig, handles)
    fig.tight_layout()
    fig.set_label(
        "Each model row's gain over the jittered boxes, in points with its 95% interval "
        "(photographs and seeds), one panel per metric, the aim (half the paper's gain) a "
        "dashed line" + ("; rows far off the others are triangles at the edge with their gain" if clipped else "")
    )
    return fig


def buffer_rows(res: Results) -> dict[str, list[tuple[float, str]]]:
    """The default row and the rows that differ from it only in ``data.buffer_ratio``:
    ``trained`` (trained and evaluated at their ratio) and ``eval_only`` (its model at another
    ratio); empty unless there are some."""
    params, base = res.params, res.params.report.baseline
    out: dict[str, list] = {"trained": [], "eval_only": []}
    for name in res.models:
        if set(params.changed(name, base)) == {"data.buffer_ratio"} or name == base:
            group = "eval_only" if params[name].group == "eval_only" else "trained"
            out[group].append((params[name].config.data.buffer_ratio, name))
    return {k: sorted(v) for k, v in out.items()} if len(out["trained"]) + len(out["eval_only"]) > 1 else {}


def plot_buffer_curve(res: Results):
    """Each metric against the buffer ratio: trained rows joined by a line with 95% bars, the
    default model evaluated at other ratios as separate squares; identity dotted."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    groups = buffer_rows(res)
    keys = list(res.keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(17 * len(keys) / 6, 3.2))
    style = {"trained": dict(marker="o", c=COLOURS[0], ls="-"), "eval_only": dict(marker="s", c=COLOURS[1], ls="none")}
    for ax, key in zip(axes, keys):
        for group, members in groups.items():
            x = [r for r, _ in members]
            v = np.array([100 * res.value(n, key) for _, n in members])
            ci = np.array([res.ci(n, key) for _, n in members]) * 100
            ax.errorbar(x, v, yerr=[v - ci[:, 0], ci[:, 1] - v], capsize=3, **style[group])
        ax.axhline(100 * res.value(IDENTITY, key), c="grey", ls=":", lw=1)
        ax.set_title(metrics.label(key), fontsize=10)
        ax.set_xlabel("buffer ratio")
    axes[0].set_ylabel(f"percent ({res.eval_set})")
    _legend_below(
        fig,
        [
            Line2D([], [], label="trained and evaluated at the ratio", **style["trained"]),
            Line2D([], [], label=f"{res.params.report.baseline}'s model evaluated at the ratio", **style["eval_only"]),
            Line2D([], [], c="grey", ls=":", label="identity (no model)"),
        ],
    )
    fig.tight_layout()
    fig.set_label(
        f"Each metric of {res.eval_set} against the buffer ratio: trained rows joined by a line with 95% bars, the default model at other ratios as squares, the jittered boxes dotted"
    )
    return fig


def pass_rows(res: Results) -> list[tuple[int, str]]:
    """(eval.passes, row) of the default row and its eval-only rows that differ only in
    ``eval.passes``; empty without such rows."""
    params, base = res.params, res.params.report.baseline
    rows = [
        (params[n].config.eval.passes, n)
        for n in res.models
        if n == base or set(params.changed(n, base)) == {"eval.passes"}
    ]
    return sorted(rows) if len(rows) > 1 else []


def plot_passes(results: dict[str, Results]):
    """Iterative refinement: each metric after 1, 2, 3... passes of the model over its own output,
    with 95% intervals, one line per set, identity dotted."""
    import matplotlib.pyplot as plt

    keys = list(metrics.metric_keys())
    fig, axes = plt.subplots(1, len(keys), figsize=(17 * len(keys) / 6, 3.0))
    for (s, res), colour in zip(results.items(), COLOURS):
        runs = pass_rows(res)
        if not runs:
            continue
        x = [p for p, _ in runs]
        for ax, key in zip(axes, keys):
            v = np.array([100 * res.value(n, key) for _, n in runs])
            ci = np.array([res.ci(n, key) for _, n in runs]) * 100
            ax.errorbar(x, v, yerr=[v - ci[:, 0], ci[:, 1] - v], marker="o", c=colour, capsize=3, label=s)
            ax.axhline(100 * res.value(IDENTITY, key), c=colour, ls=":", lw=1)
            ax.set_title(metrics.label(key), fontsize=10)
            ax.set_xticks(x)
            ax.set_xlabel("passes")
    axes[0].set_ylabel("percent")
    handles, _ = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles)
    fig.tight_layout()
    fig.set_label(
        "Each metric against the number of passes of the model over its own output (iterative refinement), per evaluation set"
    )
    return fig


def plot_confidence(res: Results, names: list[str]):
    """Left: reliability, the observed mean absolute error (px, 95% interval) against the predicted
    one, in tenths of the edges by predicted error (log axes; on the diagonal: calibrated).
    Right: accept the k% edges each score is surest of: the share of them within 1 px."""
    import matplotlib.pyplot as plt

    from ..analysis.confidence import SCORES, reliability, selective_curve

    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 4.2))
    for name, colour in zip(names, COLOURS):
        r = reliability(res, name)
        a.errorbar(
            r.predicted,
            r.observed,
            yerr=[r.observed - r.lo, r.hi - r.observed],
            marker="o",
            capsize=3,
            c=colour,
            label=name,
        )
    lim = [min(a.get_xlim()[0], a.get_ylim()[0]), max(a.get_xlim()[1], a.get_ylim()[1])]
    a.plot(lim, lim, c="grey", ls=":", lw=1, label="calibrated")
    a.set(
        xscale="log",
        yscale="log",
        xlabel="predicted |error| (px, err_px)",
        ylabel="observed |error| (px)",
        title="reliability of the expected error",
    )
    a.legend(fontsize=8, loc="upper left")
    c = selective_curve(res, names[-1])
    for (score, label), colour in zip(SCORES.items(), COLOURS):
        b.plot(c.accepted, 100 * c[score], c=colour, lw=2, label=label)
    b.plot(c.accepted, 100 * c.random, c="grey", ls=":", label="random pick")
    b.plot(c.accepted, 100 * c.perfect, c="grey", ls="--", lw=0.8, label="perfect ranking")
    b.set(
        xlabel="accepted: the k% of edges ranked surest",
        ylabel="accepted edges within 1 px (%)",
        title=f"accept edges without review ({names[-1]})",
    )
    b.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(res.source, fontsize=10)
    fig.tight_layout()
    fig.set_label(
        f"The expected error against the observed one on {res.eval_set} for {', '.join(names)}: reliability and selective curves"
    )
    return fig


def plot_edge_histograms(res: Results, names: list[str], limit: float = 8.0):
    """Per-edge histograms of signed error (pixels), clipped to +-``limit``, one row per row of the study."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(len(names), 4, figsize=(16, 2.4 * len(names)), squeeze=False, sharex=True)
    bins = np.arange(-limit, limit + 0.5, 0.5)
    for r, name in enumerate(names):
        e = signed_edge_errors(res.per_box[name])
        for c, edge in enumerate(EDGES):
            x = e[e.edge == edge].error.clip(-limit, limit)
            ax = axes[r, c]
            sns.histplot(x, bins=bins, ax=ax, stat="percent", color=COLOURS[r % len(COLOURS)])
            ax.set_title(f"{name}: {edge} ({100 * float((x.abs() < 1).mean()):.0f}% within 1 px)", fontsize=9)
            ax.set_xlabel("predicted - true edge (px), clipped")
            ax.axvline(0, c="k", lw=0.8)
    fig.tight_layout()
    fig.set_label(
        f"Histograms of the signed edge error in pixels on {res.eval_set}, one per edge, for {', '.join(names)}"
    )
    return fig


# told apart by colour, line style and width at once: true solid and widest, input dashed, adjusted dotted
GALLERY_STYLE = {
    "gt": dict(ec="#00E000", lw=3.0),
    "jit": dict(ec="#FFB000", lw=2.0, ls=(0, (6, 3))),
    "adj": dict(ec="#FF00FF", lw=2.0, ls=(0, (1.5, 1.5))),
}


def gallery_rows(df, n: int, seed: int = 0):
    """``n`` (draw, box) rows: the worst half by IoU (distinct boxes), the rest drawn at random."""
    import pandas as pd

    worst = df.sort_values("iou").drop_duplicates("ann_id").head(n - n // 2)
    rest = df[~df.ann_id.isin(worst.ann_id)].drop_duplicates("ann_id")
    pick = rest.sample(min(n // 2, len(rest)), random_state=seed) if len(rest) else rest.head(0)
    return pd.concat([worst.assign(kind="worst"), pick.assign(kind="random")], ignore_index=True)


def draw_gallery(res: Results, name: str, n: int = 8, seed: int = 0, cols: int = 4):
    """Real validation examples: true (green, solid), jittered (amber, dashed) and adjusted
    (magenta, dotted) boxes (``GALLERY_STYLE``) of the row's first seed's model, with each adjusted
    edge's expected error (px) written on it; worst cases first."""
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from PIL import Image

    paths = {r.image_id: r.path for r in load_coco(res.annotations, res.images, verbose=False).images}
    df = res.per_box[name]
    rows = gallery_rows(df[df["seed"] == df["seed"].min()], n, seed)  # the row's first seed's model
    jit_iou = res.per_box[IDENTITY].set_index(["repeat", "ann_id"])["iou"]
    nrows = max(1, math.ceil(len(rows) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 4.1 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, r) in zip(axes.flat, rows.iterrows()):
        img = Image.open(paths[int(r["image_id"])]).convert("RGB")
        boxes = {k: [r[f"{k}_{c}"] for c in COORDS] for k in ("gt", "jit", "adj")}
        allb = np.array(list(boxes.values()))
        (x0, y0), (x1, y1) = allb[:, :2].min(0), allb[:, 2:].max(0)
        m = 0.25 * max(x1 - x0, y1 - y0) + 4
        ax.imshow(img, interpolation="nearest")
        ax.set_xlim(max(0, x0 - m), min(img.width, x1 + m))
        ax.set_ylim(min(img.height, y1 + m), max(0, y0 - m))
        for k, b in boxes.items():
            patch = Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, **GALLERY_STYLE[k])
            patch.set_path_effects(
                [pe.Stroke(linewidth=GALLERY_STYLE[k]["lw"] + 1.2, foreground="black", alpha=0.7), pe.Normal()]
            )
            ax.add_patch(patch)
        a = boxes["adj"]
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        spots = {
            "top": (cx, a[1], "center", "bottom"),
            "bottom": (cx, a[3], "center", "top"),
            "left": (a[0], cy, "right", "center"),
            "right": (a[2], cy, "left", "center"),
        }
        for e, (x, y, ha, va) in spots.items():
            ax.text(
                x,
                y,
                f"±{r[f'err_px_{e}']:.1f}",
                color="white",
                fontsize=8,
                ha=ha,
                va=va,
                bbox=dict(facecolor="black", alpha=0.6, pad=1, lw=0),
            )
        ji = float(jit_iou.get((int(r["repeat"]), int(r["ann_id"])), np.nan))
        ax.set_title(f"{r['kind']}: ann {int(r['ann_id'])}, IoU {ji:.2f} -> {r['iou']:.2f}", fontsize=9)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
    _legend_below(
        fig,
        [
            Line2D([], [], color=GALLERY_STYLE[k]["ec"], lw=2, ls=GALLERY_STYLE[k].get("ls", "-"), label=label)
            for k, label in (
                ("gt", "true"),
                ("jit", "jittered input"),
                ("adj", f"snapped by {name} (± expected error, px)"),
            )
        ],
    )
    fig.tight_layout()
    fig.set_label(
        f"Example photographs of {res.eval_set}: the true box, the jittered box and {name}'s snapped box, half of them its worst cases"
    )
    return fig

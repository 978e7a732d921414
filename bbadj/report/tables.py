"""The report's tables, each number rounded once from its raw value (``pct``, ``signed``): the
main result against the paper, the ablations against their parents (from ``comparisons``),
Table 1, and the tidy summary of every row (``reports/summary.csv``/``.md``,
``reports/headline.md``, which the README links) that agrees with them cell for cell. Every
metric comes from its declaration (``bbadj.scoring.metrics``), by key."""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any

import numpy as np

from ..scoring import metrics
from ..scoring.metrics import PAPER_ROWS, pct
from ..core.params import GRABCUT, IDENTITY
from ..analysis.comparisons import CORRECTION, lines_of
from ..analysis.results import Results, metric_table

ROW_NAMES = {IDENTITY: "jittered boxes (identity)", GRABCUT: "GrabCut (OpenCV)"}
SMALL = '<br><span style="font-size:75%;color:#666">{}</span>'
TABLE_CSS = [
    {
        "selector": "td",
        "props": "text-align:right;padding:2px 8px;white-space:nowrap;line-height:1.15",
    },
    {"selector": "th", "props": "padding:2px 8px;white-space:nowrap"},
    {"selector": "th.row_heading", "props": "text-align:left"},
    {
        "selector": "caption",
        "props": "caption-side:bottom;text-align:left;color:#555;font-size:85%",
    },
]
# a decided difference, shaded by its sign: green where the row is better, red where worse
SHADE = {
    "better": "font-weight:bold;background:#e3f2e3",
    "worse": "font-weight:bold;background:#f8e0dc",
    "changes": "font-weight:bold;background:#fff1c2",  # two budgets: the budget changes the answer
}
MARK = {"inconclusive": " ·", "not judged": " n.j."}


def columns(keys=None) -> list[str]:
    """The metrics' labels, in declaration order (or in the order of ``keys``)."""
    return [metrics.label(k) for k in (keys or metrics.metric_keys())]


def pts(d: float) -> str:
    """A difference of fractions in signed points, rounded once."""
    return f"{pct(d):+.1f}"


def signed(points: float) -> str:
    """A difference already in points, signed, one decimal; never -0.0."""
    return f"{round(float(points), 1) + 0.0:+.1f}".replace("-0.0", "+0.0")


def row_label(name: str) -> str:
    return ROW_NAMES.get(name, name)


def styled(frame, caption: str, shade: dict | None = None, text: list[str] | None = None):
    """A Styler of string cells, each cell of ``shade`` ({(row, column): "better" | "worse"}) in
    bold on green or red (``SHADE``), the ``text`` columns left-aligned and wrapped (the numbers
    stay right-aligned)."""
    shade = shade or {}

    def weight(data):
        return data.apply(lambda col: [SHADE.get(shade.get((r, col.name)), "") for r in col.index])

    out = frame.style.apply(weight, axis=None).set_caption(caption).set_table_styles(TABLE_CSS)
    # long text (the long tier's weights paths) wraps in its cell rather than widening the table
    # past the page; per column (``#T td.colN``), so that it outranks TABLE_CSS's ``#T td``
    wrap = [
        {
            "selector": "td",
            "props": "text-align:left;white-space:normal;max-width:28em;overflow-wrap:anywhere",
        }
    ]
    return out.set_table_styles({c: wrap for c in text}, overwrite=False) if text else out


def headroom(jittered: float, gain: float) -> float:
    """A gain as a share of the headroom the jittered boxes leave: gain / (100 - jittered), in
    points (the paper's jittered boxes and ours differ: coco128's val split is easier)."""
    return gain / (100 - jittered) if jittered < 100 else np.nan


def headline(res: Results, frame, best: str) -> Any:
    """The main result on a real-photo set: the paper's two rows and its gain, ours (identity, the
    row) and our gain with its interval (``comparisons``), the aim (half the paper's gain), our
    share of the paper's gain, and each gain's share of the headroom its jittered boxes leave."""
    import pandas as pd

    keys = list(res.keys)
    ms = {k: metrics.metric(k) for k in keys}
    d = lines_of(frame, res.eval_set, "gain", best, IDENTITY)
    ours = {k: pct(res.value(IDENTITY, k)) for k in keys}
    rows = {
        "paper: jittered COCO val2017": [f"{ms[k].jittered:.1f}" for k in keys],
        "paper: + Snapper": [f"{ms[k].snapper:.1f}" for k in keys],
        "paper: gain": [f"{ms[k].gain:+.1f}" for k in keys],
        f"ours: jittered boxes, {res.eval_set}": [f"{ours[k]:.1f}" for k in keys],
        f"ours: + {best}": [f"{pct(res.value(best, k)):.1f}" for k in keys],
        "ours: gain [95% interval]": [
            signed(d.loc[k, "difference"]) + SMALL.format(f"{signed(d.loc[k, 'low'])} to {signed(d.loc[k, 'high'])}")
            for k in keys
        ],
        "aim: half the paper's gain": [f"{ms[k].aim:+.1f}" for k in keys],
        "ours / paper's gain": [f"{d.loc[k, 'difference'] / ms[k].gain:.2f}" for k in keys],
        "paper: gain / headroom": [f"{headroom(ms[k].jittered, ms[k].gain):.2f}" for k in keys],
        "ours: gain / headroom": [
            f"{headroom(100 * res.value(IDENTITY, k), d.loc[k, 'difference']):.2f}" for k in keys
        ],
    }
    frame_ = pd.DataFrame.from_dict(rows, orient="index", columns=columns(keys))
    reached = {
        ("ours: gain [95% interval]", ms[k].label): "better"
        for k in keys
        if d.loc[k, "verdict"] == "better" and round(d.loc[k, "difference"], 1) >= round(ms[k].aim, 1)
    }
    bold = (
        "Shaded: a gain that is decided (Holm-adjusted p < 0.05) and reaches the aim."
        if reached
        else "No gain is both decided (Holm-adjusted p < 0.05) and at the aim, so none is shaded."
    )
    return styled(
        frame_,
        f"Percent; gains in points; the interval adds the photographs' and the seeds' "
        f"variance ({d['seeds_row'].iloc[0]} seed(s) of `{best}`). {bold} Headroom: "
        f"100 minus the jittered boxes' value. The paper's rows are on COCO val2017, ours on "
        f"the set named.",
        reached,
    )


def _what_changes(res: Results, row: str, parent: str) -> str:
    changed = res.params.changed(row, parent)
    return "; ".join(f"{k}: {a} → {b}" for k, (a, b) in changed.items()) or "evaluation only"


def ablation_table(res: Results, frame) -> Any:
    """Every row against its parent (``comparisons``), in points: what it changes, the
    differences (shaded green where decided better, red where decided worse; ``·`` inconclusive;
    ``n.j.`` not judged), each rounded once, and the seeds behind each side. A buffer ablation has
    a second line on the cases every buffer of the pair can reach."""
    import pandas as pd

    keys = list(res.keys)
    rows, index, shade = [], [], {}
    for kind in ("ablation", "reachable"):
        for (row, parent), t in lines_of(frame, res.eval_set, kind).groupby(["row", "parent"], sort=False):
            t = t.set_index("metric")
            label = row if kind == "ablation" else f"{row}, {t['note'].iloc[0].split(';')[0]}"
            cells = []
            for k in keys:
                verdict = t.loc[k, "verdict"]
                cells.append(signed(t.loc[k, "difference"]) + MARK.get(verdict, ""))
                if verdict in SHADE:
                    shade[(label, metrics.label(k))] = verdict
            rows.append(
                [
                    parent,
                    _what_changes(res, row, parent),
                    *cells,
                    f"{int(t['seeds_row'].iloc[0])} / {int(t['seeds_parent'].iloc[0])}",
                ]
            )
            index.append(label)
    order = sorted(
        range(len(index)),
        key=lambda i: (
            index[i].split(",")[0] not in res.names,
            res.names.index(index[i].split(",")[0]),
            i,
        ),
    )
    table_ = pd.DataFrame(
        [rows[i] for i in order],
        index=[index[i] for i in order],
        columns=["against", "what changes", *columns(keys), "seeds"],
    )
    family = int(frame[(frame["set"] == res.eval_set) & (frame["kind"] != "two_budgets")]["p"].notna().sum())
    return styled(
        table_,
        f"Points: the row's mean over its seeds minus its parent's, paired over the same boxes "
        f"and draws. Green: decided better; red: decided worse ({CORRECTION}-adjusted p < 0.05 "
        f"over the {family} tests of this set: every line of comparisons.csv for it); ·: "
        f"inconclusive; n.j.: not judged. The interval of each difference adds the "
        f"photographs' and the seeds' variance (docs/statistics.md). Seeds: the row's / the "
        f"parent's.",
        shade,
        text=["against", "what changes"],
    )


def mdd_table(res: Results, frame) -> Any:
    """Per metric, the smallest difference between two trained rows this set could decide with 80%
    power at the study's seeds: the median over the ablations of trained rows (and its range)."""
    import pandas as pd

    t = lines_of(frame, res.eval_set, "ablation")
    trained = [n for n in t["row"].unique() if res.params[n].trained]
    t = t[t["row"].isin(trained)]
    if t.empty:
        return None
    g = t.groupby("metric", sort=False)["mdd"]
    lo, hi = int(t["seeds_row"].min()), int(t["seeds_row"].max())
    seeds = f"{lo}" if lo == hi else f"{lo} to {hi}"
    cells = {
        metrics.label(k): [f"{g.median()[k]:.1f}", f"{g.min()[k]:.1f} to {g.max()[k]:.1f}"]
        for k in res.keys
        if k in g.median()
    }
    return styled(
        pd.DataFrame(cells, index=["median", "range"]),
        f"The minimum detectable difference (points) between a trained row and its parent on "
        f"{res.eval_set}, at 80% power and Bonferroni's level over the family (the strictest step "
        f"of {CORRECTION}'s), at the study's seeds ({seeds} per row): an inconclusive difference "
        f"smaller than this is one the data could not have seen.",
    )


def table1(results: dict[str, Results]) -> Any:
    """The paper's Table 1 layout (percent): the paper's rows, then ours per evaluation set (the
    test set first), the 95% interval (photographs and seeds) under each value; bold: the best model
    row per set and column (never a baseline)."""
    import pandas as pd

    keys = list(metrics.metric_keys())
    rows, index, shade = [], [], {}
    for name in PAPER_ROWS:
        index.append(("paper, COCO val2017", name))
        rows.append([f"{metrics.metric(k).paper[name]:.1f}" for k in keys])
    for res in results.values():
        section = f"ours, {res.eval_set} ({res.role}): {res.n_boxes} boxes x {res.repeats} draws"
        t = metric_table(res).set_index(["row", "metric"])
        for k, col in zip(keys, columns(keys)):
            models = res.models
            if models:
                sign = metrics.metric(k).better_sign
                top = max(sign * pct(t.loc[(n, k), "value"]) for n in models)
                shade |= {
                    ((section, row_label(n)), col): "better"
                    for n in models
                    if sign * pct(t.loc[(n, k), "value"]) == top
                }
        for name in res.names:
            index.append((section, row_label(name)))
            rows.append(
                [
                    f"{pct(t.loc[(name, k), 'value']):.1f}"
                    + SMALL.format(f"{pct(t.loc[(name, k), 'lo']):.1f} to {pct(t.loc[(name, k), 'hi']):.1f}")
                    for k in keys
                ]
            )
    frame = pd.DataFrame(
        rows, columns=columns(keys), index=pd.MultiIndex.from_tuples(index)
    )  # no header over the index
    return styled(
        frame,
        "Percent, each of our rows the mean over its seeds; under each value its 95% interval "
        "(photographs resampled, the seeds' variance added); bold: the best of our model rows in "
        "the column, per set.",
        shade,
    )


def summary(results: dict[str, Results]) -> Any:
    """Tidy: one row per (row of the study, evaluation set), every metric in percent (``pct``)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "row": name,
                "set": res.eval_set,
                "role": res.role,
                **{k: pct(res.value(name, k)) for k in res.keys},
                "seeds": len(res.seeds[name]),
                "n_boxes": res.n_boxes,
                "draws": res.repeats,
            }
            for res in results.values()
            for name in res.names
        ]
    )


def summary_markdown(frame) -> str:
    """``summary`` as one Markdown table per set (what reports/summary.md and the README show)."""
    keys = [k for k in metrics.metric_keys() if k in frame]
    parts = []
    for s, part in frame.groupby("set", sort=False):
        t = part.set_index("row")
        head = "| row | seeds | " + " | ".join(columns(keys)) + " |\n|---|---:|" + "---:|" * len(keys) + "\n"
        body = "".join(
            f"| {row} | {int(t.loc[row, 'seeds'])} | " + " | ".join(f"{t.loc[row, k]:.1f}" for k in keys) + " |\n"
            for row in t.index
        )
        parts.append(
            f"**{s}** ({part.role.iloc[0]} set; {int(part.n_boxes.iloc[0])} boxes x "
            f"{int(part.draws.iloc[0])} jitter draws, percent, each row the mean over its "
            f"seeds)\n\n"
            f"{head}{body}"
        )
    return "\n".join(parts)


def write_summary(results: dict[str, Results], out_dir: str | Path = "reports") -> Any:
    """``summary.csv`` (read by ``dvc plots show``) and ``summary.md`` in ``out_dir``."""
    from ..util.outputs import write_text

    frame = summary(results)
    out = Path(out_dir)
    write_text(out / "summary.csv", frame.to_csv(index=False))
    write_text(
        out / "summary.md",
        "# Every row of the study, in percent\n\nWritten by the report stage from "
        "`reports/per_box/`; `reports/report.html` has the intervals, `comparisons.csv` every "
        "comparison.\n\n" + summary_markdown(frame),
    )
    return frame


def headline_markdown(styler) -> str:
    """The main result (``headline``'s Styler) as a Markdown table (what the README shows): each
    cell as the report's ``headline`` rounds it, its interval in brackets."""
    frame = styler.data

    def plain(cell: str) -> str:
        value, _, small = cell.partition("<br>")
        return f"{value} [{re.sub('<[^>]+>', '', small)}]" if small else value

    head = "| | " + " | ".join(frame.columns) + " |\n|---|" + "---:|" * len(frame.columns) + "\n"
    body = "".join(f"| {row} | " + " | ".join(plain(cell) for cell in frame.loc[row]) + " |\n" for row in frame.index)
    return head + body

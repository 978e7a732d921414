"""The report's tables, each number rounded once from its raw value (``pct``, ``pts``): the
main result against the paper, the ablations against their parents, Table 1, and the tidy
summary of every row (``reports/summary.csv``/``.md``, ``reports/headline.md``, which the README links) that agrees
with them cell for cell."""
from __future__ import annotations

import re

from pathlib import Path
from typing import Any

import numpy as np

from ..scoring.metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1, pct
from ..core.params import BASELINES, GRABCUT, IDENTITY
from .results import Results, metric_table
from .stats import comparisons, paired_difference, representative

PAPER_IDENTITY, PAPER_SNAPPER = "jittered COCO", "jittered COCO + Snapper"
PAPER = {"identity": dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY])),
         "snapper": dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))}
PAPER_GAIN = {k: PAPER["snapper"][k] - PAPER["identity"][k] for k in METRIC_KEYS}  # points
AIM = {k: PAPER_GAIN[k] / 2 for k in METRIC_KEYS}  # half the paper's gain, points
ROW_NAMES = {IDENTITY: "jittered boxes (identity)", GRABCUT: "GrabCut (OpenCV)"}
COLUMNS = [METRIC_LABELS[k] for k in METRIC_KEYS]
SMALL = '<br><span style="font-size:75%;color:#666">{}</span>'
TABLE_CSS = [
    {"selector": "td", "props": "text-align:right;padding:2px 8px;white-space:nowrap;line-height:1.15"},
    {"selector": "th", "props": "padding:2px 8px;white-space:nowrap"},
    {"selector": "th.row_heading", "props": "text-align:left"},
    {"selector": "caption", "props": "caption-side:bottom;text-align:left;color:#555;font-size:85%"},
]


def pts(d: float) -> str:
    """A difference of fractions in signed points, rounded once."""
    return f"{pct(d):+.1f}"


def row_label(name: str) -> str:
    return ROW_NAMES.get(name, name)


def styled(frame, caption: str, bold: set | None = None, text: list[str] | None = None):
    """A Styler of string cells, ``bold`` ({(row, column)}) in bold, the ``text`` columns
    left-aligned and wrapped (the numbers stay right-aligned)."""
    bold = bold or set()

    def weight(data):
        return data.apply(lambda col: [("font-weight:bold;background:#eef6ee" if (r, col.name) in bold else "")
                                       for r in col.index])

    out = frame.style.apply(weight, axis=None).set_caption(caption).set_table_styles(TABLE_CSS)
    # long text (the long tier's weights paths) wraps in its cell rather than widening the table past the
    # page; per column (``#T td.colN``), so that it outranks TABLE_CSS's ``#T td``
    wrap = [{"selector": "td", "props": "text-align:left;white-space:normal;max-width:28em;overflow-wrap:anywhere"}]
    return out.set_table_styles({c: wrap for c in text}, overwrite=False) if text else out


def headline(res: Results, best: str) -> Any:
    """The main result on a real-photo set: the paper's two rows and its gain, ours (identity, the
    best model) and our gain with its interval, the aim (half the paper's gain) and our share of
    the paper's gain."""
    import pandas as pd

    d = paired_difference(res, best, IDENTITY)
    rows = {
        "paper: jittered COCO val2017": [f"{PAPER['identity'][k]:.1f}" for k in METRIC_KEYS],
        "paper: + Snapper": [f"{PAPER['snapper'][k]:.1f}" for k in METRIC_KEYS],
        "paper: gain": [f"{PAPER_GAIN[k]:+.1f}" for k in METRIC_KEYS],
        f"ours: jittered boxes, {res.eval_set}": [f"{pct(res.value(IDENTITY, k)):.1f}" for k in METRIC_KEYS],
        f"ours: + {best}": [f"{pct(res.value(best, k)):.1f}" for k in METRIC_KEYS],
        "ours: gain [95% interval]": [pts(d.loc[k, "diff"]) + SMALL.format(f"{pts(d.loc[k, 'lo'])} to {pts(d.loc[k, 'hi'])}")
                                      for k in METRIC_KEYS],
        "aim: half the paper's gain": [f"{AIM[k]:+.1f}" for k in METRIC_KEYS],
        "ours / paper's gain": [f"{pct(d.loc[k, 'diff']) / PAPER_GAIN[k]:.2f}" for k in METRIC_KEYS],
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
    reached = {(f"ours: gain [95% interval]", METRIC_LABELS[k]) for k in METRIC_KEYS
               if d.loc[k, "real"] and pct(d.loc[k, "diff"]) >= AIM[k]}
    bold = ("Bold: a gain that is real (beyond its interval and the training noise) and reaches the aim." if reached
            else "No gain is both real (beyond its interval and the training noise) and at the aim, so none is bold.")
    return styled(frame, f"Percent; gains in points. {bold} The paper's rows are on COCO val2017, ours on the set named.",
                  reached)


def ablation_table(res: Results) -> Any:
    """Every row against its parent (stats.parent), in points: what it changes, the six
    differences (``·`` within the interval or the training noise; ``n.j.`` not judged: no reruns
    of either recipe), and where the noise bound comes from."""
    import pandas as pd

    rows, index, bold = [], [], set()
    for name, parent in comparisons(res):
        if parent == IDENTITY:
            continue
        d = paired_difference(res, name, parent)
        changed = res.params.changed(name, parent)
        what = "; ".join(f"{k}: {a} → {b}" for k, (a, b) in changed.items()) or "evaluation only"
        cells = []
        for k, col in zip(METRIC_KEYS, COLUMNS):
            mark = "" if d.loc[k, "real"] else " ·" if d.loc[k, "judged"] else " n.j."
            cells.append(pts(d.loc[k, "diff"]) + mark)
            if d.loc[k, "real"]:
                bold.add((name, col))
        noise = d["noise_from"].iloc[0]
        rows.append([parent, what, *cells, f"reruns of {noise}" if noise else
                     ("one model" if d["judged"].all() else "no reruns: not judged")])
        index.append(name)
    frame = pd.DataFrame(rows, index=index, columns=["against", "what changes", *COLUMNS, "noise"])
    return styled(frame, "Points, row minus the row it is compared with, paired over the same boxes and draws. "
                         "Bold: a real difference (its 95% interval excludes 0 and it is larger than the training "
                         "noise); ·: not real; n.j.: not judged (no reruns of either recipe).", bold,
                  text=["against", "what changes", "noise"])


def table1(results: dict[str, Results]) -> Any:
    """The paper's Table 1 layout (percent): the paper's rows, then ours per evaluation set (real
    photographs first), the 95% interval under each value; bold: the best model row per set and
    column (never a baseline)."""
    import pandas as pd

    rows, index, bold = [], [], set()
    for name, vals in PAPER_TABLE1.items():
        index.append(("paper, COCO val2017", name))
        rows.append([f"{v:.1f}" for v in vals])
    for res in results.values():
        section = f"ours, {res.eval_set}: {res.n_boxes} boxes x {res.repeats} draws"
        t = metric_table(res).set_index(["row", "metric"])
        shown = [n for n in res.names if n in BASELINES or representative(res.params, n) == n]
        for k, col in zip(METRIC_KEYS, COLUMNS):
            models = [n for n in shown if n not in BASELINES]
            if models:
                top = max(pct(t.loc[(n, k), "value"]) for n in models)
                bold |= {((section, row_label(n)), col) for n in models if pct(t.loc[(n, k), "value"]) == top}
        for name in shown:
            index.append((section, row_label(name)))
            rows.append([f"{pct(t.loc[(name, k), 'value']):.1f}"
                         + SMALL.format(f"{pct(t.loc[(name, k), 'lo']):.1f} to {pct(t.loc[(name, k), 'hi']):.1f}")
                         for k in METRIC_KEYS])
    frame = pd.DataFrame(rows, columns=COLUMNS, index=pd.MultiIndex.from_tuples(index))  # no header over the index
    return styled(frame, "Percent; under each of our values its 95% bootstrap interval over boxes; bold: the best "
                         "of our model rows in the column, per set (the reruns are in the appendix).", bold)


def summary(results: dict[str, Results]) -> Any:
    """Tidy: one row per (row of the study, evaluation set), the six metrics in percent (``pct``)."""
    import pandas as pd

    return pd.DataFrame([{"row": name, "set": res.eval_set, **{k: pct(res.value(name, k)) for k in METRIC_KEYS},
                          "n_boxes": res.n_boxes, "draws": res.repeats}
                         for res in results.values() for name in res.names])


def summary_markdown(frame) -> str:
    """``summary`` as one Markdown table per set (what reports/summary.md and the README show)."""
    parts = []
    for s, part in frame.groupby("set", sort=False):
        t = part.set_index("row")[list(METRIC_KEYS)]
        head = "| row | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
        body = "".join(f"| {row} | " + " | ".join(f"{v:.1f}" for v in t.loc[row]) + " |\n" for row in t.index)
        parts.append(f"**{s}** ({int(part.n_boxes.iloc[0])} boxes x {int(part.draws.iloc[0])} jitter draws, "
                     f"percent)\n\n{head}{body}")
    return "\n".join(parts)


def write_summary(results: dict[str, Results], out_dir: str | Path = "reports") -> Any:
    """``summary.csv`` (read by ``dvc plots show``) and ``summary.md`` in ``out_dir``."""
    from ..util.outputs import write_text

    frame = summary(results)
    out = Path(out_dir)
    write_text(out / "summary.csv", frame.to_csv(index=False))
    write_text(out / "summary.md", "# Every row of the study, in percent\n\nWritten by the report stage from "
               "`reports/metrics/` and `reports/per_box/`; `reports/report.html` has the intervals.\n\n"
               + summary_markdown(frame))
    return frame


def headline_markdown(res: Results, best: str) -> str:
    """The main result as a Markdown table (what the README shows): the paper's rows and gain,
    ours, our gain (its interval in brackets) and the aim, each cell as the report's ``headline``
    rounds it."""
    frame = headline(res, best).data

    def plain(cell: str) -> str:
        value, _, small = cell.partition("<br>")
        return f"{value} [{re.sub('<[^>]+>', '', small)}]" if small else value

    head = "| | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    body = "".join(f"| {row} | " + " | ".join(plain(cell) for cell in frame.loc[row]) + " |\n"
                   for row in frame.index)
    return head + body


def share_of_paper(res: Results, name: str) -> np.ndarray:
    """Per metric, ``name``'s gain over identity as a share of the paper's Snapper gain."""
    d = paired_difference(res, name, IDENTITY)
    return np.array([pct(d.loc[k, "diff"]) / PAPER_GAIN[k] for k in METRIC_KEYS])

"""The report's tables as a reader sees them: Table 1 with each interval on its own small line,
the gains over identity, the best value per column in bold; and the tidy summary of every row
(``reports/summary.csv`` and ``.md``) that DVC's plots and a reader without the report use."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metrics import METRIC_KEYS, METRIC_LABELS, PAPER_TABLE1
from .experiments import BASELINES, IDENTITY
from .stats import PAPER_IDENTITY, PAPER_SNAPPER, ROW_NAMES, Results, _pts, paired_difference

CELL = '{main}<br><span style="font-size:75%;color:#666">{small}</span>'
TABLE_CSS = [
    {"selector": "td", "props": "text-align:right;padding:2px 8px;white-space:nowrap;line-height:1.15"},
    {"selector": "th", "props": "padding:2px 8px;white-space:nowrap"},
    {"selector": "th.row_heading", "props": "text-align:left"},
]


def _row_label(name: str) -> str:
    return ROW_NAMES.get(name, name)


def _styled(frame, best: set, caption: str):
    """A Styler of string cells with ``best`` ({(row, column)}) in bold."""
    def bold(data):
        return data.apply(lambda col: [("font-weight:bold;background:#eef6ee" if (r, col.name) in best else "")
                                       for r in col.index])

    return (frame.style.apply(bold, axis=None).set_caption(caption).set_table_styles(TABLE_CSS))


def table1(results: dict[str, Results]):
    """The paper's Table 1 layout (percent): the paper's rows, then ours per evaluation set with
    the 95% interval under each value; the best of our rows per set and column in bold."""
    import pandas as pd

    cols = [METRIC_LABELS[k] for k in METRIC_KEYS]
    rows, index, best = [], [], set()
    for name, vals in PAPER_TABLE1.items():
        index.append(("paper, COCO val2017", name))
        rows.append([f"{v:.1f}" for v in vals])
    for res in results.values():
        section = f"ours, {res.eval_set}: {res.n_boxes} boxes x {res.repeats} draws"
        t = res.table.set_index(["experiment", "metric"])
        for k, col in zip(METRIC_KEYS, cols):
            top = max(res.names, key=lambda n: t.loc[(n, k), "value"])
            best.add(((section, _row_label(top)), col))
        for name in res.names:
            index.append((section, _row_label(name)))
            rows.append([CELL.format(main=f"{100 * t.loc[(name, k), 'value']:.1f}",
                                     small=f"{100 * t.loc[(name, k), 'lo']:.1f} to {100 * t.loc[(name, k), 'hi']:.1f}")
                         for k in METRIC_KEYS])
    frame = pd.DataFrame(rows, columns=cols, index=pd.MultiIndex.from_tuples(index, names=["source", "row"]))
    return _styled(frame, best, "Percent; under each of our values its 95% bootstrap interval over boxes; "
                                "bold: the best of our rows in the column, per set.")


def gains_over_identity(results: dict[str, Results]):
    """Every row minus the identity row of its set, in points, with the paired 95% interval:
    the one view that compares across sets, whose identity rows differ. The paper's Snapper gain
    is the first row; the largest gain per set and column in bold."""
    import pandas as pd

    cols = [METRIC_LABELS[k] for k in METRIC_KEYS]
    paper = [s - i for s, i in zip(PAPER_TABLE1[PAPER_SNAPPER], PAPER_TABLE1[PAPER_IDENTITY])]
    rows, index, best = [[f"{v:+.1f}" for v in paper]], [("paper, COCO val2017", "Snapper")], set()
    for res in results.values():
        section = f"ours, {res.eval_set}"
        diffs = {n: paired_difference(res, n, IDENTITY) for n in res.names if n != IDENTITY}
        for k, col in zip(METRIC_KEYS, cols):
            top = max(diffs, key=lambda n: diffs[n].loc[k, "diff"])
            best.add(((section, _row_label(top)), col))
        for name, d in diffs.items():
            index.append((section, _row_label(name)))
            rows.append([CELL.format(main=_pts(d.loc[k, "diff"]) + ("" if d.loc[k, "real"] else " ·"),
                                     small=f"{_pts(d.loc[k, 'lo'])} to {_pts(d.loc[k, 'hi'])}")
                         for k in METRIC_KEYS])
    frame = pd.DataFrame(rows, columns=cols, index=pd.MultiIndex.from_tuples(index, names=["source", "row"]))
    return _styled(frame, best, "Points over the identity row of the same set, paired over boxes and draws, "
                                "with the 95% interval; '·': not a real gain or loss by the report's rule "
                                "(within the interval or the seed noise); bold: the largest gain per set.")


def summary(results: dict[str, Results]) -> Any:
    """Tidy: one row per (row of the study, evaluation set), the six metrics in percent."""
    import pandas as pd

    rows = []
    for res in results.values():
        for name in res.names:
            rows.append({"row": name, "set": res.eval_set, "label": f"{res.eval_set}: {name}",
                         "kind": "baseline" if name in BASELINES else "model",
                         **{k: round(100 * res.value(name, k), 2) for k in METRIC_KEYS},
                         "n_boxes": res.n_boxes, "draws": res.repeats})
    return pd.DataFrame(rows)


def write_summary(results: dict[str, Results], out_dir: str | Path = "reports") -> Any:
    """``out_dir/summary.csv`` (read by ``dvc plots show``) and ``out_dir/summary.md`` (a table
    per set: rows of the study, metric columns, percent)."""
    frame = summary(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "summary.csv", index=False)
    parts = ["# Every row of the study, in percent\n\n",
             "Written by the report stage from `reports/metrics/` (one row per experiment of `params.yaml`, "
             "the identity row and GrabCut); the report, `reports/report.html`, has the intervals.\n"]
    for s, part in frame.groupby("set", sort=False):
        t = part.set_index("row")[list(METRIC_KEYS)].rename(columns=METRIC_LABELS)
        parts.append(f"\n## {s} ({int(part.n_boxes.iloc[0])} boxes x {int(part.draws.iloc[0])} draws)\n\n"
                     + t.to_markdown(floatfmt=".1f") + "\n")
    (out / "summary.md").write_text("".join(parts))
    return frame

"""`dvc exp show --csv` as a table that fits the terminal: `make exp-show` pipes DVC's CSV here.

DVC names a metric column by its file when several files hold the same key, so the study's columns
are `reports/metrics/<row>/<set>.json:miou` (38 characters) and `dvc exp show` at 120 columns
shows one of them and `…`. This script keeps DVC's selection (`--only-changed`, `--drop`,
`--keep`: the params that differ, the metrics asked for) and only shortens the names:
`reports/metrics/fpn/coco128.json:miou` -> `fpn miou` (`fpn/<set> miou` when there are several sets),
`rows.fpn.train.lr` -> `fpn: train.lr`. Columns that do not fit the width ($COLUMNS, or --width)
go to a second table, each table led by the experiment's name. Standard library only.

    dvc exp show --csv --only-changed --drop '.*/|data$' --keep '...' | python scripts/exp_table.py
"""

import argparse
import csv
import os
import re
import shutil
import sys

METRIC = re.compile(r"^reports/metrics/(?P<row>[^/]+)/(?P<set>[^/]+)\.json:(?P<key>.+)$")
DVC_COLUMNS = ("Experiment", "rev", "typ", "Created", "parent", "State", "Executor")


def short_names(header: list[str]) -> list[str]:
    sets = {m["set"] for h in header if (m := METRIC.match(h))}
    out = []
    for h in header:
        if m := METRIC.match(h):
            out.append(f"{m['row']}{'/' + m['set'] if len(sets) > 1 else ''} {m['key']}")
        elif h.startswith("rows.") and h.count(".") >= 2:
            row, key = h[len("rows.") :].split(".", 1)
            out.append(f"{row}: {key}")
        else:
            out.append(h)
    return out


def experiment_name(rec: dict) -> str:
    """workspace / the branch or commit, then its experiments indented: `  a1b2c3d [name]`."""
    name, rev = rec.get("Experiment", ""), rec.get("rev", "")
    rev = rev[:7] if re.fullmatch(r"[0-9a-f]{8,40}", rev) else rev
    if rec.get("typ", "baseline") == "baseline":  # --only-changed drops typ when every row is a baseline
        return rev
    return f"  {rev} [{name}]" if name else f"  {rev}"


def cell(value: str, metric: bool) -> str:
    """A metric (percent) to one decimal, a param as DVC wrote it, nothing as `-`."""
    if value == "":
        return "-"
    if metric:
        try:
            return f"{float(value):.1f}"
        except ValueError:
            pass
    return value


def tables(rows: list[list[str]], width: int) -> list[str]:
    """Columns left to right, as many per table as fit ``width``, the first column in each."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    chunks, cur, used = [], [], widths[0]
    for i in range(1, len(widths)):
        if cur and used + 2 + widths[i] > width:
            chunks.append(cur)
            cur, used = [], widths[0]
        cur.append(i)
        used += 2 + widths[i]
    chunks.append(cur)
    out = []
    for chunk in chunks:
        if out:
            out.append("")
        for n, r in enumerate(rows):
            cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in chunk]
            out.append("  ".join(cells).rstrip()[:width])
            if n == 0:
                out.append("-" * min(width, len("  ".join(cells).rstrip())))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=None, help="default: $COLUMNS or the terminal's width")
    args = ap.parse_args(argv)
    width = args.width or int(os.environ.get("COLUMNS") or shutil.get_terminal_size((120, 24)).columns)
    records = list(csv.DictReader(sys.stdin))
    if not records:
        print("no experiments")
        return 0
    keys = [k for k in records[0] if k not in DVC_COLUMNS]
    # the params that differ first, then the metrics (DVC's order within each)
    keys = [k for k in keys if not METRIC.match(k)] + [k for k in keys if METRIC.match(k)]
    header = ["experiment"] + short_names(keys)
    rows = [header] + [[experiment_name(r)] + [cell(r[k], bool(METRIC.match(k))) for k in keys] for r in records]
    print("\n".join(tables(rows, width)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

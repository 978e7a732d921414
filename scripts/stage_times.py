"""Where the last `dvc repro` of a tier spent its time, from the files it committed: each stage's
executed notebook (papermill's duration: kernel start to last cell) and the work inside it (the
run.json beside its outputs: training, or scoring); the difference is the notebook's own cost
(kernel start, imports, reading params, writing outputs). Prints a markdown table.

    .venv/bin/python scripts/stage_times.py [--tier long]
"""

import argparse
import json
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--tier", choices=["default", "long"], default="default")
args = ap.parse_args()
reports = Path("reports") if args.tier == "default" else Path("reports/long")
work_of = {"train": reports / "train", "evaluate": reports / "per_box"}

rows, totals = [], {}
for nb in sorted((reports / "notebooks").glob("*.ipynb")) + [reports / "report.ipynb"]:
    duration = json.loads(nb.read_text())["metadata"].get("papermill", {}).get("duration")
    if duration is None:
        continue
    kind, _, row = nb.stem.partition("-")
    run = work_of[kind] / row / "run.json" if kind in work_of else None
    work = json.loads(run.read_text())["seconds"] if run and run.exists() else None
    rows.append((nb.stem, duration, work))
    total = totals.setdefault(kind if kind in work_of else nb.stem, [0.0, 0.0, 0])
    total[0] += duration
    total[1] += work or 0.0
    total[2] += 1

print("| stage | notebook s | work inside s | notebook's own s |")
print("|---|---|---|---|")
for name, duration, work in rows:
    inside = f"{work:.1f}" if work is not None else "-"
    own = f"{duration - work:.1f}" if work is not None else "-"
    print(f"| {name} | {duration:.1f} | {inside} | {own} |")
for kind, (duration, work, n) in totals.items():
    if kind in work_of:
        print(f"| **{kind}, {n} stages** | **{duration:.0f}** | **{work:.0f}** | **{duration - work:.0f}** |")
print(f"| **every notebook** | **{sum(t[0] for t in totals.values()):.0f}** | | |")

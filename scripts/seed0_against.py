"""Whether each row's seed 0 scores the same boxes as a git revision's one-seed study did: the adjusted
boxes of reports/per_box/<row>/<set>.csv's seed-0 lines against that revision's file, bit for bit.

    .venv/bin/python scripts/seed0_against.py 16828d0 [--set coco128]

A check that an edit changed no number (issue "One answer to which code trains"): the seeds after
seed 0 are new trainings, seed 0 is the training the earlier study made.
"""

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

ap = argparse.ArgumentParser()
ap.add_argument("rev", help="the git revision whose committed per-box files to compare with")
ap.add_argument("--set", default="coco128", help="the evaluation set (default: coco128)")
args = ap.parse_args()
for folder in sorted(Path("reports/per_box").iterdir()):
    path = f"reports/per_box/{folder.name}/{args.set}.csv"
    shown = subprocess.run(["git", "show", f"{args.rev}:{path}"], capture_output=True, text=True)
    if shown.returncode or not Path(path).exists():
        print(f"{folder.name:14s} not in both")
        continue
    old, new = pd.read_csv(io.StringIO(shown.stdout)), pd.read_csv(path)
    new0 = new[new["seed"] == 0] if "seed" in new else new
    cols = [c for c in old.columns if c.startswith("adj_")]
    same = len(old) == len(new0) and np.array_equal(old[cols].to_numpy(), new0[cols].to_numpy(), equal_nan=True)
    print(
        f"{folder.name:14s} {len(new0)} lines of seed 0, seeds {sorted(set(new.get('seed', [0])))}: "
        f"{'the same boxes' if same else 'DIFFERENT'}"
    )

"""One row's scoring stage without its notebook, into a scratch folder: every seed of the row's models
(runs/<row>/seed<k>/model.pt, from `make repro` or `dvc checkout`) on every set of eval.sets, as
`bbadj stage evaluate <row>` scores them; prints the seconds it took and whether its metric files are
the committed ones (reports/metrics/<row>/), byte for byte. Time it from outside with farm-bench, one
revision against another (docs/benchmarks.md, "Scoring a row"):

    .venv/bin/python scripts/score_row.py /tmp/scored [--row l4]
"""

import argparse
import filecmp
import time
from pathlib import Path

from bbadj.core.params import Params
from bbadj.study.evaluate_stage import evaluate_row

ap = argparse.ArgumentParser()
ap.add_argument("out", type=Path, help="a scratch folder: metrics/ and per_box/ are written under it")
ap.add_argument("--row", default="l4", help="a trained row of params.yaml (default: l4)")
args = ap.parse_args()

params = Params.load("params.yaml")
started = time.perf_counter()
evaluate_row(params, args.row, metrics_dir=args.out / "metrics", per_box_dir=args.out / "per_box")
print(f"{args.row}: scored in {time.perf_counter() - started:.1f} s")
for made in sorted((args.out / "metrics" / args.row).glob("*.json")):
    committed = Path("reports/metrics") / args.row / made.name
    same = committed.exists() and filecmp.cmp(made, committed, shallow=False)
    print(f"  {made.name}: {'the committed bytes' if same else 'differs from ' + str(committed)}")

"""The committed reports/ hold outputs of today's rows only: a row removed from params.yaml leaves
no tracked metric file, training curve, executed notebook or per-box file behind, and no metric
file of the old layout (reports/metrics/<row>.json, before reports/metrics/<row>/<set>.json) stays."""

import re
import subprocess
from pathlib import Path

import pytest

from bbadj.core.params import Params

ROOT = Path(__file__).resolve().parents[1]
# a row's tracked outputs, by where they live (dvc.yaml)
OLD_LAYOUT = re.compile(r"^reports/metrics/[^/]+\.json$")  # no stage writes there any more
ROW_OUTPUTS = [
    re.compile(p)
    for p in (
        r"^reports/metrics/(?P<row>[^/]+)/",
        r"^reports/train/(?P<row>[^/]+)/",
        r"^reports/notebooks/(train|evaluate)-(?P<row>[^/]+)\.ipynb$",
        r"^reports/per_box/(?P<row>[^/]+)(/|\.dvc$)",
    )
]


def stale_outputs(tracked: list[str], rows: set[str]) -> list[str]:
    """The paths of ``tracked`` that are outputs of a row not in ``rows``."""
    out = []
    for path in tracked:
        if OLD_LAYOUT.match(path):
            out.append(path)
            continue
        for pattern in ROW_OUTPUTS:
            m = pattern.match(path)
            if m and m["row"] not in rows:
                out.append(path)
                break
    return out


def test_stale_outputs_finds_each_kind():
    tracked = [
        "reports/metrics/l4/coco128.json",
        "reports/metrics/old/coco128.json",
        "reports/metrics/l4.json",
        "reports/train/old/metrics.json",
        "reports/notebooks/evaluate-old.ipynb",
        "reports/notebooks/train-l4.ipynb",
        "reports/per_box/old/coco128.csv",
        "reports/summary.md",
        "reports/benchmarks/crops_s64_cpu.json",
        "reports/notebooks/.gitignore",
    ]
    assert stale_outputs(tracked, {"l4", "identity"}) == [
        "reports/metrics/old/coco128.json",
        "reports/metrics/l4.json",
        "reports/train/old/metrics.json",
        "reports/notebooks/evaluate-old.ipynb",
        "reports/per_box/old/coco128.csv",
    ]


def test_reports_hold_no_outputs_of_removed_rows():
    proc = subprocess.run(["git", "ls-files", "reports/"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("needs the repository's git checkout")
    stale = stale_outputs(proc.stdout.splitlines(), set(Params.load(ROOT / "params.yaml").names()))
    assert not stale, (
        f"{len(stale)} tracked files in reports/ belong to rows no longer in params.yaml "
        f"or to the old layout (git rm them; `dvc repro` writes today's): {stale[:10]}"
    )

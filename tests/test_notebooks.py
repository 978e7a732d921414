"""Every notebook of the study runs under nbval, with small parameters.

nbval runs a notebook as it is written, and the committed notebooks default to the full study
(hundreds of training steps). So each notebook is first parameterised the way the DVC stages do
it, with papermill (``prepare_only``: the ``parameters`` cell gets an injected cell after it and
nothing is executed), pointing at a tiny synthetic set and a tiny params file; then nbval
executes the prepared copies in one pytest run (``--nbval-lax``: every cell must run without an
error; outputs are not compared, since the committed notebooks carry none).

The prepared copies sit in ``<workspace>/notebooks/`` and nbval starts each kernel there, as
JupyterLab does for a notebook opened by hand: the notebooks must find the study's root
(the folder with ``params.yaml``) themselves.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from bbadj.scoring.metrics import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def tiny_params(root: Path, rows: dict, eval_only: dict) -> dict:
    """The repo's params.yaml with data under ``root`` and a few-step recipe."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["data"].update(
        train_annotations=str(root / "train" / "annotations.json"),
        train_images=str(root / "train" / "images"),
        crop_size=32,
        num_workers=0,
    )
    p["model"].update(hidden=32)
    p["train"].update(batch_size=8, max_steps=3, warmup_steps=1, log_every=1, checkpoint_every=2, device="cpu")
    p["eval"].update(
        repeats=2,
        device="cpu",
        sets={"synth": {"annotations": str(root / "val" / "annotations.json"), "images": str(root / "val" / "images")}},
    )
    p["rows"], p["eval_only"], p["finetune"] = rows, eval_only, {}
    p["study"].update(bootstrap=50, gallery=4, seeds=1)
    return p


def test_committed_notebooks_are_clean_and_parameterised():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["evaluate.ipynb", "report.ipynb", "snap.ipynb", "train.ipynb"]
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any("parameters" in c.metadata.get("tags", []) for c in code), f"{path.name}: no parameters cell"
        for c in code:
            assert not c.outputs and c.execution_count is None, f"{path.name}: commit it without outputs"


@pytest.mark.slow
def test_notebooks_run_under_nbval(tiny_synth, tmp_path):
    import papermill as pm

    ws = tmp_path
    params = tiny_params(tiny_synth, {"l4": {}}, {"l4_argmax": {"from": "l4", "eval": {"decoding": "argmax"}}})
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # snap.ipynb runs headless here (its widgets are built, nothing is drawn: tests/test_snap_notebook.py
    # draws in a browser), first with no model trained (it says which command trains them), then with l4's
    (ws / "data").mkdir()
    (ws / "data" / "coco128").symlink_to(ROOT / "data" / "coco128", target_is_directory=True)  # its photographs
    runs = [
        ("snap", "snap-untrained", {}),
        ("train", "train-l4", {"row": "l4"}),
        ("evaluate", "evaluate-identity", {"row": "identity"}),
        ("evaluate", "evaluate-grabcut", {"row": "grabcut"}),
        ("evaluate", "evaluate-l4", {"row": "l4"}),
        ("evaluate", "evaluate-l4_argmax", {"row": "l4_argmax"}),
        ("snap", "snap-l4", {}),
        ("report", "report", {"n_boot": 50}),
    ]
    (ws / "notebooks").mkdir()
    prepared = []
    for nb, out, parameters in runs:
        path = ws / "notebooks" / f"{out}.ipynb"  # the kernel starts in notebooks/, as in JupyterLab
        pm.execute_notebook(
            str(NOTEBOOKS / f"{nb}.ipynb"),
            str(path),
            parameters=parameters,
            prepare_only=True,
            progress_bar=False,
            log_output=False,
        )
        prepared.append(path.name)
    env = {**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-cell-timeout",
            "600",
            *prepared,
        ],
        cwd=ws / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    identity = json.loads((ws / "reports" / "metrics" / "identity" / "synth.json").read_text())
    for name in ("grabcut", "l4", "l4_argmax"):
        result = json.loads((ws / "reports" / "metrics" / name / "synth.json").read_text())
        assert set(result) == set(identity) and all(0 <= result[k] <= 100 for k in METRIC_KEYS), name
        assert result["n_seeds"] == 1 and set(result["seeds"]) == set(METRIC_KEYS), name
        assert (ws / "reports" / "per_box" / name / "synth.csv").exists()
    assert (ws / "runs" / "l4" / "seed0" / "model.pt").exists()
    assert (ws / "reports" / "train" / "l4" / "seed0" / "plots" / "metrics" / "loss.tsv").exists()

"""The DVC pipeline end to end, on a tiny parameter set, in a temporary copy of the repository.

The copy is what a fresh clone would hold (git's tracked and untracked-but-not-ignored files,
so uncommitted work is tested too), made into its own git + DVC repository. Checks: `dvc repro`
runs every stage and writes the metrics, `dvc metrics show` reads them, a second `dvc repro`
reruns nothing, and changing one row's parameter makes only that row's stages and
the report stale.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import pandas as pd

from bbadj.scoring.metrics import METRIC_KEYS
from conftest import BIN, ROOT, run, tool_env


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file() and not f.startswith(("reports/", "dvc.lock")):  # start from no results
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


@pytest.fixture(scope="module")
def env():
    if not (ROOT / ".git").exists():
        pytest.skip("needs the repository's git checkout to copy from")
    if not (BIN / "dvc").exists() or not (BIN / "papermill").exists():
        pytest.fail(f"dvc and papermill must be installed beside {sys.executable} (pip install -e '.[study]')")
    return tool_env(MPLBACKEND="Agg")


def init_repo(repo: Path, env, params: dict) -> None:
    copy_repo(repo)
    run(["git", "init", "-q"], repo, env)
    if not (repo / ".dvc" / "config").exists():
        run(["dvc", "init", "-q"], repo, env)
    run(["dvc", "config", "core.analytics", "false"], repo, env)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "tiny study"], repo, env)


def tiny(p: dict) -> dict:
    """The repository's params.yaml at a few steps and small crops."""
    p["data"].update(crop_size=32, num_workers=0)
    p["model"]["hidden"] = 32
    p["train"].update(batch_size=8, max_steps=3, warmup_steps=1, log_every=1, device="cpu")
    p["eval"].update(repeats=1, device="cpu")
    p["grabcut"].update(max_side=32, iterations=1)
    p["study"].update(bootstrap=50, gallery=2)
    return p


def md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_dvc_repro_end_to_end(tmp_path, env):
    """The default study's structure on tiny settings (training on coco128's train split, a
    finetune row, an eval-only row, identity, GrabCut, the report); then what reruns when an input
    changes, and that a new input retrains a model instead of resuming the old one."""
    repo = tmp_path / "repo"
    repo.mkdir()
    p = tiny(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["rows"] = {"l4": {}, "l4_seed1": {"train": {"seed": 1}}, "l4_linear": {"model": {"decoder": "linear"}}}
    p["finetune"] = {"l4_ft": {"from": "l4", "train": {"lr": 5.0e-4}}}
    p["eval_only"] = {"l4_argmax": {"from": "l4", "eval": {"decoding": "argmax"}}}
    init_repo(repo, env, p)

    out = run(["dvc", "repro"], repo, env)
    assert "Running stage 'report'" in out
    names = ["identity", "grabcut", "l4", "l4_seed1", "l4_linear", "l4_ft", "l4_argmax"]
    for name in names:
        m = json.loads((repo / "reports" / "metrics" / name / "coco128.json").read_text())
        assert set(m) == set(METRIC_KEYS) and all(0 <= v <= 100 for v in m.values()), name
        assert len(pd.read_csv(repo / "reports" / "per_box" / name / "coco128.csv")) == 294, name
    html = (repo / "reports" / "report.html").read_text()
    assert "coco128 (294 boxes x 1 draws" in html and "GrabCut" in html and "Main result" in html
    assert "| l4_linear |" in (repo / "reports" / "summary.md").read_text()

    # stdout only: DVC warns on stderr of the long tier's metric files, which this scratch study's
    # new rows have not (it never runs long/dvc.yaml)
    shown = json.dumps(json.loads(run(["dvc", "metrics", "show", "--json"], repo, env, stdout_only=True)))
    assert all(f"reports/metrics/{name}/coco128.json" in shown for name in names)
    table = run(["dvc", "metrics", "show"], repo, {**env, "COLUMNS": "120"}, stdout_only=True)
    assert max(len(line) for line in table.splitlines()) <= 120, table
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo, env)
    assert (tmp_path / "plots" / "index.html").exists()

    again = run(["dvc", "repro"], repo, env)
    assert "Running stage" not in again and "up to date" in again

    p["rows"]["l4_linear"]["model"]["hidden"] = 16
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    assert set(json.loads(run(["dvc", "status", "dvc.yaml", "--json"], repo, env))) == {"train@l4_linear", "evaluate@l4_linear", "report"}

    # the model a finetune row starts from is its dependency: retraining l4 reruns it
    run(["git", "checkout", "params.yaml"], repo, env)
    p2 = yaml.safe_load((repo / "params.yaml").read_text())
    p2["rows"]["l4"] = {"train": {"lr": 2e-3}}
    (repo / "params.yaml").write_text(yaml.safe_dump(p2, sort_keys=False))
    stale = set(json.loads(run(["dvc", "status", "dvc.yaml", "--json"], repo, env)))
    assert {"train@l4", "finetune@l4_ft", "evaluate_finetune@l4_ft", "evaluate_only@l4_argmax", "report"} <= stale
    assert not stale & {"train@l4_linear", "baseline@identity", "baseline@grabcut"}

    # the report's code is a dependency of the report only: editing it retrains nothing
    run(["git", "checkout", "params.yaml"], repo, env)
    with open(repo / "bbadj" / "report" / "plots.py", "a") as f:
        f.write("\n# an edit\n")
    assert set(json.loads(run(["dvc", "status", "dvc.yaml", "--json"], repo, env))) == {"report"}
    run(["git", "checkout", "bbadj/report/plots.py"], repo, env)

    # new training data retrains the model from scratch (the checkpoint of the old data is not resumed)
    before = md5(repo / "runs" / "l4" / "model.pt")
    ann = repo / "data" / "coco128" / "annotations" / "train.json"
    doc = json.loads(ann.read_text())
    doc["annotations"][0]["bbox"][0] += 2.0
    ann.write_text(json.dumps(doc))
    out = run(["dvc", "repro", "train@l4"], repo, env)
    assert "resuming" not in out and "starting over" in out
    assert md5(repo / "runs" / "l4" / "model.pt") != before
    locked = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train@l4"]["outs"]
    assert md5(repo / "runs" / "l4" / "model.pt") == {o["path"]: o["md5"] for o in locked}["runs/l4/model.pt"]
    run(["git", "checkout", "data"], repo, env)

    # a bad key stops the stage before it deletes anything (the outputs persist until replaced)
    p3 = yaml.safe_load((repo / "params.yaml").read_text())
    p3["rows"]["l4_linear"]["train"] = {"lrr": 1}
    (repo / "params.yaml").write_text(yaml.safe_dump(p3, sort_keys=False))
    proc = subprocess.run(["dvc", "repro", "train@l4_linear"], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "lrr" in proc.stdout + proc.stderr
    assert (repo / "runs" / "l4_linear" / "model.pt").exists() and (repo / "reports" / "train" / "l4_linear").is_dir()
    assert (repo / "reports" / "report.html").exists() and (repo / "reports" / "summary.md").exists()


@pytest.mark.slow
def test_coco128_preset_runs_the_paper_path_on_real_data(tmp_path, env):
    """params/coco128.yaml (the paper's recipe on the in-repository photographs), run the
    documented way (`bbadj exp-run`) with tiny CPU settings: every row trains on coco128's
    train split and is scored on its val split, and the report never calls it synthetic."""
    repo = tmp_path / "repo"
    repo.mkdir()
    init_repo(repo, env, tiny(yaml.safe_load((ROOT / "params.yaml").read_text())))
    cpu = ["model.backbone=resnet18", "model.pretrained=none", "model.hidden=32", "data.crop_size=32",
           "data.num_workers=0", "train.max_steps=2", "train.batch_size=8", "train.warmup_steps=1",
           "train.device=cpu", "eval.device=cpu", "eval.batch_size=64"]
    out = run(["bbadj", "exp-run", "params/coco128.yaml", *[a for s in cpu for a in ("-S", s)]], repo, env, timeout=1500)
    assert "Running stage 'report'" in out
    applied = yaml.safe_load((repo / "params.yaml").read_text())  # dvc exp run leaves the run in the workspace
    assert applied["data"]["train_annotations"] == "data/coco128/annotations/train.json"
    names = list(applied["rows"]) + list(applied["eval_only"]) + ["identity", "grabcut"]
    assert not applied["finetune"] and "buffer_1p1" not in applied["rows"]
    assert len(applied["rows"]) >= 5 and applied["data"]["buffer_ratio"] == 1.1
    for name in names:
        assert json.loads((repo / "reports" / "metrics" / name / "coco128.json").read_text())["miou"] > 0, name
    html = (repo / "reports" / "report.html").read_text()
    assert "synthetic" not in html.lower() and "data/coco128/annotations/val.json" in html
    assert "resnet18" in html and "crop 32 px" in html
    shown = run(["dvc", "exp", "show", "--md", "--no-pager"], repo, env)
    assert "coco128" in shown and "workspace" in shown


@pytest.mark.slow
def test_the_long_tier_beside_the_default(tmp_path, env):
    """long/dvc.yaml on tiny settings: `dvc repro long/dvc.yaml` makes the synthetic set, one
    pretraining per starting weights, every row and its scores, and the report with each ablation
    at both budgets, into runs/long/ and reports/long/; `dvc repro` (the default tier) never reruns
    or overwrites it; each pipeline's second run reruns nothing; one row's change makes only that
    row stale in each tier."""
    repo = tmp_path / "repo"
    repo.mkdir()
    p = tiny(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["rows"] = {"l4": {}, "l4_seed1": {"train": {"seed": 1}}, "scratch": {"model": {"pretrained": "none"}}}
    p["eval_only"] = {"l4_buffer_1p0": {"from": "l4", "data": {"buffer_ratio": 1.0}}}
    p["long"].update(synth={"images": 6, "seed": 0}, pretrain={"train": {"max_steps": 2}},
                     train={"max_steps": 4, "warmup_steps": 1})
    init_repo(repo, env, p)
    run(["dvc", "repro"], repo, env)
    assert not (repo / "runs" / "long").exists()
    default_lock = (repo / "dvc.lock").read_text()

    assert "$(BIN)/dvc repro long/dvc.yaml" in (ROOT / "Makefile").read_text()  # make repro-long
    out = run(["dvc", "repro", "long/dvc.yaml"], repo, env, timeout=1500)
    assert "Running stage 'long/dvc.yaml:pretrain'" in out and "Running stage 'train@" not in out, out[-3000:]
    for start in ("imagenet", "none"):
        assert (repo / "runs" / "long" / "pretrain" / start / "model.pt").exists()
    for name in ("l4", "l4_seed1", "scratch", "l4_buffer_1p0"):
        assert json.loads((repo / "reports" / "long" / "metrics" / name / "coco128.json").read_text())["miou"] > 0
    assert not (repo / "reports" / "long" / "metrics" / "identity").exists()  # the default tier's serves both
    html = (repo / "reports" / "long" / "report.html").read_text()
    assert "Which design choices matter, at two budgets" in html and "default / long" in html
    assert "runs/long/pretrain/none/model.pt" in html  # scratch's backbone: its own pretraining
    assert (repo / "dvc.lock").read_text() == default_lock
    model = md5(repo / "runs" / "long" / "l4" / "model.pt")

    for cmd in (["dvc", "repro", "long/dvc.yaml"], ["dvc", "repro"]):
        again = run(cmd, repo, env)
        assert "Running stage" not in again, again
    assert md5(repo / "runs" / "long" / "l4" / "model.pt") == model

    p["rows"]["l4_seed1"]["train"]["seed"] = 5
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    stale = set(json.loads(run(["dvc", "status", "long/dvc.yaml", "--json"], repo, env)))
    assert stale == {"long/dvc.yaml:train@l4_seed1", "long/dvc.yaml:evaluate@l4_seed1", "long/dvc.yaml:report"}
    # the long report reads the default tier's results: its rerun brings them up to date first
    out = run(["dvc", "repro", "long/dvc.yaml"], repo, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {"train@l4_seed1", "evaluate@l4_seed1", "long/dvc.yaml:train@l4_seed1",
                   "long/dvc.yaml:evaluate@l4_seed1", "long/dvc.yaml:report"}, ran

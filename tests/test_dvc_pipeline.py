"""The DVC pipeline end to end, on a tiny parameter set, in a temporary copy of the repository.

The copy is what a fresh clone would hold (git's tracked and untracked-but-not-ignored files,
so uncommitted work is tested too), made into its own git + DVC repository. Checks: `dvc repro`
runs every stage and writes the metrics, `dvc metrics show` reads them, a second `dvc repro`
reruns nothing, and changing one experiment's parameter makes only that experiment's stages and
the report stale.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bbadj.metrics import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(args, cwd, env, timeout=900):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


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
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg",
            "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}


@pytest.mark.slow
def test_dvc_repro_end_to_end(tmp_path, env):
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_repo(repo)
    run(["git", "init", "-q"], repo, env)
    if not (repo / ".dvc" / "config").exists():
        run(["dvc", "init", "-q"], repo, env)
    run(["dvc", "config", "core.analytics", "false"], repo, env)
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["synth"].update(train_images=10, val_images=4)
    p["data"]["crop_size"] = 32
    p["model"]["hidden"] = 32
    p["train"].update(batch_size=8, max_steps=3, warmup_steps=1, log_every=1, device="cpu")
    p["eval"].update(repeats=1, device="cpu")
    p["experiments"] = {"l4": {}, "l4_linear": {"model": {"decoder": "linear"}}}
    p["eval_only"] = {"l4_argmax": {"from": "l4", "eval": {"decoding": "argmax"}}}
    p["study"].update(bootstrap=50, gallery=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "tiny study"], repo, env)

    out = run(["dvc", "repro"], repo, env)
    assert "Running stage 'report'" in out
    names = ["identity", "l4", "l4_linear", "l4_argmax"]
    for name in names:
        m = json.loads((repo / "reports" / "metrics" / f"{name}.json").read_text())
        assert set(METRIC_KEYS) <= set(m) and m["n_boxes"] > 0
    assert (repo / "reports" / "report.html").stat().st_size > 10_000
    assert (repo / "runs" / "l4" / "model.pt").exists()

    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo, env))
    text = json.dumps(shown)
    for name in names:
        assert f"reports/metrics/{name}.json" in text
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], repo, env)
    assert (tmp_path / "plots" / "index.html").exists()

    again = run(["dvc", "repro"], repo, env)
    assert "Running stage" not in again and "up to date" in again

    p["experiments"]["l4_linear"]["model"]["hidden"] = 16
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    stale = set(json.loads(run(["dvc", "status", "--json"], repo, env)))
    assert stale == {"train@l4_linear", "evaluate@l4_linear", "report"}

    # the report's code is a dependency of the report only: editing it retrains nothing
    run(["git", "checkout", "params.yaml"], repo, env)
    with open(repo / "bbadj" / "study" / "plots.py", "a") as f:
        f.write("\n# an edit\n")
    stale = set(json.loads(run(["dvc", "status", "--json"], repo, env)))
    assert stale == {"report"}

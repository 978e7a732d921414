"""DVC's own ways to share, distribute and look at the study, each on a throwaway DVC project in a
temporary folder (a stage that writes a "model" and a metrics file in a second), not the study:

- a local-folder remote: `dvc push`, a fresh `git clone`, `dvc pull`, and `dvc status` is clean
  (README "Share your results");
- `dvc exp run --queue` + `dvc queue start` with two workers, each started with its own
  CUDA_VISIBLE_DEVICES (docs/gpu.md "Many machines, many GPUs"; docs/gpu/queue_gpus.sh);
- `dvc plots show` through .dvc/offline_plots.html: no script from the network, the axis titles of
  dvc.yaml's plots section, and, where Chromium is installed, the plots drawn with the network off;
- `dvc exp show` in the README's form ("Compare experiments", `make exp-show`) fits 120 columns.
"""

import functools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, run, tool_env

TRAIN = """\
import json, os, sys, time, yaml
p = yaml.safe_load(open("params.yaml"))
time.sleep(float(os.environ.get("TINY_SLEEP", "0")))
os.makedirs("runs/tiny", exist_ok=True)
open("runs/tiny/model.pt", "w").write(f"weights lr={p['train']['lr']} seed={p['train']['seed']}\\n")
gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "")
for i, row in enumerate(("identity", "l4", "l4_seed1", "l34_mean", "fpn", "linear", "scratch")):
    os.makedirs(f"reports/metrics/{row}", exist_ok=True)  # the study's layout: <row>/<set>.json
    m = {"miou": 80 + i + 10 * p["train"]["lr"], "iou90": 7.5, "edge1": 35.0 + p["train"]["seed"], "edge3": 64.8,
         "corner1": 14.5, "corner3": 46.2, "gpu": int(gpu) if gpu.isdigit() else -1}
    json.dump(m, open(f"reports/metrics/{row}/coco128.json", "w"))
"""

PARAMS = {
    "data": {"crop_size": 96, "num_workers": 0, "image_cache_mb": 0, "splits": "data/coco128/annotations"},
    "model": {"backbone": "efficientnet_lite0", "fusion": "l4", "decoder": "conv1d", "hidden": 128},
    "train": {
        "lr": 0.001,
        "seed": 0,
        "batch_size": 32,
        "max_steps": 100,
        "device": "cpu",
        "optimizer": "adamw",
        "weight_decay": 0.0001,
    },
    "eval": {"repeats": 2, "passes": 1, "device": "cpu"},
}


run = functools.partial(run, timeout=300)  # a tiny project: a DVC command takes seconds


@pytest.fixture(scope="module")
def env():
    if not (BIN / "dvc").exists():
        pytest.fail(f"dvc must be installed beside {sys.executable} (pip install -e '.[study]')")
    if not shutil.which("git"):
        pytest.skip("needs git")
    return tool_env()


def tiny_project(repo: Path, env) -> Path:
    """A git + DVC project with one stage: params in, a cached "model" and a metrics file out."""
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "train.py").write_text(TRAIN)
    (repo / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    (repo / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "train": {
                        "cmd": f"{sys.executable} train.py",
                        "deps": ["train.py"],
                        "params": ["data", "model", "train", "eval"],
                        "outs": ["runs/tiny"],
                        "metrics": [{"reports/metrics": {"cache": False}}],
                    }
                }
            },
            sort_keys=False,
        )
    )
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["dvc", "init", "-q"], repo, env)
    run(["dvc", "config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "tiny project"], repo, env)
    return repo


def test_push_to_a_local_remote_and_pull_into_a_fresh_clone(tmp_path, env):
    repo = tiny_project(tmp_path / "repo", env)
    run(["dvc", "repro"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "results"], repo, env)
    # README "Share your results", with a shared folder for the remote
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote")], repo, env)
    run(documented_verify(), repo, env)
    run(["git", "commit", "-qam", "the shared DVC remote"], repo, env)
    out = run(["dvc", "push"], repo, env)
    assert "1 file pushed" in out or "pushed" in out, out
    assert any((tmp_path / "dvc-remote").rglob("*")), "nothing in the remote"

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    assert not (clone / "runs" / "tiny" / "model.pt").exists()  # a clone has the metrics (git), not the model
    assert json.loads((clone / "reports" / "metrics" / "fpn" / "coco128.json").read_text())["miou"] == pytest.approx(
        84.01
    )
    run(["dvc", "pull"], clone, env)
    assert (clone / "runs" / "tiny" / "model.pt").read_text() == (repo / "runs" / "tiny" / "model.pt").read_text()
    status = run(["dvc", "status"], clone, env)
    assert "up to date" in status, status
    assert "Data and pipelines are up to date" in run(
        ["dvc", "status", "--cloud"], clone, env
    ) or "Cache and remote 'shared' are in sync" in run(["dvc", "status", "--cloud"], clone, env)
    metrics = run(["dvc", "metrics", "show", "--json"], clone, env)
    assert '"miou": 84.01' in metrics


def documented_verify() -> list[str]:
    """The `dvc remote modify ... verify true` line docs/sharing.md gives after `dvc remote add`, as
    arguments; the README's "Share your results" gives the same one."""
    lines = [
        ln.split("#")[0].split()
        for ln in (ROOT / "docs" / "sharing.md").read_text().splitlines()
        if ln.startswith("dvc remote modify") and "verify" in ln
    ]
    assert lines == [["dvc", "remote", "modify", "shared", "verify", "true"]], lines
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^dvc remote add -d shared .*?^dvc remote modify shared verify true\b", readme, re.M | re.S)
    return lines[0]


def test_a_replaced_object_on_the_remote_is_refused_with_verify(tmp_path, env):
    """Issue 31.1: an object replaced on the DVC remote. A clone whose remote has `verify = false`
    (DVC's default) checks it out with exit 0 and a clean `dvc status`; with docs/sharing.md's
    `verify true` the pull exits non-zero and the file is not checked out. The replacement keeps
    the object's read-only mode (0444): DVC hashes a local remote's object in any other mode
    anyway, so a test that left it writable would pass without verify."""
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["dvc", "init", "-q"], repo, env)
    (repo / "runs").mkdir()
    (repo / "runs" / "model.pt").write_bytes(b"the pushed weights\n")
    run(["dvc", "add", "-q", "runs/model.pt"], repo, env)
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote")], repo, env)
    run(documented_verify(), repo, env)
    assert "verify = true" in (repo / ".dvc" / "config").read_text()
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "a model and the shared DVC remote"], repo, env)
    run(["dvc", "push"], repo, env)
    (obj,) = [p for p in (tmp_path / "dvc-remote").rglob("*") if p.is_file()]
    mode = obj.stat().st_mode & 0o777
    obj.chmod(0o644)
    obj.write_bytes(b"someone else's file\n")
    obj.chmod(mode)

    trusting = tmp_path / "trusting"
    run(["git", "clone", "-q", str(repo), str(trusting)], tmp_path, env)
    run(["dvc", "remote", "modify", "--local", "shared", "verify", "false"], trusting, env)
    run(["dvc", "pull"], trusting, env)  # exit 0: the tampering is real, and DVC alone does not see it
    assert (trusting / "runs" / "model.pt").read_bytes() == b"someone else's file\n"
    assert "up to date" in run(["dvc", "status"], trusting, env)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    proc = subprocess.run(["dvc", "pull"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "runs/model.pt" in proc.stderr, proc.stderr
    assert not (clone / "runs" / "model.pt").exists()
    assert "not in cache" in run(["dvc", "status"], clone, env)


def queue_status(repo: Path, env) -> str:
    return run(["dvc", "queue", "status"], repo, env)


@pytest.mark.slow
def test_the_queue_runs_two_experiments_on_two_workers_each_with_its_own_device(tmp_path, env):
    repo = tiny_project(tmp_path / "repo", env)
    run(["dvc", "repro"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "baseline"], repo, env)
    for lr in ("0.002", "0.003"):
        run(["dvc", "exp", "run", "--queue", "-S", f"train.lr={lr}"], repo, env)
    assert queue_status(repo, env).count("Queued") == 2
    # docs/gpu/queue_gpus.sh: worker k is started with CUDA_VISIBLE_DEVICES=k (here, on CPU, 0 and 1)
    # each run outlasts the start of the next worker, else worker 1 may run both, one after the other
    out = run(["bash", str(ROOT / "docs" / "gpu" / "queue_gpus.sh"), "2"], repo, {**env, "TINY_SLEEP": "20"})
    assert "worker 1: CUDA_VISIBLE_DEVICES=0" in out and "worker 2: CUDA_VISIBLE_DEVICES=1" in out, out
    deadline = time.time() + 240
    while time.time() < deadline:
        status = queue_status(repo, env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    else:
        pytest.fail(f"the queue did not finish:\n{status}")
    assert status.count("Success") == 2, status
    rows = json.loads(run(["dvc", "exp", "show", "--json"], repo, env))
    exps = [e for r in rows for e in (r.get("experiments") or [])]
    metrics = [e["revs"][0]["data"]["metrics"]["reports/metrics/identity/coco128.json"]["data"] for e in exps]
    assert sorted(m["miou"] for m in metrics) == pytest.approx([80.02, 80.03])
    # each worker ran one experiment with its own CUDA_VISIBLE_DEVICES
    assert sorted(m["gpu"] for m in metrics) == [0, 1], metrics
    run(["dvc", "queue", "stop"], repo, env, check=False)


def test_exp_show_fits_120_columns(tmp_path, env):
    repo = tiny_project(tmp_path / "repo", env)
    run(["dvc", "repro"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "baseline"], repo, env)
    run(["dvc", "exp", "run", "-n", "lr2e-3", "-S", "train.lr=0.002"], repo, env)
    run(["dvc", "exp", "run", "-n", "seed1", "-S", "train.seed=1", "-S", "model.fusion=fpn"], repo, env)
    # the README's "Compare experiments" form: `make exp-show`
    out = run(["make", "-s", "-f", str(ROOT / "Makefile"), "exp-show", f"BIN={BIN}"], repo, {**env, "COLUMNS": "120"})
    print(out)
    lines = out.splitlines()
    assert max(map(len, lines)) <= 120, "\n".join(lines)
    assert "lr2e-3" in out and "seed1" in out
    for col in ("train.lr", "train.seed", "model.fusion", "identity miou", "l4 miou", "fpn miou", "fpn edge1"):
        assert col in out, f"{col} missing:\n{out}"
    assert "train.batch_size" not in out and "l34_mean" not in out  # same params left out; other rows too
    assert "reports/metrics" not in out
    cells = [c.strip() for line in lines for c in re.split(r"\s{2,}|│|\|", line) if c.strip()]
    assert "…" not in cells, out


SUMMARY = """row,set,miou,iou90,edge1,edge3,corner1,corner3,n_boxes,draws
identity,coco128,81.4,7.8,35.4,64.8,14.5,46.2,294,2
l4,coco128,83.8,17.0,40.1,69.0,19.0,52.0,294,2
fpn,coco128,84.5,21.3,42.9,71.6,22.0,55.2,294,2
"""


def plots_project(repo: Path, env) -> Path:
    """The repository's plots section, templates and offline page over a few rows of fixture data."""
    repo.mkdir(parents=True)
    run(["git", "init", "-q"], repo, env)
    run(["dvc", "init", "-q"], repo, env)
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    shutil.copy2(ROOT / ".dvc" / "offline_plots.html", repo / ".dvc")
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": plots}, sort_keys=False))
    (repo / "reports" / "plots").mkdir(parents=True)
    (repo / "reports" / "summary.csv").write_text(SUMMARY)
    (repo / "reports" / "plots" / "loss.csv").write_text(
        "step,loss,row\n" + "".join(f"{s},{3 - s / 50:.3f},{r}\n" for r in ("l4", "fpn") for s in (10, 50, 100))
    )
    return repo


def test_dvc_plots_show_renders_offline_with_named_axes(tmp_path, env):
    repo = plots_project(tmp_path / "repo", env)
    run(["dvc", "plots", "show", "-o", "out"], repo, env)
    page = (repo / "out" / "index.html").read_text()
    assert not re.search(r"<script[^>]+src=", page), "a script loaded from a file or the network"
    assert "cdn.jsdelivr" not in page and "window.vegaEmbed=" in page
    for title in ("mIoU (%)", "edges within 1 px (%)", "training step", '"loss"'):
        assert title in page, title
    assert '"field": "row"' in page and '"title": "row"' in page  # the loss curves coloured by row
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        # no network at all (an unreachable proxy for everything): the plots must still be drawn
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--proxy-server=127.0.0.1:9",
                "--proxy-bypass-list=<-loopback>",
                "--virtual-time-budget=15000",
                "--dump-dom",
                (repo / "out" / "index.html").as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        assert dom.count("<canvas") + dom.count("<svg") >= 3, dom[-3000:]
        assert "vega-embed" in dom


def test_the_loss_template_colours_by_a_column_the_report_writes():
    """.dvc/plots/by_row.json colours the curves by a column of reports/plots/loss.csv as the report
    stage writes it (a name the file lacks draws every row as one zig-zag line, "undefined")."""
    import json

    template = json.loads((ROOT / ".dvc" / "plots" / "by_row.json").read_text())
    colour = template["encoding"]["color"]["field"]
    header = (ROOT / "reports" / "plots" / "loss.csv").read_text().splitlines()[0].split(",")
    assert colour in header, f"by_row.json colours by {colour!r}; loss.csv has {header}"


def test_the_offline_page_is_what_the_script_writes():
    vlc = pytest.importorskip("vl_convert")
    page = (ROOT / ".dvc" / "offline_plots.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page
    if f"vl-convert-python {vlc.__version__} " not in page:
        pytest.skip(f"the page was written by another vl-convert-python than {vlc.__version__}")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dvc_plots_template.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_study_pushed_and_pulled_into_a_fresh_clone(tmp_path, env):
    """The repository's own pipeline on tiny settings (one trained row, the baselines, the report):
    its models go to a local-folder remote and come back in a fresh clone (the stage notebooks and
    per-box files come with git), where `dvc status` is clean and `bbadj show` reads the metrics."""
    from test_dvc_pipeline import init_repo, tiny

    repo = tmp_path / "repo"
    repo.mkdir()
    p = tiny(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["rows"], p["finetune"], p["eval_only"] = {"l4": {}}, {}, {}
    env = {**env, "MPLBACKEND": "Agg"}
    init_repo(repo, env, p)
    run(["dvc", "repro"], repo, env, timeout=900)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "the tiny study"], repo, env)
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote")], repo, env)
    run(documented_verify(), repo, env)
    run(["git", "commit", "-qam", "the shared DVC remote"], repo, env)
    run(["dvc", "push"], repo, env)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    cached = [Path("runs/l4/seed0/model.pt"), Path("runs/l4/seed1/model.pt")]  # DVC's; notebooks, per-box files: git's
    committed = [
        Path("reports/notebooks/train-l4.ipynb"),
        Path("reports/notebooks/evaluate-l4.ipynb"),
        Path("reports/per_box/l4/coco128.csv"),
        Path("reports/per_box/identity/coco128.csv"),
    ]
    assert not any((clone / f).exists() for f in cached)
    assert all((clone / f).read_bytes() == (repo / f).read_bytes() for f in committed)
    # the default tier's outputs (a plain `dvc pull` also names the long tier's, never run here, and
    # exits 1 after fetching the rest; `--allow-missing` takes what there is)
    run(["dvc", "pull", "dvc.yaml"], clone, env)
    for f in cached:
        assert (clone / f).read_bytes() == (repo / f).read_bytes(), f
    assert "Data and pipelines are up to date" in run(["dvc", "status", "dvc.yaml"], clone, env)
    assert run(["dvc", "pull"], clone, env, check=False)  # see above
    run(["dvc", "pull", "--allow-missing"], clone, env)
    shown = run([str(BIN / "bbadj"), "show"], clone, {**env, "COLUMNS": "120"})
    miou = json.loads((clone / "reports" / "metrics" / "l4" / "coco128.json").read_text())["miou"]
    assert re.search(rf"^l4\s+{miou:.1f}\b", shown, re.M), shown


def test_the_slurm_array_runs_one_line_of_the_list_per_task(env):
    """docs/gpu/slurm_array.sh, dry: task k runs line k of docs/gpu/experiments.txt (a preset that
    exists) with bbadj exp-run, then dvc exp push; past the list, it stops with exit 2."""
    lines = [
        ln.split()
        for ln in (ROOT / "docs" / "gpu" / "experiments.txt").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines and all((ROOT / ln[1]).is_file() for ln in lines), lines
    script = ROOT / "docs" / "gpu" / "slurm_array.sh"
    for k, (name, preset, *args) in enumerate(lines):
        out = run(["bash", str(script)], ROOT, {**env, "DRY_RUN": "1", "SLURM_ARRAY_TASK_ID": str(k), "REPO_URL": "/r"})
        assert f"+ bbadj exp-run {preset} -n {name} -- {' '.join(args)}".rstrip() in out, out
        assert f"+ dvc exp push origin {name}" in out
    proc = subprocess.run(
        ["bash", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "DRY_RUN": "1", "SLURM_ARRAY_TASK_ID": str(len(lines)), "REPO_URL": "/r"},
    )
    assert proc.returncode == 2 and "no line" in proc.stderr
    sky = yaml.safe_load((ROOT / "docs" / "gpu" / "sky.yaml").read_text())
    assert "dvc exp push origin" in sky["run"] and (ROOT / sky["envs"]["PRESET"]).is_file()

"""Both DVC pipelines end to end, on tiny parameters, in one scratch copy of the repository that
every test here shares (built once: both tiers reproduced and committed; each test puts it back as
it was): what runs, what a second run reruns (nothing), and what each kind of edit reruns.

The copy is what a fresh clone would hold (git's tracked and untracked-but-not-ignored files, so
uncommitted work is tested too), made into its own git + DVC repository. The edits (issue 32): a
comment in the fusion module and an unused new module rerun nothing but the fingerprint stages; a
new fusion variant with its row trains that row only, in each tier; a killed training of an
unchanged row resumes after a comment edit; a file `bbadj snap` writes under data/ stales nothing;
and the commands README.md ("Tweak, rerun, compare") and docs/tiers.md show do what they say, the
one-row experiment in a fresh clone without models included. `dvc repro --dry` is printed for each
edit (run with -s to see it): DVC sees only the fingerprint stage as changed until it has run.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bbadj.scoring.metrics import METRIC_KEYS
from conftest import BIN, ROOT, tool_env
from conftest import run as run_in

LONG = "long/dvc.yaml"
SEEDS = 2


def copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file() and not f.startswith(("reports/", "dvc.lock")):  # start from no results
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def run(args, cwd: Path, env, **kw) -> str:
    """``conftest.run`` with the package of ``cwd`` (the scratch copy's) imported first: bbadj, the
    notebooks' kernels and DVC's commands run the edited copy, not the installed checkout."""
    return run_in(args, cwd, {**env, "PYTHONPATH": str(cwd)}, **kw)


def tool_environment():
    if not (ROOT / ".git").exists():
        pytest.skip("needs the repository's git checkout to copy from")
    if not (BIN / "dvc").exists() or not (BIN / "papermill").exists():
        pytest.fail(f"dvc and papermill must be installed beside {sys.executable} (pip install -e '.[study]')")
    return tool_env(MPLBACKEND="Agg", COLUMNS="120")


@pytest.fixture(scope="module")
def env():
    return tool_environment()


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
    """The repository's params.yaml at a few steps, small crops and two seeds."""
    p["data"].update(crop_size=32, num_workers=0)
    p["model"]["hidden"] = 32
    p["train"].update(batch_size=8, max_steps=3, warmup_steps=1, log_every=1, checkpoint_every=1, device="cpu")
    p["eval"].update(repeats=1, device="cpu")
    p["grabcut"].update(max_side=32, iterations=1)
    p["study"].update(bootstrap=50, gallery=2, seeds=SEEDS)
    return p


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def ran(out: str) -> set[str]:
    """The stages a `dvc repro` (or `--dry`) ran, by name."""
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def dry(repo: Path, env, what: str) -> set[str]:
    """What `dvc repro --dry` of the pipeline (or stage) ``what`` would run, printed for the report."""
    stages = ran(run(["dvc", "repro", "--dry", what], repo, env))
    print(f"\n[dvc repro --dry {what}] {sorted(stages)}")
    return stages


def stale(repo: Path, env, pipeline: str) -> set[str]:
    return set(json.loads(run(["dvc", "status", pipeline, "--json"], repo, env, stdout_only=True)))


def reset(repo: Path, env) -> None:
    """The scratch study as it was committed: files, dvc.lock, fingerprints and models."""
    run(["git", "checkout", "-q", "--", "."], repo, env)
    run(["git", "clean", "-fdq"], repo, env)  # not ignored files: runs/ stays
    run(["dvc", "checkout", "-f", "-q"], repo, env)


def write_params(repo: Path, p: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


@pytest.fixture(scope="module")
def study(tmp_path_factory, env):
    """Both tiers reproduced and committed: rows l4 and fpn, a finetune row of l4, an eval-only row,
    the baselines, two seeds each."""
    repo = tmp_path_factory.mktemp("study") / "repo"
    repo.mkdir()
    p = tiny(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["rows"] = {"l4": {}, "fpn": {"model": {"fusion": "fpn"}}}
    p["finetune"] = {"l4_ft": {"from": "l4", "train": {"lr": 5.0e-4}}}
    p["eval_only"] = {"l4_buffer_1p0": {"from": "l4", "data": {"buffer_ratio": 1.0}}}
    p["long"].update(
        synth={"images": 6, "seed": 0, "mix": 0.25},
        pretrain={"train": {"max_steps": 2}},
        train={"max_steps": 4, "warmup_steps": 1},
    )
    init_repo(repo, env, p)
    out = run(["dvc", "repro"], repo, env)
    assert not (repo / "runs" / "long").exists()
    default_lock = (repo / "dvc.lock").read_text()
    out_long = run(["dvc", "repro", LONG], repo, env, timeout=1500)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "the tiny study, both tiers"], repo, env)
    return {"repo": repo, "params": p, "out": out, "out_long": out_long, "default_lock": default_lock}


# ------------------------------------------------------------------ the study as it runs


@pytest.mark.slow
def test_the_default_tier_end_to_end(study, env):
    """Every stage runs; each row's seeds train in one stage and are scored in one; the metric files
    hold the mean over the seeds and each seed's; DVC's views read them; a second run reruns nothing."""
    repo, out = study["repo"], study["out"]
    assert "Running stage 'report'" in out and "Running stage 'fingerprint'" in out
    models = ["l4", "fpn", "l4_ft", "l4_buffer_1p0"]
    for name in ["identity", "grabcut", *models]:
        m = json.loads((repo / "reports" / "metrics" / name / "coco128.json").read_text())
        assert set(METRIC_KEYS) <= set(m) and all(0 <= m[k] <= 100 for k in METRIC_KEYS), name
        seeds = SEEDS if name in models else 1
        assert m["n_seeds"] == seeds and all(len(m["seeds"][k]) == seeds for k in METRIC_KEYS), name
        for k in METRIC_KEYS:  # the mean of the seeds' fractions, each rounded once
            assert abs(m[k] - sum(m["seeds"][k]) / seeds) <= 0.051, (name, k)
        df = pd.read_csv(repo / "reports" / "per_box" / name / "coco128.csv")
        assert df.columns[0] == "seed" and sorted(df.seed.unique()) == list(range(seeds)), name
        assert len(df) == 294 * seeds, name
    for name in ("l4", "fpn", "l4_ft"):
        for k in range(SEEDS):
            assert (repo / "runs" / name / f"seed{k}" / "model.pt").exists()
            assert (repo / "reports" / "train" / name / f"seed{k}" / "plots" / "metrics" / "loss.tsv").exists()
        assert "train.seed 1" in (repo / "reports" / "notebooks" / f"train-{name}.ipynb").read_text()
    locked = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train@l4"]["outs"]
    assert [o["nfiles"] for o in locked if o["path"] == "runs/l4"] == [SEEDS]  # model.pt (train_log.jsonl: .dvcignore)
    assert all((repo / "runs" / "l4" / f"seed{k}" / "train_log.jsonl").exists() for k in range(SEEDS))
    html = (repo / "reports" / "report.html").read_text()
    assert "coco_val2017 (test set; 1672 boxes on 186 photographs x 1 draws" in html
    assert "coco128 (validation set; 294 boxes on 32 photographs x 1 draws" in html
    assert "GrabCut" in html and "Main result" in html
    assert "Seeds: coco_val2017 (test set" in html  # the appendix's training noise: each seed of each recipe
    assert "| fpn |" in (repo / "reports" / "summary.md").read_text()
    # stdout only: DVC warns on stderr of metric files a pipeline has not written yet
    shown = json.dumps(json.loads(run(["dvc", "metrics", "show", "--json"], repo, env, stdout_only=True)))
    assert all(f"reports/metrics/{name}/coco128.json" in shown for name in models)
    table = run(["dvc", "metrics", "show"], repo, env, stdout_only=True)
    assert max(len(line) for line in table.splitlines()) <= 120, table
    assert "Running stage" not in run(["dvc", "repro"], repo, env)


@pytest.mark.slow
def test_the_long_tier_beside_the_default(study, env):
    """`dvc repro long/dvc.yaml` makes the synthetic set, one pretraining per starting weights, every
    row's seeds and its scores, and the report with each ablation at both budgets, into runs/long/
    and reports/long/; `dvc repro` never reruns or overwrites it."""
    repo, out = study["repo"], study["out_long"]
    reset(repo, env)
    assert "Running stage 'long/dvc.yaml:pretrain'" in out and "Running stage 'train@" not in out, out[-3000:]
    for start in ("imagenet", "none"):
        assert (repo / "runs" / "long" / "pretrain" / start / "model.pt").exists()
    for name in ("l4", "fpn", "l4_ft", "l4_buffer_1p0"):
        m = json.loads((repo / "reports" / "long" / "metrics" / name / "coco128.json").read_text())
        assert m["miou"] > 0 and m["n_seeds"] == SEEDS
    assert (repo / "runs" / "long" / "l4_ft" / "seed1" / "model.pt").exists()
    # the long tier calibrates err_px at evaluation, each seed's fit beside its per-box files
    fits = json.loads((repo / "reports" / "long" / "per_box" / "l4" / "calibration.json").read_text())
    assert set(fits) == {f"seed{k}" for k in range(SEEDS)} and all(f["err_scale"] > 0 for f in fits.values())
    assert not (repo / "reports" / "long" / "metrics" / "identity").exists()  # the default tier's serves both
    html = (repo / "reports" / "long" / "report.html").read_text()
    assert "Which design choices matter, at two budgets" in html and "default / long" in html
    assert (repo / "dvc.lock").read_text() == study["default_lock"]  # the long tier left the default's alone
    for pipeline in (LONG, "dvc.yaml"):
        assert "Running stage" not in run(["dvc", "repro", pipeline], repo, env)

    reset(repo, env)


# ------------------------------------------------------------------ edits that cannot change a model


def fusion_comment(repo: Path) -> None:
    with open(repo / "bbadj" / "model" / "fusion.py", "a") as f:
        f.write("\n# a comment: what a reader of this module should know\n")


def unused_module(repo: Path) -> None:
    (repo / "bbadj" / "model" / "unused.py").write_text(
        '"""Nothing imports this yet."""\n\n\ndef later():\n    return 1\n'
    )


@pytest.mark.slow
@pytest.mark.parametrize("edit", [fusion_comment, unused_module], ids=["a comment", "an unused module"])
def test_an_edit_that_cannot_change_a_model_reruns_nothing(study, env, edit):
    repo = study["repo"]
    reset(repo, env)
    edit(repo)
    for pipeline in ("dvc.yaml", LONG):
        assert not {s for s in dry(repo, env, pipeline) if "train@" in s or "evaluate" in s}
    assert ran(run(["dvc", "repro"], repo, env)) == {"fingerprint"}
    assert ran(run(["dvc", "repro", LONG], repo, env)) == {f"{LONG}:fingerprint"}
    assert not run(["git", "status", "--porcelain", "reports"], repo, env).strip(), "a fingerprint was rewritten"
    reset(repo, env)


@pytest.mark.slow
def test_a_killed_training_resumes_after_a_comment_edit(study, env):
    """Seed 1 of l4 killed after 2 of its 3 steps (its last.pt at step 2, no model.pt); a comment in
    the fusion module; `dvc repro` resumes it from step 2 and ends with the model it had (the same
    bytes, so nothing that scores it reruns)."""
    repo = study["repo"]
    reset(repo, env)
    seed1 = repo / "runs" / "l4" / "seed1"
    before = md5(seed1 / "model.pt")
    shutil.rmtree(seed1)
    code = (
        "from bbadj.core.params import Params; from bbadj.train.engine import train; "
        "p = Params.load(); train(p.seed_config('l4', 1), 'runs/l4/seed1', stop_after=2, progress=False)"
    )
    run([str(BIN / "python"), "-c", code], repo, env)  # the scratch copy's own package (the working directory's)
    assert (seed1 / "last.pt").exists() and not (seed1 / "model.pt").exists()
    fusion_comment(repo)
    out = run(["dvc", "repro"], repo, env)
    assert "resuming runs/l4/seed1 from step 2 of 3" in out and "starting over" not in out, out[-3000:]
    assert "resuming runs/l4/seed0 from step 3 of 3" in out  # the finished seed stops at once
    assert md5(seed1 / "model.pt") == before
    assert ran(out) == {"fingerprint", "train@l4", "report"}, ran(out)  # report: the stage's run.json
    reset(repo, env)


@pytest.mark.slow
def test_a_file_bbadj_snap_writes_under_data_stales_nothing(study, env):
    repo = study["repo"]
    reset(repo, env)
    run(
        [
            "bbadj",
            "snap",
            "--annotations",
            "data/coco128/annotations/val.json",
            "--images",
            "data/coco128/images",
            "--checkpoint",
            "runs/l4/seed0/model.pt",
            "--no-progress",
        ],
        repo,
        env,
    )
    assert (repo / "data" / "coco128" / "annotations" / "val.snapped.json").exists()
    for pipeline in ("dvc.yaml", LONG):
        assert "Data and pipelines are up to date" in run(["dvc", "status", pipeline], repo, env), pipeline
    reset(repo, env)


@pytest.mark.slow
def test_a_new_fusion_variant_trains_its_row_only(study, env):
    """A fusion registered in bbadj/model/fusion.py and its row in params.yaml: that row trains, in
    each tier, and no other (the registry's variants count per row: bbadj/fingerprint/code.py)."""
    if not registry_plugged():
        pytest.skip("needs the registry (bbadj/core/registry.py, issue 32.3) plugged into bbadj.fingerprint.code")
    repo = study["repo"]
    reset(repo, env)
    with open(repo / "bbadj" / "model" / "fusion.py", "a") as f:
        f.write(
            '\n\n@FUSIONS.register("l3")\nclass Layer3(Levels):\n    """layer3 alone."""\n\n    levels = ("layer3",)\n'
        )
    p = json.loads(json.dumps(study["params"]))
    p["rows"]["l3"] = {"model": {"fusion": "l3"}}
    write_params(repo, p)
    # DVC sees the new row once the fingerprint stages have written its files (`dvc repro --dry` stops
    # on what the new row's stages would write: its fingerprint file, then its model)
    run(["dvc", "repro", "fingerprint"], repo, env)
    run(["dvc", "repro", f"{LONG}:fingerprint"], repo, env)
    for pipeline, prefix in (("dvc.yaml", ""), (LONG, f"{LONG}:")):
        trainings = {s for s in stale(repo, env, pipeline) if "train@" in s or "finetune@" in s}
        assert trainings == {f"{prefix}train@l3"}, (pipeline, trainings)
    out = run(["dvc", "repro"], repo, env)
    assert {s for s in ran(out) if "train@" in s or "finetune@" in s} == {"train@l3"}, ran(out)
    out = run(["dvc", "repro", LONG], repo, env)
    assert {s for s in ran(out) if "train@" in s or "finetune@" in s} == {f"{LONG}:train@l3"}, ran(out)
    reset(repo, env)


# ------------------------------------------------------------------ edits that retrain (after those above)
# A training DVC reruns leaves its last.pt (DVC does not track it): the kill test above needs the
# committed study's, so these come after it (pytest runs a module's tests in file order).


@pytest.mark.slow
def test_what_a_change_reruns_in_the_default_tier(study, env):
    """A row's training setting: that row's training and the report (after the fingerprint stage has
    run: until then DVC sees only it), then what scores its new model or starts from it: its evaluation,
    finetune and eval-only rows; the report's code: the report; new training data: every training, from
    step 0; a bad key stops before anything is deleted."""
    repo, p = study["repo"], json.loads(json.dumps(study["params"]))
    reset(repo, env)
    p["rows"]["fpn"]["model"]["hidden"] = 16
    write_params(repo, p)
    assert stale(repo, env, "dvc.yaml") == {"fingerprint"}
    run(["dvc", "repro", "fingerprint"], repo, env)
    assert stale(repo, env, "dvc.yaml") == {"train@fpn", "report"}  # evaluate@fpn: once runs/fpn changes

    reset(repo, env)
    p = json.loads(json.dumps(study["params"]))
    p["rows"]["l4"] = {"train": {"lr": 2e-3}}
    write_params(repo, p)
    run(["dvc", "repro", "fingerprint"], repo, env)
    assert stale(repo, env, "dvc.yaml") == {"train@l4", "report"}
    run(["dvc", "repro", "train@l4"], repo, env)  # DVC follows the model: what starts from it or scores it
    assert stale(repo, env, "dvc.yaml") == {"evaluate@l4", "finetune@l4_ft", "evaluate_only@l4_buffer_1p0", "report"}

    reset(repo, env)
    with open(repo / "bbadj" / "figures" / "plots.py", "a") as f:
        f.write("\nGALLERY_COLUMNS = 4  # an edit of the report's code\n")
    print(run(["bbadj", "fingerprint", "--dry"], repo, env))
    run(["dvc", "repro", "fingerprint"], repo, env)
    assert stale(repo, env, "dvc.yaml") == {"report"}

    reset(repo, env)  # new training data retrains every model from scratch
    before = md5(repo / "runs" / "fpn" / "seed0" / "model.pt")
    ann = repo / "data" / "coco128" / "annotations" / "train.json"
    doc = json.loads(ann.read_text())
    doc["annotations"][0]["bbox"][0] += 2.0
    ann.write_text(json.dumps(doc))
    out = run(["dvc", "repro", "train@fpn"], repo, env)
    assert ran(out) == {"fingerprint", "train@fpn"} and "resuming" not in out and "starting over" in out
    assert md5(repo / "runs" / "fpn" / "seed0" / "model.pt") != before

    reset(repo, env)  # a bad key stops the stage before it deletes anything (the outputs persist until replaced)
    p = json.loads(json.dumps(study["params"]))
    p["rows"]["fpn"]["train"] = {"lrr": 1}
    write_params(repo, p)
    proc = subprocess.run(
        ["dvc", "repro", "train@fpn"], cwd=repo, env={**env, "PYTHONPATH": str(repo)}, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "lrr" in proc.stdout + proc.stderr
    assert (repo / "runs" / "fpn" / "seed0" / "model.pt").exists() and (repo / "reports" / "train" / "fpn").is_dir()
    assert (repo / "reports" / "report.html").exists()
    reset(repo, env)


@pytest.mark.slow
def test_what_a_change_reruns_in_the_long_tier(study, env):
    """A row's change makes only that row stale in the long tier; the long report reads the default
    tier's results, so its rerun brings the default tier's row up to date first."""
    repo = study["repo"]
    reset(repo, env)
    p = json.loads(json.dumps(study["params"]))
    p["rows"]["fpn"]["train"] = {"seed": 5}
    write_params(repo, p)
    run(["dvc", "repro", f"{LONG}:fingerprint"], repo, env)
    assert stale(repo, env, LONG) == {f"{LONG}:train@fpn", f"{LONG}:report"}
    # the long report reads the default tier's results: its rerun brings them up to date first
    out = run(["dvc", "repro", LONG], repo, env)
    assert ran(out) == {
        "fingerprint",
        "train@fpn",
        "evaluate@fpn",
        f"{LONG}:train@fpn",
        f"{LONG}:evaluate@fpn",
        f"{LONG}:report",
    }, ran(out)
    reset(repo, env)


# ------------------------------------------------------------------ the commands the README and docs/ show


@pytest.mark.slow
def test_the_readme_one_row_experiment_in_a_fresh_clone(study, env, tmp_path):
    """A clone with no models (no runs/, no DVC remote): README's `dvc exp run --allow-missing -S
    '+rows.fpn.train.lr=3e-4'` trains fpn alone and renders the report from the committed per-box
    files of the others; without --allow-missing DVC would train every row (their models missing)."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(study["repo"]), str(clone)], tmp_path, env)
    assert not (clone / "runs" / "l4").exists()
    # `dvc repro --dry` stops at the first stage that needs a model the clone lacks; `dvc status` lists them
    without = stale(clone, env, "dvc.yaml")
    assert {"train@l4", "train@fpn"} <= without
    out = run(["dvc", "exp", "run", "--allow-missing", "-S", "+rows.fpn.train.lr=3e-4"], clone, env)
    assert ran(out) == {"fingerprint", "train@fpn", "evaluate@fpn", "report"}, ran(out)
    assert not (clone / "runs" / "l4").exists()
    assert "fpn" in run([str(BIN / "bbadj"), "show"], clone, env)


@pytest.mark.slow
def test_the_readme_and_tiers_commands(study, env):
    """README's "Tweak, rerun, compare" and docs/tiers.md's commands, as they are written (the long
    recipe's 600 steps made 6: the tiny study's scale)."""
    repo = study["repo"]
    reset(repo, env)
    readme, tiers = (ROOT / "README.md").read_text(), (ROOT / "docs" / "tiers.md").read_text()
    shown = commands(readme, "## Tweak, rerun, compare") + commands(tiers, "## Tweak one row of either tier")
    expected = [
        "dvc exp run -S train.lr=2e-3",
        "dvc exp run --allow-missing -S '+rows.fpn.train.lr=3e-4'",
        "bbadj show",
        "dvc metrics diff",
        "dvc plots diff",
        "dvc exp apply <name>",
        "dvc exp run long/dvc.yaml --allow-missing -S '+rows.fpn.train.lr=2e-3'",
        "dvc exp run long/dvc.yaml -S 'long.train.max_steps=600'",
        "bbadj show --tier long",
        "dvc metrics diff",
    ]
    assert shown == expected, shown
    out = run(["dvc", "exp", "run", "-S", "train.lr=2e-3"], repo, env)
    assert {"train@l4", "train@fpn", "finetune@l4_ft"} <= ran(out)  # the base recipe: every row
    first = experiments(repo, env)
    out = run(["dvc", "exp", "run", "--allow-missing", "-S", "+rows.fpn.train.lr=3e-4"], repo, env)
    assert {s for s in ran(out) if "train@" in s or "finetune@" in s} == {"train@fpn"}, ran(out)
    out = run([str(BIN / "bbadj"), "show"], repo, env)
    assert "train.lr=0.002" in out and "rows.fpn.train.lr=0.0003" in out and len(experiments(repo, env)) == 2, out
    assert "reports/metrics/fpn/coco128.json" in run(["dvc", "metrics", "diff"], repo, env)
    run(["dvc", "plots", "diff"], repo, env)
    assert (repo / "dvc_plots" / "index.html").exists()
    run(["dvc", "exp", "apply", first[0]], repo, env)
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["lr"] == 2e-3
    reset(repo, env)
    out = run(["dvc", "exp", "run", LONG, "--allow-missing", "-S", "+rows.fpn.train.lr=2e-3"], repo, env)
    assert {s for s in ran(out) if "train@" in s} == {"train@fpn", f"{LONG}:train@fpn"}, ran(out)
    out = run(["dvc", "exp", "run", LONG, "-S", "long.train.max_steps=6"], repo, env)  # the docs' 600: 6 here
    assert {f"{LONG}:train@l4", f"{LONG}:train@fpn"} <= ran(out) and "train@l4" not in ran(out)
    assert "long.train.max_steps=6" in run([str(BIN / "bbadj"), "show", "--tier", "long"], repo, env)
    run(["dvc", "metrics", "diff"], repo, env)
    reset(repo, env)


def experiments(repo: Path, env) -> list[str]:
    return run(["dvc", "exp", "list", "--name-only"], repo, env, stdout_only=True).split()


def registry_plugged() -> bool:
    """Whether the code digest leaves out the variants a row does not use (bbadj.fingerprint.code)."""
    from bbadj.fingerprint import code

    source = '@FUSIONS.register("a")\nclass A:\n    pass\n\n\n@FUSIONS.register("b")\nclass B:\n    pass\n'
    return bool(code.unused_definitions(source, {"model": {"fusion": "a"}}))


def commands(page: str, section: str) -> list[str]:
    """The commands of the first code block after ``section``, without their comments."""
    block = re.search(r"```bash\n(.*?)```", page.split(section, 1)[1], flags=re.S).group(1)
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_coco128_preset_runs_the_paper_path_on_real_data(tmp_path, env):
    """params/coco128.yaml (the paper's recipe on the in-repository photographs), run the
    documented way (`bbadj exp-run`) with tiny CPU settings: every row trains on coco128's
    train split and is scored on its val split, and the report never calls it synthetic."""
    repo = tmp_path / "repo"
    repo.mkdir()
    p = tiny(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["study"]["seeds"] = 1
    init_repo(repo, env, p)
    cpu = [
        "model.backbone=resnet18",
        "model.pretrained=none",
        "model.hidden=32",
        "data.crop_size=64",  # layer4's sequence: 2 positions; at 32 px one, which GroupNorm cannot take in a batch of 1
        "+rows.scratch.model.hidden=16",  # without ImageNet weights here, scratch would be l4: the report refuses twins
        "data.num_workers=0",
        "train.max_steps=2",
        "train.batch_size=8",
        "train.warmup_steps=1",
        "train.device=cpu",
        "eval.device=cpu",
        "eval.batch_size=64",
    ]
    out = run(
        ["bbadj", "exp-run", "params/coco128.yaml", *[a for s in cpu for a in ("-S", s)]], repo, env, timeout=1500
    )
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
    assert "resnet18" in html and "crop 64 px" in html
    shown = run(["dvc", "exp", "show", "--md", "--no-pager"], repo, env)
    assert "coco128" in shown and "workspace" in shown

"""dvc.yaml and long/dvc.yaml say "which code" one way: each stage depends on its own fingerprint
file (bbadj/study/fingerprint_stage.py: the settings, data and code it runs, derived from
bbadj/util/layout.py's STAGES) and on what another stage made (models, synthetic images); only
the fingerprint stage depends on the package, the notebooks, params.yaml and the data files, and
on exactly the data files params.yaml names for that tier, never the whole data/ folder (so that a
file written under data/, such as `bbadj snap`'s output, stales nothing)."""

import json
import re
from pathlib import Path

import pytest
import yaml

from bbadj.core.params import Params
from bbadj.core.tiers import TIERS, pipeline
from bbadj.study.fingerprint_stage import FOLDER, data_inputs, fingerprints
from bbadj.fingerprint.code import code_files, stage_files
from bbadj.util.layout import STAGES

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80  # issue 32: each pipeline file fits a screen


def stages(tier: str) -> dict[str, dict]:
    """Stage name -> its definition (a foreach stage's `do`) in ``tier``'s pipeline file."""
    doc = yaml.safe_load((ROOT / pipeline(tier)).read_text())
    return {name: stage.get("do", stage) for name, stage in doc["stages"].items()}


def kind_of(stage: dict) -> str | None:
    """The stage kind its command runs (bbadj/util/layout.py STAGES): `bbadj stage <kind>`, `bbadj <kind>`."""
    m = re.match(r"bbadj (?:stage )?(\w+)", stage["cmd"])
    return m.group(1) if m else None


@pytest.mark.parametrize("tier", TIERS)
def test_the_pipeline_fits_a_screen(tier):
    assert len((ROOT / pipeline(tier)).read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("tier", TIERS)
def test_every_stage_depends_on_its_fingerprint_and_no_code(tier):
    reports = Path(Params.load(ROOT / "params.yaml", tier=tier).folders.reports, FOLDER).as_posix()
    for name, stage in stages(tier).items():
        deps = [str(d) for d in stage.get("deps") or []]
        if name == "fingerprint":
            assert {"bbadj", "notebooks"} <= set(deps) and stage["params"] == [{"params.yaml": None}], name
            assert stage["outs"] == [{reports: {"cache": False, "persist": True}}], name
            continue
        kind = kind_of(stage)
        assert kind in STAGES or stage["cmd"].startswith("bbadj stage report"), f"{name}: {stage['cmd']}"
        own = [d for d in deps if d.startswith(reports + "/")]
        assert len(own) == 1, f"{name} depends on {own}: one fingerprint each"
        expected = (
            "report"
            if name == "report"
            else "pretrain"
            if kind == "pretrain"
            else ("synth" if kind == "synth" else f"{'train' if kind == 'train' else 'evaluate'}/")
        )
        assert own[0].removeprefix(reports + "/").startswith(expected), (name, own)
        assert not [d for d in deps if d.split("/")[0] in ("bbadj", "notebooks", "data")], f"{name}: {deps}"
        assert not stage.get("params"), f"{name}: its settings are in its fingerprint"


@pytest.mark.parametrize("tier", TIERS)
def test_the_fingerprint_stage_lists_exactly_the_data_params_names(tier):
    deps = [str(d) for d in stages(tier)["fingerprint"]["deps"]]
    data = [d for d in deps if d not in ("bbadj", "notebooks")]
    assert data == data_inputs(Params.load(ROOT / "params.yaml", tier=tier)), (
        f"{pipeline(tier)}: its fingerprint stage's data deps differ from what params.yaml names"
    )
    assert "data" not in deps


@pytest.mark.parametrize("tier", TIERS)
def test_every_fingerprint_a_stage_depends_on_is_written(tier):
    params = Params.load(ROOT / "params.yaml", tier=tier)
    written = set(fingerprints(params, ROOT))
    reports = Path(params.folders.reports, FOLDER).as_posix()
    for name, stage in stages(tier).items():
        for d in stage.get("deps") or []:
            if str(d).startswith(reports + "/"):
                rel = str(d).removeprefix(reports + "/")
                rows = (
                    [rel.replace("${key}", n).replace("${item}", n) for n in params.names("all")]
                    if "$" in rel
                    else [rel]
                )
                assert any(r in written for r in rows), f"{name}: {d} is never written"


def test_a_stage_s_code_is_its_entry_s_closure():
    """The train stage's code: the notebook and what it imports, at any depth (imports inside
    functions too), and nothing it never imports; the synth stage's: its module's."""
    files = {f.as_posix() for f in stage_files(STAGES["train"], ROOT)}
    assert {
        "notebooks/train.ipynb",
        "bbadj/study/train_stage.py",
        "bbadj/train/engine.py",
        "bbadj/model/fusion.py",
        "bbadj/model/__init__.py",
        "bbadj/__init__.py",
    } <= files
    assert not {f for f in files if f.startswith(("bbadj/cli", "bbadj/bench", "bbadj/scoring"))}, files
    assert "bbadj/snap/adjust.py" not in files, "training no longer calibrates (evaluation does)"
    evaluate = {f.as_posix() for f in stage_files(STAGES["evaluate"], ROOT)}
    assert {"bbadj/scoring/calibration.py", "bbadj/scoring/evaluate.py", "bbadj/scoring/grabcut.py"} <= evaluate
    assert "bbadj/train/engine.py" not in evaluate
    synth = {f.as_posix() for f in stage_files(STAGES["synth"], ROOT)}
    assert "bbadj/data/synth.py" in synth and not any(f.startswith("notebooks") for f in synth)
    digests = code_files(STAGES["train"], ROOT)
    assert list(digests) == sorted(files, key=lambda f: (not f.endswith(".ipynb"), f))
    assert json.dumps(digests)  # plain strings, what the fingerprint files hold

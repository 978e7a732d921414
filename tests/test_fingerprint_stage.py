"""The fingerprint stage (bbadj/study/fingerprint_stage.py) on a copy of the repository's code,
notebooks, params and annotations: what each kind of edit changes in which stage's file, and what
it leaves byte for byte as it was (docs/which-code-trains.md)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bbadj.fingerprint import code
from bbadj.core.params import Params
from bbadj.study import fingerprint_stage as fs
from bbadj.util.layout import STAGES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path):
    """The package, the notebooks, params.yaml, both pipelines, coco128 and coco_val2017 (images linked)."""
    for d in ("bbadj", "notebooks"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("params.yaml", "dvc.yaml", "long/dvc.yaml"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    shutil.copytree(ROOT / "data" / "coco128" / "annotations", tmp_path / "data" / "coco128" / "annotations")
    (tmp_path / "data" / "coco128" / "images").symlink_to(ROOT / "data" / "coco128" / "images")
    shutil.copytree(ROOT / "data" / "coco_val2017" / "annotations", tmp_path / "data" / "coco_val2017" / "annotations")
    (tmp_path / "data" / "coco_val2017" / "images").symlink_to(ROOT / "data" / "coco_val2017" / "images")
    return tmp_path


def write(repo: Path, tier: str = "default", dry: bool = False) -> dict[str, list[str]]:
    return fs.write_fingerprints(Params.load(repo / "params.yaml", tier=tier), repo, dry)


def files(repo: Path) -> dict[str, bytes]:
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted((repo / "reports").rglob("*.json"))}


def test_what_each_edit_changes(repo):
    for tier in ("default", "long"):
        assert all(why == ["a new stage"] for why in write(repo, tier).values())
    before = files(repo)
    assert "reports/fingerprints/train/fpn.json" in before and "reports/long/fingerprints/pretrain.json" in before
    assert not write(repo) and not write(repo, "long") and files(repo) == before  # nothing changed: nothing rewritten

    # a comment, a reworded docstring, a new module, a file written under data/: nothing
    fusion = repo / "bbadj" / "model" / "fusion.py"
    fusion.write_text(fusion.read_text().replace('"""How the', '"""Said otherwise: how the') + "\n# a comment\n")
    (repo / "bbadj" / "model" / "unused.py").write_text("def later():\n    return 1\n")
    (repo / "data" / "coco128" / "annotations" / "val.snapped.json").write_text("{}")
    assert not write(repo) and not write(repo, "long") and files(repo) == before

    # one row's training setting: its training and the report, in both tiers (its evaluation reruns
    # by DVC when the model changes); its evaluation setting: its evaluation and the report
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["rows"]["fpn"]["train"] = {"lr": 3e-4}
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    assert write(repo) == {"train/fpn.json": ["config"], "report.json": ["config"]}
    assert set(write(repo, "long")) == {"train/fpn.json", "report.json"}
    p["rows"]["fpn"]["eval"] = {"passes": 2}
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    assert write(repo) == {"evaluate/fpn.json": ["config"], "report.json": ["config"]}

    # the report's code: the report; the training loop's: every train stage, no evaluation
    with open(repo / "bbadj" / "figures" / "plots.py", "a") as f:
        f.write("\nCOLUMNS = 4\n")
    assert write(repo) == {"report.json": ["code: bbadj/figures/plots.py"]}
    with open(repo / "bbadj" / "train" / "losses.py", "a") as f:
        f.write("\nSMOOTHING = 0.0\n")
    changed = write(repo)
    assert set(changed) == {f"train/{n}.json" for n in Params.load(repo / "params.yaml").names("trained")}
    assert all(why == ["code: bbadj/train/losses.py"] for why in changed.values())

    # the training data: every train stage; an evaluation set's: every evaluation and the report
    ann = repo / "data" / "coco128" / "annotations" / "val.json"
    doc = json.loads(ann.read_text())
    doc["annotations"][0]["bbox"][0] += 1
    ann.write_text(json.dumps(doc))
    changed = write(repo)
    assert {k.split("/")[0] for k in changed} == {"evaluate", "report.json"} and all(
        why == ["data"] for why in changed.values()
    )

    # a row gone: its files go
    del p["rows"]["linear"]
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    assert write(repo, dry=True)["train/linear.json"] == ["the stage is gone"]
    assert (repo / "reports" / "fingerprints" / "train" / "linear.json").exists()  # --dry writes nothing
    write(repo)
    assert not (repo / "reports" / "fingerprints" / "train" / "linear.json").exists()


def test_a_registered_variant_counts_for_its_rows_only(repo, monkeypatch):
    """With the registry plugged in (bbadj.fingerprint.code.unused_definitions; here a stand-in that drops
    the classes registered under another name than the row's model.fusion), a new fusion changes
    the digest of the rows that use it and of no other."""
    import ast

    def stand_in(source, config):
        out = set()
        for node in ast.parse(source).body:
            for dec in getattr(node, "decorator_list", []):
                if (
                    isinstance(dec, ast.Call)
                    and getattr(dec.func, "attr", "") == "register"
                    and dec.args[0].value != config["model"]["fusion"]
                ):
                    out.add(node.name)
        return out

    monkeypatch.setattr(code, "unused_definitions", stand_in)
    rows = {n: {"model": {"fusion": n}} for n in ("l4", "fpn", "l3")}
    before = {n: code.code_files(STAGES["train"], repo, c) for n, c in rows.items()}
    with open(repo / "bbadj" / "model" / "fusion.py", "a") as f:
        f.write('\n\n@FUSIONS.register("l3")\nclass Layer3(Levels):\n    levels = ("layer3",)\n')
    after = {n: code.code_files(STAGES["train"], repo, c) for n, c in rows.items()}
    assert after["l4"] == before["l4"] and after["fpn"] == before["fpn"]
    assert [f for f in after["l3"] if after["l3"][f] != before["l3"][f]] == ["bbadj/model/fusion.py"]
    monkeypatch.undo()  # without the registry every row's digest takes the new variant
    code._unused.cache_clear()
    assert code.code_files(STAGES["train"], repo, rows["l4"]) != before["l4"]


def test_a_preset_s_data_the_stage_does_not_list_is_said(repo, capsys):
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["eval"]["sets"]["extra"] = {
        "annotations": "data/coco128/annotations/train_fit.json",
        "images": "data/coco128/images",
        "role": "validation",
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    assert fs.run("default", dry=True, root=repo) == 0
    assert "does not list ['data/coco128/annotations/train_fit.json'] in its deps" in capsys.readouterr().err


def test_missing_data_is_named_with_what_to_do(repo):
    (repo / "data" / "coco128" / "annotations" / "train.json").unlink()
    with pytest.raises(fs.StudyError, match=r"train\.json: data/coco128 is part of the repository"):
        write(repo)


def test_the_stage_imports_no_torch(repo):
    code_ = "import sys; from bbadj.cli.main import main; main(['fingerprint', '--dry']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code_], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False" and "would change reports/fingerprints/train/l4.json: a new stage" in out

"""A checkpoint resumes only its own run: new settings, training data, code or starting weights
start the run over (or stop the command line), so that `dvc repro` never keeps a stale model."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from bbadj.fingerprint import run as fingerprint
from bbadj.util.layout import TRAINING
from bbadj.train.engine import train
from test_engine import _same, _weights, tiny_config


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture()
def finished(tiny_synth, tmp_path):
    """A finished tiny run on a private copy of the synthetic training set."""
    data = tmp_path / "data"
    shutil.copytree(tiny_synth / "train", data)
    cfg = tiny_config(data.parent, max_steps=2).with_overrides(
        {"data": {"train_annotations": str(data / "annotations.json"), "train_images": str(data / "images")}}
    )
    train(cfg, tmp_path / "run", progress=False)
    return cfg, tmp_path / "run", data


def _restarted(cfg, run: Path, part: str, capsys) -> None:
    """The command line's default refuses, naming ``part``; the study's policy starts over."""
    before = _md5(run / "model.pt")
    with pytest.raises(RuntimeError, match=f"its {part} differ"):
        train(cfg, run, progress=False)
    train(cfg, run, other_run="restart", progress=False)
    out = capsys.readouterr().out
    assert "starting over" in out and "resuming" not in out
    assert _md5(run / "model.pt") != before, "the model was trained again"
    steps = [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2], "the log of the old run is gone"


def test_the_same_inputs_resume(finished, capsys):
    cfg, run, _ = finished
    before = _weights(run / "model.pt")
    train(cfg, run, progress=False)  # finished: resumes at its last step, trains nothing
    assert "resuming" in capsys.readouterr().out
    _same(before, _weights(run / "model.pt"))
    assert (
        torch.load(run / "model.pt", weights_only=False)["inputs"]
        == torch.load(run / "last.pt", weights_only=False)["inputs"]
    )


def test_new_params_start_over(finished, capsys):
    cfg, run, _ = finished
    _restarted(cfg.with_overrides({"train": {"seed": 5}}), run, "config", capsys)


def test_new_training_data_start_over(finished, capsys):
    """The probe of the issue: the synthetic set regenerated with another seed (here: one box moved)."""
    cfg, run, data = finished
    doc = json.loads((data / "annotations.json").read_text())
    doc["annotations"][0]["bbox"][0] += 1.0
    (data / "annotations.json").write_text(json.dumps(doc))
    _restarted(cfg, run, "data", capsys)


def test_a_replaced_image_starts_over(finished, capsys):
    cfg, run, data = finished
    image = sorted((data / "images").iterdir())[0]
    image.write_bytes(image.read_bytes() + b"\0")  # same picture, another file
    _restarted(cfg, run, "data", capsys)


def test_new_code_starts_over(finished, capsys, monkeypatch):
    cfg, run, _ = finished
    monkeypatch.setattr(fingerprint, "code_digest", lambda *args: "another version of bbadj")
    _restarted(cfg, run, "code", capsys)


def test_a_new_starting_model_starts_over(finished, tmp_path, capsys):
    """A finetune run (model.init_from) whose `from` model was retrained."""
    cfg, run, _ = finished
    start = tmp_path / "start.pt"
    shutil.copy(run / "model.pt", start)
    tuned = cfg.with_overrides({"model": {"init_from": str(start)}})
    train(tuned, tmp_path / "tuned", progress=False)
    train(cfg.with_overrides({"train": {"seed": 9}}), tmp_path / "other", progress=False)
    shutil.copy(tmp_path / "other" / "model.pt", start)
    _restarted(tuned, tmp_path / "tuned", "weights", capsys)


def test_code_digest_is_the_training_code_normalised(tmp_path):
    """The checkpoint's code: what the training loop imports, at any depth; a comment, a docstring,
    a reformatting, a new module or an edit of the report's code changes nothing; an edit of the
    loss does."""
    pkg = tmp_path / "bbadj"
    shutil.copytree(Path(fingerprint.__file__).parents[1], pkg, ignore=shutil.ignore_patterns("__pycache__"))
    digest = lambda: fingerprint.code_digest(TRAINING, tmp_path)  # noqa: E731
    base = digest()
    assert fingerprint.code_digest(TRAINING, Path(fingerprint.__file__).parents[2]) == base
    fusion = pkg / "model" / "fusion.py"
    source = fusion.read_text()
    fusion.write_text(
        source.replace('"""How the backbone', '"""Reworded: how the backbone').replace(
            "def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:",
            "def _resize(x: torch.Tensor,\n            like: torch.Tensor) -> torch.Tensor:  # wrapped",
        )
        + "\n# a comment\n"
    )
    assert fusion.read_text() != source and digest() == base
    (pkg / "model" / "unused.py").write_text("def nothing():\n    return 1\n")
    with open(pkg / "figures" / "plots.py", "a") as f:
        f.write("\nREPORT_ONLY = 1\n")
    assert digest() == base
    with open(pkg / "train" / "losses.py", "a") as f:
        f.write("\nLOSS_CHANGE = 1\n")
    assert digest() != base


def test_a_checkpoint_without_fingerprints_is_never_resumed():
    now = {p: "x" for p in fingerprint.PARTS}
    assert fingerprint.changed_parts(None, now) == list(fingerprint.PARTS)
    assert fingerprint.changed_parts(dict(now), now) == []

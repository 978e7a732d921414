"""A row's seeds trained side by side (``study.seeds_at_once``), each in its own process, end with
the weights they get one after another: the setting buys time and changes no result. A seed that
fails stops the stage with its seed named."""

from __future__ import annotations

import pytest
import torch
import yaml

from bbadj.core.params import Params
from bbadj.study.train_stage import train_row


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from bbadj.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("at_once")
    make_synthetic(root / "data", 8, seed=3, progress=False)
    base = {
        "data": {
            "train_annotations": str(root / "data" / "annotations.json"),
            "train_images": str(root / "data" / "images"),
            "crop_size": 32,
        },
        "model": {"backbone": "resnet18", "pretrained": "none", "train_from": "stem", "hidden": 64},
        "train": {"batch_size": 8, "max_steps": 3, "warmup_steps": 1, "device": "cpu", "log_every": 1, "threads": 1},
        "rows": {"a": {}},
    }

    def run(name: str, at_once: int, **train) -> tuple[dict, list[str]]:
        params = root / f"{name}.yaml"
        cfg = {**base, "train": {**base["train"], **train}, "study": {"seeds": 2, "seeds_at_once": at_once}}
        params.write_text(yaml.safe_dump(cfg))
        lines = []
        train_row(Params.load(params), "a", root / name, root / f"{name}_curves", echo=lines.append)
        return {
            k: torch.load(root / name / "a" / f"seed{k}" / "model.pt", weights_only=False)["model"] for k in (0, 1)
        }, lines

    return root, run


def test_side_by_side_gives_the_weights_of_one_after_another(study):
    root, run = study
    together, lines = run("together", 2)
    in_turn, _ = run("in_turn", 1)
    assert any("2 at a time" in line for line in lines)
    assert any(line.startswith("seed 2: done") for line in lines)
    for k in (0, 1):
        assert together[k].keys() == in_turn[k].keys()
        for name, w in together[k].items():
            assert torch.equal(w, in_turn[k][name]), f"seed {k}: {name} differs"
    assert any(not torch.equal(w, together[1][name]) for name, w in together[0].items())  # two seeds, two models
    assert (root / "together_curves" / "a" / "seed1" / "plots" / "metrics" / "loss.tsv").exists()


def test_a_failing_seed_names_itself(study):
    """Both seeds start from a file that is no checkpoint, which only the training itself reads."""
    root, _ = study
    (root / "not_a_checkpoint.pt").write_text("not a checkpoint")
    cfg = yaml.safe_load((root / "together.yaml").read_text())
    cfg["model"]["init_from"] = str(root / "not_a_checkpoint.pt")
    (root / "failing.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(RuntimeError, match=r"^a, seed [12] of 2 failed: ") as failure:
        train_row(Params.load(root / "failing.yaml"), "a", root / "failing", root / "failing_curves", echo=None)
    print(failure.value)

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this environment's dvc, papermill and bbadj
COCO128 = ROOT / "data" / "coco128"  # in the repository: real photographs for every test
COCO128_ANN = COCO128 / "annotations" / "instances_train2017.json"
COCO128_IMAGES = COCO128 / "images"


def tool_env(**extra: str) -> dict:
    """The environment for dvc, git and bbadj in a scratch repository: this environment's tools first
    on PATH, no DVC analytics, a git identity (a CI machine has none)."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        **extra,
    }


def run(args, cwd, env, timeout: float = 900, check: bool = True, stdout_only: bool = False) -> str:
    """Run a command; with ``check``, a non-zero exit fails the test with the end of its output.
    Returns stdout and stderr together (stdout alone with ``stdout_only``)."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout if stdout_only else proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def coco128():
    """All 929 boxes of the in-repository coco128 (annotations, images)."""
    if not COCO128_ANN.exists():
        pytest.fail(f"real-data fixture missing: {COCO128_ANN} (part of the repository: git checkout -- data/coco128)")
    return COCO128_ANN, COCO128_IMAGES


def write_coco(path: Path, images, annotations):
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]})
    )
    return path


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A small synthetic train/val pair shared by the training tests."""
    from bbadj.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("synth")
    make_synthetic(root / "train", 24, seed=1, progress=False)
    make_synthetic(root / "val", 8, seed=2, progress=False)
    return root


# The study's default real-photo recipe (study.baseline): efficientnet_lite0 with ImageNet weights
# (installed with the package, offline), coco128's train split, 64 px crops, buffer 1.3; trained
# only SNAP_STEPS steps, enough to snap perturbed coco128 val boxes closer to the truth
# (tests/test_snap.py measures it).
SNAP_STEPS = 300
SNAP_RECIPE = {
    "data": {
        "train_annotations": str(COCO128 / "annotations" / "train.json"),
        "train_images": str(COCO128_IMAGES),
        "crop_size": 64,
        "buffer_ratio": 1.3,
    },
    "model": {"backbone": "efficientnet_lite0", "pretrained": "imagenet"},
    "train": {
        "batch_size": 32,
        "lr": 1e-3,
        "max_steps": SNAP_STEPS,
        "warmup_steps": 30,
        "device": "cpu",
        "checkpoint_every": SNAP_STEPS,
        "log_every": SNAP_STEPS,
    },
}


@pytest.fixture(scope="session")
def snap_model(tmp_path_factory):
    """The path of a small trained model of the default real-photo recipe (SNAP_RECIPE), trained
    once per test session (about 0.25 s a step on a quiet 2-core CPU)."""
    from bbadj.core.config import Config
    from bbadj.train.engine import train

    out = tmp_path_factory.mktemp("snap_model")
    train(Config().with_overrides(SNAP_RECIPE), out, progress=False)
    return out / "model.pt"


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """An untrained tiny model (32 px crops, hidden 16, seed 0) saved as a checkpoint: for the tests
    of file handling, command lines and drawing, not of snapping quality."""
    import torch

    from bbadj.model.checkpoint import save_atomic
    from bbadj.core.config import Config
    from bbadj.model import build_model

    cfg = Config().with_overrides({"data": {"crop_size": 32}, "model": {"hidden": 16}})
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_atomic(
        {"model": build_model(cfg.model, cfg.data.geometry).state_dict(), "config": cfg.to_dict(), "step": 0}, path
    )
    return path

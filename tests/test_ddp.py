"""Multi-process training (DDP under torchrun, gloo on CPU) gives the weights of one process.

- ``torchrun --nproc_per_node 2 -m bbadj train ...`` for 4 steps ends with the same weights
  as a single-process run with the same global batch: each rank cuts its half of the global
  batch (``TrainBatches(rank, world_size)``), DDP averages the gradients, which is the
  gradient of the mean over the whole batch.
- A checkpoint written by the 2-process run at step 2 resumes in a 1-process run, which ends
  with those same weights: resuming does not depend on the number of processes.

The backbone uses ``model.norm=frozen``: trainable BatchNorm would normalise each rank's half
batch with its own statistics, so the two runs would legitimately differ (the decoders use
GroupNorm, which is per sample). ``bce_onehot`` and ``hidden=64`` avoid parameters whose
gradient is zero in exact arithmetic (a bias before per-channel GroupNorm; the head bias under
a softmax loss): Adam turns the rounding noise in such gradients into full-size steps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bbadj.core.config import Config
from bbadj.core.params import load_config
from bbadj.train.engine import train

STEPS = 4
# Compared tensor by tensor: |w_ddp - w_single| must be under 1% of |w_single - w_initial|, how
# far training moved that tensor. Float rounding in the all-reduce gives ~0.1% (Adam amplifies it
# in the odd element whose gradient is ~0, so an element-wise tolerance would be flaky); a rank
# with the wrong data or unaveraged gradients gives tens of percent.
REL_TOL = 1e-2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from bbadj.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("ddp")
    make_synthetic(root / "data", 8, seed=3, progress=False)
    overrides = {
        "data": {
            "train_annotations": str(root / "data" / "annotations.json"),
            "train_images": str(root / "data" / "images"),
            "crop_size": 32,
            "num_workers": 0,
        },
        "model": {"backbone": "resnet18", "pretrained": "none", "train_from": "stem", "norm": "frozen", "hidden": 64},
        "train": {
            "batch_size": 8,
            "max_steps": STEPS,
            "warmup_steps": 1,
            "lr": 1e-3,
            "loss": "bce_onehot",
            "device": "cpu",
            "log_every": 1,
            "checkpoint_every": 2,
        },
    }
    cfg = load_config(None, overrides)
    single = root / "single"
    with _threads(1):
        train(cfg, single, progress=False)
    return root, cfg, overrides, single


class _threads:
    """Run with this many torch threads, then restore (tests share the process)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def torchrun(args: list[str], cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", map_location="cpu", weights_only=False)["model"]


def assert_same_weights(a: dict, b: dict, initial: dict) -> None:
    assert a.keys() == b.keys()
    moved_any = False
    for k in a:
        if not a[k].is_floating_point():
            continue
        diff, moved = (a[k] - b[k]).norm().item(), (b[k] - initial[k]).norm().item()
        moved_any |= moved > 0
        assert diff <= REL_TOL * moved + 1e-6, f"{k}: runs differ by {diff:.3g}, training moved it by {moved:.3g}"
    assert moved_any, "training did not move the weights: the comparison would mean nothing"


def initial_weights(cfg: Config) -> dict:
    from bbadj.model import build_model

    torch.manual_seed(cfg.train.seed)  # as engine.train does before building the model
    return build_model(cfg.model, cfg.data.geometry).state_dict()


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_two_processes_match_one(setup):
    root, cfg, overrides, single = setup
    sets = [f"--set={section}.{k}={v}" for section, d in overrides.items() for k, v in d.items()]
    # `-m bbadj train` works under torchrun: bbadj/__main__.py runs the CLI
    torchrun(["-m", "bbadj", "train", "--no-progress", "--out", str(root / "ddp"), *sets], cwd=root)
    assert_same_weights(weights(root / "ddp"), weights(single), initial_weights(cfg))
    # the logged loss is the mean over ranks: the loss of the whole global batch
    assert losses(root / "ddp") == pytest.approx(losses(single), rel=1e-4)
    assert not (root / "ddp" / "last.pt.tmp").exists()


def test_two_process_checkpoint_resumes_in_one_process(setup):
    root, cfg, _, single = setup
    script = root / "stop_at_2.py"
    script.write_text(
        "import json, sys\n"
        "from bbadj.core.config import Config\n"
        "from bbadj.train.engine import train\n"
        "train(Config.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False, stop_after=2)\n"
    )
    run = root / "ddp_then_single"
    torchrun([str(script), json.dumps(cfg.to_dict()), str(run)], cwd=root)
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["step"] == 2 and not (run / "model.pt").exists()
    shutil.copy(run / "last.pt", root / "step2.pt")
    with _threads(1):
        train(cfg, run, progress=False)  # one process picks up the 2-process checkpoint
    assert torch.load(run / "model.pt", map_location="cpu", weights_only=False)["step"] == STEPS
    assert_same_weights(weights(run), weights(single), initial_weights(cfg))
    assert [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_the_study_train_stage_runs_under_torchrun(setup, monkeypatch):
    """train.nproc_per_node = 2 makes the study's train stage launch torchrun (2 gloo processes
    on CPU), which ends with the weights of the 1-process run of the same global batch."""
    import yaml

    from bbadj.core.params import Params
    from bbadj.study.train_stage import torchrun_command, train_row

    root, cfg, overrides, single = setup
    params = root / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                **overrides,
                "train": {**overrides["train"], "nproc_per_node": 2},
                "rows": {"a": {}},
                "study": {"seeds": 1},
            }
        )
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    lines = []
    train_row(
        Params.load(params, runs_dir=root / "study_runs"), "a", root / "study_runs", root / "curves", echo=lines.append
    )
    assert (
        "torch.distributed.run" in lines[0]
        and "--nproc_per_node 2" in lines[0]
        and "--row a --seed-index 0" in lines[0]
    )
    assert_same_weights(weights(root / "study_runs" / "a" / "seed0"), weights(single), initial_weights(cfg))
    assert (root / "curves" / "a" / "seed0" / "plots" / "metrics" / "loss.tsv").exists()
    # across machines: torchrun's own PET_* variables replace --standalone
    monkeypatch.setenv("PET_NNODES", "2")
    assert "--standalone" not in torchrun_command("a", params, "runs", 8)

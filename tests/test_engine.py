"""Training: warm-up + cosine schedule, deterministic resume after a kill, clear config errors."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from bbadj.config import Config
from bbadj.engine import train, warmup_cosine


def tiny_config(root, **train_over) -> Config:
    return Config().with_overrides({
        "data": {"train_annotations": str(root / "train/annotations.json"), "train_images": str(root / "train/images"),
                 "crop_size": 32, "num_workers": 0},
        "model": {"hidden": 16},
        "train": {"batch_size": 4, "max_steps": 6, "warmup_steps": 2, "checkpoint_every": 2, "log_every": 1,
                  "device": "cpu", **train_over},
    })


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_warmup_then_cosine():
    f = warmup_cosine(4, 14)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(9) == pytest.approx(0.5)
    assert f(14) == pytest.approx(0.0, abs=1e-12)


def test_interrupted_run_resumes_to_the_same_weights(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth)
    train(cfg, tmp_path / "full", progress=False)
    # "killed" after step 3: the last checkpoint is step 2, so step 3 is redone on restart
    train(cfg, tmp_path / "cut", progress=False, stop_after=3)
    assert torch.load(tmp_path / "cut/last.pt", weights_only=False)["step"] == 2
    assert not (tmp_path / "cut/model.pt").exists()
    train(cfg, tmp_path / "cut", progress=False)
    _same(_weights(tmp_path / "full/model.pt"), _weights(tmp_path / "cut/model.pt"))
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut/train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6], "the resumed log has no duplicated steps"


def test_a_different_configuration_refuses_to_resume(tiny_synth, tmp_path):
    train(tiny_config(tiny_synth), tmp_path / "run", progress=False, stop_after=2)
    with pytest.raises(RuntimeError, match="its config differ"):
        train(tiny_config(tiny_synth, lr=0.5), tmp_path / "run", progress=False)


def test_killed_process_resumes_to_the_same_weights(tiny_synth, tmp_path):
    """A real SIGKILL part-way through ``bbadj train``, then the same command again."""
    cfg = tiny_config(tiny_synth, max_steps=10, checkpoint_every=2)
    params = tmp_path / "params.yaml"
    import yaml

    params.write_text(yaml.safe_dump(cfg.to_dict()))
    cmd = [sys.executable, "-m", "bbadj", "train", "--params", str(params), "--no-progress"]
    subprocess.run(cmd + ["--out", str(tmp_path / "full")], check=True, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "last.pt").exists() and torch.load(run / "last.pt", weights_only=False)["step"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(run / "last.pt", weights_only=False)["step"]
    assert step < 10, "the run was killed before it finished"
    subprocess.run(cmd + ["--out", str(run)], check=True, capture_output=True)
    _same(_weights(tmp_path / "full/model.pt"), _weights(run / "model.pt"))


def test_a_checkpoint_of_another_configuration(tiny_synth, tmp_path):
    """Resuming picks up only the same run (where it runs and how often it logs may differ);
    another configuration's checkpoint is an error, or, when asked (the study), a fresh start."""
    cfg = tiny_config(tiny_synth, max_steps=2)
    train(cfg, tmp_path / "run", progress=False)
    train(cfg.with_overrides({"train": {"log_every": 2, "nproc_per_node": 4}}), tmp_path / "run", progress=False)
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2  # resumed at the end: nothing redone
    other = cfg.with_overrides({"train": {"lr": 0.5}})
    with pytest.raises(RuntimeError, match="its config differ"):
        train(other, tmp_path / "run", progress=False)
    train(other, tmp_path / "run", other_run="restart", progress=False)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["config"]["train"]["lr"] == 0.5


def test_amp_dtype_follows_the_device():
    from bbadj.engine import amp_dtype

    assert amp_dtype(torch.device("cpu")) == torch.bfloat16  # never asks CUDA about a CPU run

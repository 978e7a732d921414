"""Training: warm-up + cosine schedule, deterministic resume after a kill, clear config errors."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from bbadj.core.config import Config
from bbadj.train.engine import train, warmup_cosine


def tiny_config(root, **train_over) -> Config:
    return Config().with_overrides(
        {
            "data": {
                "train_annotations": str(root / "train/annotations.json"),
                "train_images": str(root / "train/images"),
                "crop_size": 32,
                "num_workers": 0,
            },
            "model": {"hidden": 16},
            "train": {
                "batch_size": 4,
                "max_steps": 6,
                "warmup_steps": 2,
                "checkpoint_every": 2,
                "log_every": 1,
                "device": "cpu",
                **train_over,
            },
        }
    )


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
    assert (
        len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2
    )  # resumed at the end: nothing redone
    other = cfg.with_overrides({"train": {"lr": 0.5}})
    with pytest.raises(RuntimeError, match="its config differ"):
        train(other, tmp_path / "run", progress=False)
    train(other, tmp_path / "run", other_run="restart", progress=False)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["config"]["train"]["lr"] == 0.5


def test_amp_dtype_follows_the_device():
    from bbadj.train.engine import amp_dtype

    assert amp_dtype(torch.device("cpu")) == torch.bfloat16  # never asks CUDA about a CPU run


def _steps(run):
    return [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def _nan_at(monkeypatch, step, where):
    """Make training go wrong at ``step``: its loss (``where="loss"``) or, after its update, one
    weight (``where="weights"``) becomes NaN."""
    import bbadj.train.engine as engine

    calls = {"n": 0}
    forward_loss, optimizer_step = engine.forward_loss, engine.optimizer_step

    def bad_loss(*args):
        calls["n"] += 1
        loss = forward_loss(*args)
        return loss * float("nan") if where == "loss" and calls["n"] == step else loss

    def bad_step(loss, model, *args):
        optimizer_step(loss, model, *args)
        if where == "weights" and calls["n"] == step:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    monkeypatch.setattr(engine, "forward_loss", bad_loss)
    monkeypatch.setattr(engine, "optimizer_step", bad_step)


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny_synth, tmp_path, monkeypatch):
    from bbadj.util.errors import RunError

    cfg = tiny_config(tiny_synth, log_every=2, checkpoint_every=2)
    _nan_at(monkeypatch, 3, "loss")
    with pytest.raises(RunError, match=r"the loss is nan at step 3; nothing was saved after step 2.*lower train\.lr"):
        train(cfg, tmp_path / "run", progress=False)
    ckpt = torch.load(tmp_path / "run/last.pt", weights_only=False)
    assert ckpt["step"] == 2 and all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
    assert not (tmp_path / "run/model.pt").exists()
    assert _steps(tmp_path / "run") == [2], "the step of the NaN loss (4 would be next) is not logged"


def test_non_finite_weights_are_never_saved(tiny_synth, tmp_path, monkeypatch):
    """A NaN gradient can leave the loss of its step finite: the weights are checked before saving."""
    from bbadj.util.errors import RunError

    _nan_at(monkeypatch, 4, "weights")
    with pytest.raises(RunError, match=r"after step 4, 1 of \d+ weight tensors hold NaN"):
        train(tiny_config(tiny_synth, checkpoint_every=2), tmp_path / "run", progress=False)
    assert torch.load(tmp_path / "run/last.pt", weights_only=False)["step"] == 2


def test_a_diverging_learning_rate_exits_with_an_error(tiny_synth, tmp_path):
    """The probe of issue 17: train.lr=1e6 gave a NaN model.pt and exit code 0."""
    cfg = tiny_config(tiny_synth, lr=1e6)
    params = tmp_path / "params.yaml"
    import yaml

    params.write_text(yaml.safe_dump(cfg.to_dict()))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bbadj",
            "train",
            "--params",
            str(params),
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "bbadj train: error: training diverged: the loss is nan at step" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run/model.pt").exists()


def test_a_damaged_checkpoint_is_named(tiny_synth, tmp_path, capsys):
    from bbadj.util.errors import DataError

    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_text("garbage\n")
    with pytest.raises(DataError, match=r"run/last\.pt: cannot read this training checkpoint.*--restart"):
        train(tiny_config(tiny_synth), run, progress=False)
    train(tiny_config(tiny_synth, max_steps=1), run, resume=False, progress=False)  # --restart: starts over
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 1


def test_a_second_run_into_the_same_directory_stops(tiny_synth, tmp_path):
    """Two `bbadj train --out same`: the second says the first holds the directory and exits 2,
    instead of racing it on last.pt.tmp."""
    import yaml

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_config(tiny_synth, max_steps=100000, checkpoint_every=1000).to_dict()))
    cmd = [
        sys.executable,
        "-m",
        "bbadj",
        "train",
        "--params",
        str(params),
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    ]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run/train_log.jsonl").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)  # the first holds the lock before it logs its first step
        assert first.poll() is None, "the first run is still training"
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the second run did not disturb the first"
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert f"is being trained by another process (pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr


def test_train_threads_holds_for_the_run_only(tiny_synth, tmp_path):
    """train.threads (a rerun key of the noise rule: the same recipe, sums in another order) sets
    torch's thread count while training and gives the caller's back afterwards."""
    before = torch.get_num_threads()
    seen = []
    train(
        tiny_config(tiny_synth, threads=1, max_steps=2),
        tmp_path / "run",
        progress=False,
        on_log=lambda entry: seen.append(torch.get_num_threads()),
    )
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before

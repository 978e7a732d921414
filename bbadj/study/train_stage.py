"""The train stage: one trained row of the study, every seed of it in this one process (one
kernel start per row), each into ``runs/<row>/seed<k>/`` (resuming a crashed run of the same
inputs, and stopping at once where a seed has finished), and its training curves, logged with dvclive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..core.params import Params
from ..core.tiers import DEFAULT, seed_dir
from .preflight import preflight


def train_row(
    params: Params,
    name: str,
    runs_dir: str | Path | None = None,
    curves_dir: str | Path | None = None,
    progress: bool = False,
    echo: Callable[[str], None] | None = print,
) -> dict[int, dict]:
    """Train every seed k of row ``name`` (of ``rows`` or ``finetune``: ``train.seed + k``; a tier's
    synthetic pretraining: one) into ``runs_dir/name/seed<k>`` (default: the tier's ``runs``; a
    pretraining into its own folder), one after another, and write each one's training curves with
    dvclive into ``curves_dir/name/seed<k>`` (default: the tier's ``reports/train``), and the
    stage's device and duration into ``curves_dir/name/run.json``. A seed resumes a crashed run of
    the same inputs, and a finished one (its checkpoint of the same inputs at its last step) stops at
    once: a rerun of the stage for another seed's sake trains nothing twice. ``study.seeds_at_once``
    seeds train at a time, each in a process of its own (the weights do not depend on it). With
    ``train.nproc_per_node`` > 1 each seed trains under torchrun (``bbadj train --row``), one
    process per device, one seed after another. Returns each seed's last log entry."""
    import time

    from ..train.engine import train
    from ..util.device import resolve_device
    from .provenance import write_run_record

    started = time.time()
    if name not in params.names("trained") + params.names("pretrain"):
        raise KeyError(f"{name!r} is not a trained row (rows or finetune) of {params.path}")
    seeds = {k: params.seed_config(name, k) for k in params.seeds(name)}
    for cfg in seeds.values():  # every seed's inputs checked before any trains
        preflight(cfg, "train")
    where = params.folders
    run_dirs = {
        k: where.run_dir(name, k) if runs_dir is None else _seed_dir(Path(runs_dir) / name, name, k) for k in seeds
    }
    at_once = min(params.report.seeds_at_once, len(seeds))
    if at_once > 1 and all(cfg.train.nproc_per_node == 1 for cfg in seeds.values()):
        entries = _train_at_once(name, seeds, run_dirs, at_once, echo)
    else:
        entries = {}
        for k, cfg in seeds.items():
            if echo and len(seeds) > 1:
                echo(f"{name}, seed {k + 1} of {len(seeds)} (train.seed {cfg.train.seed}) into {run_dirs[k]}")
            # a crashed run resumes; DVC reruns this stage when its inputs change, and a checkpoint of the
            # old inputs then starts over (bbadj.fingerprint.run)
            if cfg.train.nproc_per_node > 1:
                entries[k] = _torchrun(name, k, params, run_dirs[k], cfg.train.nproc_per_node, echo)
            else:

                def on_log(entry: dict, cfg=cfg) -> None:  # a line now and then where no progress bar reports the loss
                    if echo and not progress and entry["step"] % (cfg.train.log_every * 10) == 0:
                        echo(f"step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

                entries[k] = train(cfg, run_dirs[k], other_run="restart", progress=progress, on_log=on_log)
    for k in seeds:
        curve_dir = where.curves_dir(name, k) if curves_dir is None else _seed_dir(Path(curves_dir) / name, name, k)
        write_training_curves(run_dirs[k] / "train_log.jsonl", curve_dir)
    stage_dir = where.curves_dir(name) if curves_dir is None else Path(curves_dir) / name
    write_run_record(stage_dir, resolve_device(params[name].config.train.device), started)
    return entries


def _train_at_once(name: str, seeds: dict, run_dirs: dict, at_once: int, echo) -> dict[int, dict]:
    """Train the seeds ``at_once`` at a time, each in a spawned process (``_train_seed``); their log
    lines come back through a queue, prefixed with the seed. The first failure stops the others and
    is raised here; an interrupt (Ctrl-C reaches the whole process group) ends them all."""
    import multiprocessing as mp
    import queue as queue_lib
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # no fork of a kernel that has threads and torch's state
    lines = ctx.Queue()
    if echo:
        echo(f"{name}: {len(seeds)} seeds, {at_once} at a time (study.seeds_at_once), each in its own process")
    pool = ProcessPoolExecutor(at_once, mp_context=ctx, initializer=_set_log_queue, initargs=(lines,))
    try:
        futures = {pool.submit(_train_seed, name, k, len(seeds), cfg, run_dirs[k]): k for k, cfg in seeds.items()}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            _drain(lines, echo, queue_lib)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                k = futures[failed[0]]
                raise RuntimeError(f"{name}, seed {k + 1} of {len(seeds)} failed: {failed[0].exception()}") from (
                    failed[0].exception()
                )
        _drain(lines, echo, queue_lib)
        return {futures[f]: f.result() for f in futures}
    except BaseException:  # a failure or an interrupt: the other trainings would run on for minutes
        for process in list(pool._processes.values()):  # no public way before Python 3.14's terminate_workers
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_log_queue = None


def _set_log_queue(q) -> None:
    global _log_queue
    _log_queue = q


def _drain(lines, echo, queue_lib) -> None:
    while True:
        try:
            line = lines.get_nowait()
        except queue_lib.Empty:
            return
        if echo:
            echo(line)


def _train_seed(name: str, k: int, n: int, cfg, run_dir: Path) -> dict:
    """One seed in a process of the pool: as the one-after-another path trains it, a line per
    ``train.log_every * 10`` steps."""
    import time

    from ..train.engine import train

    started = time.time()
    say = _log_queue.put
    say(f"{name}, seed {k + 1} of {n} (train.seed {cfg.train.seed}) into {run_dir}")

    def on_log(entry: dict) -> None:
        if entry["step"] % (cfg.train.log_every * 10) == 0:
            say(f"seed {k + 1}: step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

    entry = train(cfg, run_dir, other_run="restart", progress=False, on_log=on_log)
    say(f"seed {k + 1}: done in {time.time() - started:.0f} s")
    return entry


def _seed_dir(folder: Path, name: str, k: int) -> Path:
    """Seed k's folder in a row's folder; a pretraining (one seed) has none."""
    from ..core.tiers import pretrain_start

    return folder if pretrain_start(name) else seed_dir(folder, k)


def torchrun_command(
    name: str, params_path: str | Path, run_dir: str | Path, nproc: int, tier: str = DEFAULT, seed: int = 0
) -> list[str]:
    """``torchrun --nproc_per_node N -m bbadj train --row NAME --seed-index K ...``. Single machine by
    default (``--standalone``); with torchrun's own PET_NNODES/PET_NODE_RANK/PET_RDZV_ENDPOINT
    variables set, it joins a multi-machine run instead."""
    import os
    import sys

    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    if os.environ.get("PET_NNODES", "1") == "1":
        launch.append("--standalone")
    return launch + [
        "-m",
        "bbadj",
        "train",
        "--params",
        str(params_path),
        "--row",
        name,
        "--seed-index",
        str(seed),
        "--tier",
        tier,
        "--out",
        str(run_dir),
        "--no-progress",
        "--restart-if-changed",
    ]


def _torchrun(name, seed, params, run_dir, nproc, echo) -> dict:
    import subprocess

    cmd = torchrun_command(name, params.path, run_dir, nproc, params.tier, seed)
    if echo:
        echo(" ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:  # streamed, so the notebook (and the terminal) see the progress
        tail = (tail + [line])[-50:]
        if echo:
            echo(line.rstrip())
    if proc.wait():
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{''.join(tail)}")
    log = read_train_log(Path(run_dir) / "train_log.jsonl")
    return log[-1] if log else {}


def read_train_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_training_curves(log_path: str | Path, live_dir: str | Path) -> None:
    """Replay a train_log.jsonl into dvclive (``live_dir/plots/metrics/*.tsv`` and
    ``live_dir/metrics.json``), whole, so a resumed run still has its full curve. dvclive writes
    into a temporary folder beside ``live_dir``; each file then replaces its tracked copy in one
    step (``os.replace``), so a stage stopped at any moment leaves every curve old or new, never
    cut short, and curves dvclive no longer writes go."""
    import os
    import shutil
    import tempfile

    from dvclive import Live

    live_dir = Path(live_dir)
    live_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{live_dir.name}.", suffix=".tmp", dir=live_dir.parent))
    try:
        with Live(str(tmp), dvcyaml=False, save_dvc_exp=False, report=None) as live:
            for entry in read_train_log(log_path):
                live.step = int(entry["step"])
                for key in ("loss", "lr", "boxes_per_s"):
                    live.log_metric(key, float(entry[key]))
                live.log_metric("epoch", float(entry["epoch"]), plot=False)
                live.next_step()
        written = {f.relative_to(tmp) for f in tmp.rglob("*") if f.is_file()}
        for rel in sorted(written):
            (live_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, live_dir / rel)
        stale = live_dir / "plots" / "metrics"
        for f in stale.rglob("*") if stale.exists() else ():
            if f.is_file() and f.relative_to(live_dir) not in written:
                f.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

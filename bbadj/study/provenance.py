"""Where the numbers come from: each stage records its device, torch version and duration beside
its outputs (``run.json``), and the report's header names the commit, date and machine."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"


def run_record(device, started: float) -> dict:
    """Provenance of one stage's run that began at ``started`` (``time.time()``) on ``device``."""
    import torch

    from ..util.device import describe_device

    return {
        "device": describe_device(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
    }


def write_run_record(folder: str | Path, device, started: float) -> dict:
    from ..util.outputs import write_json

    record = run_record(device, started)
    write_json(Path(folder) / RUN_FILE, record)
    return record


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def header() -> dict:
    """The report's provenance: when and from which commit it was rendered, with which torch."""
    import torch

    commit = _git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    # the stages' own outputs (dvc.lock, reports/) change during `dvc repro`: not a change of the code
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock", ":!reports").splitlines()
    if changed:
        paths = [line.split(None, 1)[1] for line in changed]
        commit += f" with uncommitted changes to {', '.join(paths[:5])}" + (
            f" and {len(paths) - 5} more" if len(paths) > 5 else ""
        )
    return {
        "rendered": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def run_table(stages: list[tuple[str, str, Path]]) -> Any:
    """One line per stage that left a ``run.json`` in its folder (``stages``: (row, stage, folder),
    stage train | evaluate): the row, the stage, its device, torch version, start and minutes."""
    import pandas as pd

    rows = []
    for name, stage, folder in stages:
        p = Path(folder) / RUN_FILE
        if p.exists():
            r = json.loads(p.read_text())
            rows.append(
                {
                    "row": name,
                    "stage": stage,
                    "device": r["device"],
                    "torch": r["torch"],
                    "started (UTC)": r["started"].replace("T", " ")[:16],
                    "minutes": round(r["seconds"] / 60, 2),
                }
            )
    return pd.DataFrame(rows, columns=["row", "stage", "device", "torch", "started (UTC)", "minutes"])

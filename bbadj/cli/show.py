"""``bbadj show``: the study's runs side by side, one evaluation set at a time, in percent.

A run is the workspace, the committed baseline (HEAD) or a DVC experiment on it: what ``dvc exp
show --json`` lists. Each run holds the study's metric files, ``reports/metrics/<row>/<set>.json``
(every metric in percent under its key, ``bbadj.scoring.metrics``). For each set and metric
one table: a line per row of the study (``Params.names()`` order: identity, GrabCut, then the
rows; rows only other runs have come last), a column per run, ``-`` where a run lacks the row.
Columns that do not fit the width go into a second table below the first.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..scoring import metrics
from ..core.params import BASELINES, Params, flatten
from ..core.tiers import DEFAULT, folders


def metric_file(tier: str = DEFAULT) -> re.Pattern:
    """The paths of ``tier``'s metric files: ``reports/metrics/<row>/<set>.json`` (long:
    ``reports/long/metrics/...``)."""
    return re.compile(
        rf"(?:^|/){re.escape((folders(tier).reports / 'metrics').as_posix())}/(?P<row>[^/]+)/(?P<set>[^/]+)\.json$"
    )


GAP = 2  # spaces between columns


def labels() -> dict[str, str]:
    """Each declared metric's key and label (miou -> mIoU), read at call time."""
    return {m.key: m.label for m in metrics.declared()}


@dataclass
class Run:
    """One run's metric files: (row, set) -> {short metric name: percent}."""

    name: str
    about: str  # what the run is: "HEAD 46ae981", "experiment 4796db1 on HEAD", "the files on disk"
    metrics: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # params.yaml, flat keys


def dvc_command() -> str:
    beside = Path(sys.executable).parent / "dvc"  # the venv's dvc, activated or not
    return str(beside) if beside.exists() else (shutil.which("dvc") or "dvc")


def exp_show(repo: str | Path = ".") -> list[dict]:
    """``dvc exp show --json`` in ``repo``: the workspace, HEAD and HEAD's experiments."""
    proc = subprocess.run([dvc_command(), "exp", "show", "--json"], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc exp show failed: {(proc.stderr or proc.stdout).strip()}")
    return json.loads(proc.stdout)


def _metrics(data: dict, tier: str = DEFAULT) -> dict[tuple[str, str], dict[str, float]]:
    """``tier``'s metric files of one run; a tier other than the default also shows the default
    tier's baselines (identity, GrabCut), which the tiers share (``bbadj.core.tiers``)."""
    out = {}
    patterns = [metric_file(tier)] + ([metric_file(DEFAULT)] if tier != DEFAULT else [])
    for path, entry in (data.get("metrics") or {}).items():
        values = (entry or {}).get("data")
        for own, pattern in zip((True, False), patterns):
            m = pattern.search(path.replace("\\", "/"))
            if m and isinstance(values, dict) and (own or m["row"] in BASELINES):
                out[(m["row"], m["set"])] = {k: v for k, v in values.items() if isinstance(v, (int, float))}
    return out


def _params(data: dict) -> dict:
    doc = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    return flatten(doc) if isinstance(doc, dict) else {}


def runs_from_exp_show(doc: list[dict], tier: str = DEFAULT) -> tuple[list[Run], list[str]]:
    """The runs of ``dvc exp show --json``'s output that hold metric files, and a note for each
    that does not (queued, running, failed)."""
    runs, skipped = [], []

    def add(name: str, about: str, entry: dict) -> None:
        data = entry.get("data") or {}
        metrics = _metrics(data, tier)
        if metrics:
            taken = {r.name for r in runs}
            rev = about.split()[1] if about.startswith(("HEAD", "experiment")) else ""
            runs.append(Run(f"{name}@{rev}" if name in taken and rev else name, about, metrics, _params(data)))
        else:
            error = (entry.get("error") or {}).get("msg")
            skipped.append(f"{name} ({error})" if error else name)

    for base in doc:
        rev = base.get("rev") or ""
        if rev == "workspace":
            add("workspace", "the files on disk", base)
            continue
        add(base.get("name") or rev[:7], f"HEAD {rev[:7]}", base)
        for exp in base.get("experiments") or []:
            for latest in (exp.get("revs") or [])[:1]:  # the experiment's last commit
                erev = latest.get("rev") or ""
                add(exp.get("name") or latest.get("name") or erev[:7], f"experiment {erev[:7]} on HEAD", latest)
    return runs, skipped


def workspace_run(reports_dir: str | Path = "reports", shared: str | Path | None = None) -> Run:
    """The workspace alone, read from disk (no git or DVC needed); ``shared``: the default tier's
    reports folder, whose baselines a tier other than the default shows too."""
    run = Run("workspace", "the files on disk")
    paths = sorted(Path(reports_dir, "metrics").glob("*/*.json"))
    if shared is not None:
        paths += [p for p in sorted(Path(shared, "metrics").glob("*/*.json")) if p.parent.name in BASELINES]
    for path in paths:
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(values, dict):
            run.metrics[(path.parent.name, path.stem)] = {
                k: v for k, v in values.items() if isinstance(v, (int, float))
            }
    return run


def changes(run: Run, against: Run) -> str:
    """The params in which ``run`` differs from ``against``: ``train.lr=0.002, ...``."""
    keys = sorted(set(run.params) | set(against.params))
    diff = [
        f"{k}={run.params[k]}" if k in run.params else f"~{k}"
        for k in keys
        if run.params.get(k, ...) != against.params.get(k, ...)
    ]
    return ", ".join(diff)


def legend(runs: list[Run], width: int) -> str:
    """One line per run: its name, what it is, and its params where they differ from HEAD's."""
    head = next((r for r in runs if r.about.startswith("HEAD")), None)
    lines = ["Runs (params that differ from HEAD's):"]
    pad = max(len(r.name) for r in runs)
    for r in runs:
        text = r.about
        if head is not None and r is not head and r.params:
            text += f": {changes(r, head) or 'same params'}"
        lines += _wrap(f"  {r.name:<{pad}}  ", text, width)
    return "\n".join(lines)


def _wrap(prefix: str, text: str, width: int) -> list[str]:
    """``prefix`` + ``text`` over as many lines as the width needs, broken after commas."""
    lines, line = [], prefix
    for i, word in enumerate(text.split(" ")):
        if i and len(line) + 1 + len(word) > width and line.strip():
            lines.append(line)
            line = " " * len(prefix) + word
        else:
            line += ("" if i == 0 else " ") + word
    return lines + [line]


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def table(runs: list[Run], rows: list[str], eval_set: str, metric: str, width: int = 120) -> str:
    """One set and metric: a line per row, a column per run, wrapped into more tables at ``width``."""
    cells = {r.name: [fmt(r.metrics.get((row, eval_set), {}).get(metric)) for row in rows] for r in runs}
    first = max([len("row")] + [len(n) for n in rows])
    widths = {r.name: max([len(r.name)] + [len(c) for c in cells[r.name]]) for r in runs}
    chunks, chunk, used = [], [], first
    for r in runs:
        if chunk and used + GAP + widths[r.name] > width:
            chunks.append(chunk)
            chunk, used = [], first
        chunk.append(r.name)
        used += GAP + widths[r.name]
    chunks.append(chunk)
    title = f"{eval_set}: {labels().get(metric, metric)}, percent"
    out = []
    for k, names in enumerate(chunks):
        lines = [
            title + (f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else ""),
            "row".ljust(first) + "".join(" " * GAP + n.rjust(widths[n]) for n in names),
        ]
        for i, row in enumerate(rows):
            lines.append(row.ljust(first) + "".join(" " * GAP + cells[n][i].rjust(widths[n]) for n in names))
        out.append("\n".join(lines))
    return "\n\n".join(out)


def ordered(params: Params | None, runs: list[Run]) -> tuple[list[str], list[str]]:
    """(rows, sets): the params' order first, then what only other runs have, in the order met."""
    rows = params.names() if params is not None else []
    sets = list(params.base.eval.sets) if params is not None else []
    for r in runs:
        for row, s in r.metrics:
            if row not in rows:
                rows.append(row)
            if s not in sets:
                sets.append(s)
    return rows, sets


def render(runs: list[Run], rows: list[str], sets: list[str], metrics: list[str], width: int = 120) -> str:
    return "\n\n".join([legend(runs, width)] + [table(runs, rows, s, m, width) for s in sets for m in metrics])


def show(
    params_path: str | Path = "params.yaml",
    metric: str = "miou",
    eval_set: str | None = None,
    width: int | None = None,
    doc: list[dict] | None = None,
    tier: str = DEFAULT,
) -> str:
    """What ``bbadj show`` prints for ``tier``'s metric files, run in the repository root (``doc``:
    ``dvc exp show --json``'s output, read with DVC when not given)."""
    width = width or shutil.get_terminal_size((120, 50)).columns
    if metric != "all" and metric not in labels():
        raise ValueError(f"--metric must be one of {[*labels(), 'all']}, got {metric!r}")
    params = Params.load(params_path) if Path(params_path).exists() else None
    notes = []
    if doc is None:
        try:
            doc = exp_show(Path(params_path).parent)
        except (OSError, RuntimeError, ValueError) as e:
            notes.append(f"(the workspace only: {str(e).splitlines()[0]})")
    if doc is not None:
        runs, skipped = runs_from_exp_show(doc, tier)
        if skipped:
            notes.append(f"(not shown, without metric files: {', '.join(skipped)})")
    else:
        root = Path(params_path).parent
        runs = [
            workspace_run(root / folders(tier).reports, root / folders(DEFAULT).reports if tier != DEFAULT else None)
        ]
    rows, sets = ordered(params, runs)
    if eval_set is not None:
        if eval_set not in sets:
            raise ValueError(f"no evaluation set {eval_set!r}; the runs have {sets}")
        sets = [eval_set]
    if not runs:
        where = (folders(tier).reports / "metrics").as_posix()
        return "\n".join(
            [
                f"no run has metric files ({where}/<row>/<set>.json): run "
                f"{'`dvc repro`' if tier == DEFAULT else '`make repro-long`'}"
            ]
            + notes
        )
    shown = list(labels()) if metric == "all" else [metric]
    return "\n\n".join([render(runs, rows, sets, shown, width)] + notes)

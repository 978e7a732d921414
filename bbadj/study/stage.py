"""How a DVC stage runs its notebook (``bbadj stage train|evaluate|report [ROW] [--tier long]``, and
the long tier's ``pretrain``: dvc.yaml's and long/dvc.yaml's one command): papermill, streaming the kernel's output to the terminal, into a temporary file that
replaces the stage's output only once the notebook has run to its end. An interrupted or failed
stage leaves the previous outputs in place (dvc.yaml marks them ``persist``, so DVC does not delete
them first), and its partial notebook beside them as ``<output>.failed.ipynb`` for a look (git
ignores both leftovers, and the stage's next run removes them).

Ctrl-C stops a stage (``interruptible``): nbclient, which runs the kernel, catches SIGINT and
SIGTERM in its event loop for a clean-up of its own and the stage would carry on to its end, so
papermill runs in a worker thread (where nbclient installs no handler) while the main thread
waits; on SIGINT or SIGTERM it ends the kernel and every process under it (a training under
torchrun included), and the stage exits 128 + the signal's number. DVC records nothing of a
stage whose command failed, and the training's last checkpoint stays (written whole,
``bbadj.model.checkpoint.save_atomic``), so the next ``dvc repro`` resumes from it.

The kernel's connection is encrypted (``kernel_config``): jupyter_client starts a kernel on TCP
(localhost) in plain text unless ``KernelManager.transport_encryption`` asks it to hand the kernel
CurveZMQ keys, and papermill, which reads no Jupyter config file, never sets it, so ipykernel
warned "Kernel is running over TCP without encryption" at every stage. papermill's own engine
hands the setting on to nbclient's ``NotebookClient``, which gives it to the kernel manager it
starts; the notebook, its outputs and papermill's options are unchanged.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from ..core.tiers import DEFAULT, folders
from ..util.layout import notebooks

NOTEBOOKS = notebooks()  # stage kind -> its notebook (bbadj.util.layout.STAGES); pretrain: train's, once per start


def stage_paths(stage: str, row: str | None, tier: str = DEFAULT) -> tuple[str, Path]:
    """(notebook, executed copy) of ``stage`` for ``row`` of ``tier``: the executed copies go into
    the tier's reports folder (``reports/``, ``reports/long/``)."""
    if stage not in NOTEBOOKS:
        raise ValueError(f"unknown stage {stage!r}; choose one of {sorted(NOTEBOOKS)}")
    if (stage == "report") != (row is None):
        raise ValueError(
            "the report stage takes no row; train and evaluate take one"
            if row
            else f"the {stage} stage needs a row of params.yaml"
        )
    where = folders(tier)
    return NOTEBOOKS[stage], where.reports / "report.ipynb" if stage == "report" else where.notebook(stage, row)


def kernel_config(config=None):
    """``config`` (a traitlets ``Config`` or dict) with ``KernelManager.transport_encryption =
    "auto"`` unless it sets one, where jupyter_client has the option (8.10 on) and pyzmq has
    CurveZMQ (its wheels do). "auto": for kernels whose kernelspec declares ``supported_encryption:
    curve``, as ipykernel's does."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config(config or {})
    if (
        "transport_encryption" in KernelManager.class_trait_names()
        and zmq.has("curve")
        and "transport_encryption" not in config.KernelManager
    ):
        config.KernelManager.transport_encryption = "auto"
    return config


class StageInterrupted(BaseException):
    """A stage stopped by a signal (SIGINT: Ctrl-C; SIGTERM); ``signum`` is its number."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process a signal ended


def end_children(grace: float = 3.0) -> None:
    """Terminate every process under this one (the notebook's kernel and whatever it started), and
    kill those still alive after ``grace`` seconds."""
    try:
        import psutil
    except ImportError:  # psutil comes with ipykernel; without it, nothing to find children with
        return
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def interruptible(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a worker thread; the calling (main) thread waits and, on SIGINT or
    SIGTERM, ends the processes under this one (``end_children``) and raises ``StageInterrupted``.
    Off the main thread (where no signal handler can be set) ``fn`` simply runs."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    outcome: dict = {}

    def work():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the main thread
            outcome["error"] = e

    def on_signal(signum, _frame):
        raise StageInterrupted(signum)

    worker = threading.Thread(target=work, name="bbadj-stage", daemon=True)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    except StageInterrupted:
        for s in previous:  # a second Ctrl-C during the clean-up changes nothing
            signal.signal(s, signal.SIG_IGN)
        end_children()
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def leftovers(out: Path) -> tuple[Path, Path]:
    """The partial notebook of a running stage and the failed one of an interrupted or failed run."""
    return out.with_name(out.stem + ".partial.ipynb"), out.with_name(out.stem + ".failed.ipynb")


def run_stage(stage: str, row: str | None = None, html: str | None = None, tier: str = DEFAULT) -> Path:
    """Run ``stage``'s notebook for ``row`` of ``tier`` (its ``row`` and ``tier`` parameters) into
    its executed copy; the report also becomes ``html`` (inputs hidden). Returns the executed
    notebook's path."""
    import papermill

    if stage == "pretrain":  # every synthetic pretraining of the tier: the train notebook once each
        from ..core.params import Params

        if row:
            raise ValueError("the pretrain stage takes no row: it trains every start of the tier's `starts`")
        return [run_stage("train", name, tier=tier) for name in Params.load(tier=tier).names("pretrain")][-1]
    notebook, out = stage_paths(stage, row, tier)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial, failed = leftovers(out)
    for old in (partial, failed):  # a killed or failed run's leftovers
        old.unlink(missing_ok=True)
    parameters = {"tier": tier, **({"row": row} if row else {})}
    try:
        interruptible(
            papermill.execute_notebook,
            notebook,
            str(partial),
            parameters=parameters,
            progress_bar=False,
            log_output=False,
            stdout_file=sys.stdout,
            stderr_file=sys.stderr,
            config=kernel_config(),
        )
    except BaseException:
        if partial.exists():
            os.replace(partial, failed)
        raise
    relative_paths(partial, Path.cwd())
    os.replace(partial, out)
    if html:
        write_html(out, html, title=f"bbadj study report ({tier} tier)" if stage == "report" else None)
    return out


def relative_paths(notebook: str | Path, root: str | Path) -> int:
    """Rewrite ``notebook``'s outputs (streams, results, errors) with paths relative to ``root``
    (the repository, where the stage ran): the executed notebooks are committed and read on other
    machines, where this machine's folders mean nothing. Returns the number of outputs changed."""
    import nbformat

    root = str(Path(root).resolve())
    nb = nbformat.read(str(notebook), as_version=4)

    def clean(text):
        if isinstance(text, list):
            return [clean(t) for t in text]
        if not isinstance(text, str):
            return text
        return text.replace(root + os.sep, "").replace(root, ".")

    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            before = repr(output)
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = clean(output[key])
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") or mime in ("application/json",):
                    output["data"][mime] = clean(value)
            changed += repr(output) != before
    if changed:
        nbformat.write(nb, str(notebook))
    return changed


def write_html(notebook: str | Path, html: str | Path, title: str | None = None) -> None:
    """The executed notebook as HTML without its code, written atomically; ``title`` is the page's
    (nbconvert's default is the notebook's file name, or "Notebook")."""
    import nbformat
    from nbconvert import HTMLExporter

    from ..util.outputs import write_text

    nb = nbformat.read(str(notebook), as_version=4)
    if title:
        nb.metadata["title"] = title
    body, _ = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    ).from_notebook_node(nb)
    write_text(html, body)

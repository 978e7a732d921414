"""`bbadj stage` (dvc.yaml's notebook stages) runs papermill's own engine with the kernel's connection
encrypted (CurveZMQ), so ipykernel no longer warns that it runs over TCP in plain text; the
executed notebook replaces the stage's output only once complete; a signal stops a stage."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from bbadj.study.stage import kernel_config, run_stage


def test_the_kernel_manager_is_asked_for_curve_keys():
    assert kernel_config().KernelManager.transport_encryption == "auto"
    explicit = {"KernelManager": {"transport_encryption": "disabled"}, "NotebookClient": {"timeout": 5}}
    config = kernel_config(explicit)
    assert config.KernelManager.transport_encryption == "disabled" and config.NotebookClient.timeout == 5


def test_a_stage_hands_papermill_the_kernel_config(tmp_path, monkeypatch):
    """papermill's own engine (no engine_name) gets the config, which it passes on to nbclient; a
    failed run leaves its partial notebook as ``<output>.failed.ipynb`` and no output."""
    calls = []

    def execute_notebook(notebook, partial, **kwargs):
        calls.append(kwargs)
        nbformat.write(nbformat.v4.new_notebook(), partial)
        if kwargs["parameters"]["row"] == "broken":
            raise RuntimeError("the notebook failed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    (tmp_path / "reports" / "notebooks").mkdir(parents=True)
    (tmp_path / "reports" / "notebooks" / "train-l4.failed.ipynb").write_text("{}")  # a killed run's: removed
    assert run_stage("train", "l4") == Path("reports/notebooks/train-l4.ipynb")
    assert calls[0]["config"].KernelManager.transport_encryption == "auto" and "engine_name" not in calls[0]
    with pytest.raises(RuntimeError):
        run_stage("evaluate", "broken")
    assert sorted(p.name for p in (tmp_path / "reports" / "notebooks").iterdir()) == [
        "evaluate-broken.failed.ipynb",
        "train-l4.ipynb",
    ]


@pytest.mark.slow
def test_a_notebook_runs_on_an_encrypted_connection_without_the_warning(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\n"
            "print('transport', app.transport, 'curve', app.curve_secretkey is not None)"
        )
    ]
    nbformat.write(nb, tmp_path / "in.ipynb")
    code = (
        "import sys, papermill; from bbadj.study.stage import kernel_config; "
        "papermill.execute_notebook('in.ipynb', 'out.ipynb', progress_bar=False, stdout_file=sys.stdout, "
        "stderr_file=sys.stderr, config=kernel_config())"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "transport tcp curve True" in proc.stdout, proc.stdout  # the kernel's output, streamed
    assert "without encryption" not in proc.stdout + proc.stderr, proc.stderr


def _sleeping_notebook(path: Path) -> None:
    """A train notebook that says where its kernel runs, then sleeps (a stage running long)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("row = None\ntier = 'default'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))\nprint('started', flush=True)\n"
            "time.sleep(600)"
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_stage_within_seconds(tmp_path, signum):
    """Ctrl-C (SIGINT) or SIGTERM to `bbadj stage` ends its kernel and exits 128 + the signal's
    number within seconds, so DVC records nothing; no executed copy is written, and the partial
    notebook the run leaves (git-ignored) is removed by the next run."""
    import psutil

    _sleeping_notebook(tmp_path / "notebooks" / "train.ipynb")
    (tmp_path / "params.yaml").write_text("rows: {x: {}}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbadj", "stage", "train", "x"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # the kernel's output, streamed: the cell is running
            if "started" in line:
                break
        assert proc.poll() is None, proc.stderr.read()
        kernel = int((tmp_path / "kernel.pid").read_text())
        sent = time.monotonic()
        proc.send_signal(signum)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped = time.monotonic() - sent
    assert rc == 128 + signum, proc.stderr.read()
    assert stopped < 10, stopped
    assert "interrupted by" in proc.stderr.read()
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE
    out = tmp_path / "reports" / "notebooks"
    assert not (out / "train-x.ipynb").exists()
    left = sorted(p.name for p in out.iterdir())
    assert set(left) <= {"train-x.failed.ipynb", "train-x.partial.ipynb"}
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *[f"reports/notebooks/{n}" for n in left]],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == [f"reports/notebooks/{n}" for n in left]


def test_executed_notebooks_hold_no_machine_paths_and_the_report_has_a_title(tmp_path):
    """A committed notebook is read on other machines: its outputs name paths relative to the
    repository; the report's HTML page has a title of its own, not nbconvert's "Notebook"."""
    from bbadj.study.stage import relative_paths, write_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"model {tmp_path}/runs/l4/model.pt\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"'{tmp_path}'"}, execution_count=1),
        nbformat.v4.new_output("error", ename="E", evalue=f"{tmp_path}/x", traceback=[f"at {tmp_path}/y.py"]),
    ]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    assert relative_paths(tmp_path / "nb.ipynb", tmp_path) == 3
    text = (tmp_path / "nb.ipynb").read_text()
    assert str(tmp_path) not in text and "model runs/l4/model.pt" in text and "'.'" in text
    write_html(tmp_path / "nb.ipynb", tmp_path / "nb.html", title="bbadj study report (default tier)")
    assert "<title>bbadj study report (default tier)</title>" in (tmp_path / "nb.html").read_text()

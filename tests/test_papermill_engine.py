"""`papermill ... --engine bbadj` (dvc.yaml's notebook stages): the kernel's connection is
encrypted (CurveZMQ), so ipykernel no longer warns that it runs over TCP in plain text."""
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill.engines  # noqa: F401  first: importing it loads bbadj's engine through the entry point
import pytest

from bbadj.study.papermill_engine import BbadjEngine, kernel_config

BIN = Path(sys.executable).parent


def test_the_kernel_manager_is_asked_for_curve_keys():
    assert kernel_config().KernelManager.transport_encryption == "auto"
    explicit = {"KernelManager": {"transport_encryption": "disabled"}, "NotebookClient": {"timeout": 5}}
    config = kernel_config(explicit)
    assert config.KernelManager.transport_encryption == "disabled" and config.NotebookClient.timeout == 5


def test_papermill_finds_the_engine_by_name(tmp_path):
    """Through the entry point pyproject.toml declares (``pip install -e .`` registers it). In a
    folder of its own: from a checkout's root, a stale ``bbadj.egg-info`` left by an old build
    would shadow the installed metadata."""
    code = ("from papermill.engines import papermill_engines; "
            "print(papermill_engines.get_engine('bbadj').__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == BbadjEngine.__module__, out.stdout + out.stderr


@pytest.mark.slow
def test_a_notebook_runs_on_an_encrypted_connection_without_the_warning(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from ipykernel.kernelapp import IPKernelApp\n"
                                          "app = IPKernelApp.instance()\n"
                                          "print('transport', app.transport, 'curve', app.curve_secretkey is not None)")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    proc = subprocess.run([str(BIN / "papermill"), "in.ipynb", "out.ipynb", "--no-progress-bar", "--engine", "bbadj",
                           "--stdout-file", "-", "--stderr-file", "-"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "transport tcp curve True" in proc.stdout, proc.stdout  # the kernel's output, streamed
    assert "without encryption" not in proc.stdout + proc.stderr, proc.stderr

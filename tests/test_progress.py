"""bbadj.util.progress: tqdm's bar on a terminal; elsewhere (a notebook run by papermill, a log file)
a bounded number of plain lines, each ending with a newline, never a carriage return."""

import io
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from tqdm import tqdm

from bbadj.util import progress
from bbadj.util.progress import LineProgress, progress_bar

ROOT = Path(__file__).resolve().parents[1]


class Tty(io.StringIO):
    def isatty(self):
        return True


def fake_clock(monkeypatch, step: float):
    """bbadj.util.progress's clock advances ``step`` seconds at every reading."""
    now = [0.0]

    def monotonic():
        now[0] += step
        return now[0]

    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=monotonic))


def test_off_a_terminal_a_long_loop_writes_a_few_plain_lines(monkeypatch):
    fake_clock(monkeypatch, 0.01)  # 100,000 iterations: about 1,000 s
    out = io.StringIO()
    items = list(progress_bar(range(100_000), desc="synth", unit="img", file=out))
    assert items == list(range(100_000))
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    # a line at least every 30 s and at each tenth, never twice in 2 s: about 1000 / 30 + 10
    assert 10 <= len(lines) <= 1000 / 30 + 10 + 2, lines
    assert all(line.startswith("synth: ") for line in lines)
    assert re.match(r"synth: 100000/100000 img \(100%\), \S+ in all, [\d.]+ img/s$", lines[-1]), lines[-1]


def test_a_fast_loop_writes_its_last_line_only():
    out = io.StringIO()
    for _ in progress_bar(range(50_000), desc="evaluate", unit="img", file=out):
        pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate: 50000/50000 img (100%)"), lines


def test_the_training_bar_shows_step_of_total_eta_and_postfix(monkeypatch):
    """The engine's use: total, initial (a resumed run), update, set_postfix, close."""
    fake_clock(monkeypatch, 0.5)
    out = io.StringIO()
    bar = progress_bar(total=200, initial=50, desc="train l4", unit="step", dynamic_ncols=True, file=out)
    assert isinstance(bar, LineProgress)
    for step in range(51, 201):
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix({"loss": f"{1 / step:.4f}", "boxes/s": "123"})
    bar.close()
    bar.close()  # a second close writes nothing
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and 2 <= len(lines) <= 12, lines
    assert lines[0].startswith("train l4: 60/200 step (30%), "), lines[0]  # resumed at 50: counts from there
    assert re.match(
        r"train l4: \d+/200 step \(\d+%\), \S+ elapsed, \S+ left, [\d.]+ step/s, loss=0\.\d{4}, "
        r"boxes/s=123$",
        lines[1],
    ), lines[1]
    assert lines[-1].startswith("train l4: 200/200 step (100%)") and "in all" in lines[-1], lines[-1]
    assert len(set(lines)) == len(lines)


def test_disabled_and_unsized_loops(monkeypatch):
    out = io.StringIO()
    assert list(progress_bar(iter(range(5)), disable=True, file=out)) == list(range(5))
    assert out.getvalue() == ""
    fake_clock(monkeypatch, 1.0)  # no total: a line every 30 s, then the last one
    assert sum(1 for _ in progress_bar(iter(range(100)), desc="draws", file=out)) == 100
    lines = out.getvalue().splitlines()
    assert 3 <= len(lines) <= 5 and lines[-1].startswith("draws: 100 it, "), lines


def test_leave_false_writes_no_last_line():
    out = io.StringIO()
    bar = progress_bar(total=3, desc="bench", leave=False, file=out)
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""


def test_on_a_terminal_it_is_tqdm():
    tty = Tty()
    bar = progress_bar(range(1000), desc="synth", unit="img", file=tty, mininterval=0)
    assert isinstance(bar, tqdm) and not isinstance(bar, LineProgress)
    assert sum(1 for _ in bar) == 1000
    assert "\r" in tty.getvalue() and "synth: 100%" in tty.getvalue()


def test_the_package_reaches_tqdm_only_through_bbadj_progress():
    users = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "bbadj").rglob("*.py")
        if re.search(r"^\s*(from|import) tqdm", p.read_text(), re.M)
    )
    assert users == ["bbadj/util/progress.py"], users


def test_in_a_notebook_kernel_the_lines_go_to_stdout(monkeypatch, capsys):
    """A stage's notebook shows stderr in red boxes: in a kernel, progress lines go to stdout."""
    kernel_stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})()
    monkeypatch.setattr(sys, "stdout", kernel_stream)
    for _ in progress_bar(range(3), desc="evaluate"):
        pass
    assert "evaluate: 3/3" in kernel_stream.getvalue()
    assert capsys.readouterr().err == ""

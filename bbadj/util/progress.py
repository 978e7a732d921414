"""Progress of the package's long loops: tqdm's bar on a terminal, plain lines anywhere else.

Off a terminal (a notebook run by papermill, ``dvc repro``'s log, CI, a file) a line now and
then reads better than a redrawn bar: at each tenth of the way (when the total is known), at
least every ``interval`` seconds, never more often than every ``min_interval`` seconds, and a
last line when the loop ends. Each line ends with a newline and holds no carriage return.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from numbers import Number

from tqdm import tqdm

# tqdm redraws its line with '\r' and has no option to end each refresh with '\n' instead
# (mininterval/miniters only space the redraws, disable=None hides them off a tty, tqdm.auto's
# widgets are useless in a rendered notebook), so off a terminal this module prints the lines.


def progress_bar(
    iterable: Iterable | None = None,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
    *,
    file=None,
    **tqdm_kwargs,
):
    """``tqdm(iterable, total=..., desc=..., unit=..., disable=..., **tqdm_kwargs)`` when ``file``
    (default: ``sys.stderr``) is a terminal, else a :class:`LineProgress` (in a Jupyter kernel, on
    ``sys.stdout`` by default: a rendered notebook shows stderr as red error boxes) with the same use
    (iterate over it, or ``update``/``set_postfix``/``close``; the tqdm-only options, such as
    ``dynamic_ncols``, are ignored)."""
    stream = sys.stderr if file is None else file
    if _isatty(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, file=file, **tqdm_kwargs)
    if file is None and in_kernel():
        file = sys.stdout  # a notebook shows stderr in red boxes: progress is no error
    return LineProgress(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=disable,
        file=file,
        initial=tqdm_kwargs.get("initial", 0),
        leave=tqdm_kwargs.get("leave", True),
    )


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (a stage's notebook under papermill, JupyterLab), whose
    stdout is ipykernel's stream."""
    return type(sys.stdout).__module__.startswith("ipykernel")


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class LineProgress:
    """Plain progress lines, e.g. ``train l4: 80/200 step (40%), 0:10 elapsed, 0:15 left, 8.0
    step/s, loss=0.1234``: the subset of tqdm's interface the package uses."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        disable: bool = False,
        file=None,
        initial: float = 0,
        leave: bool = True,
        interval: float = 30.0,
        min_interval: float = 2.0,
        tenths: int = 10,
    ):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.disable, self.file, self.leave = disable, file, leave
        self.interval, self.min_interval, self.tenths = interval, min_interval, tenths
        self.n = self.initial = initial
        self.postfix = ""
        self.start_t = self.last_t = time.monotonic()
        self.last_n: float | None = None  # n of the last line written; None before the first
        self.last_part = self._part(initial)
        self.closed = False

    def __iter__(self) -> Iterator:
        if self.disable:
            yield from self.iterable  # type: ignore[misc]
            return
        try:
            for obj in self.iterable:  # type: ignore[union-attr]
                yield obj
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total) if self.total is not None else len(self.iterable)  # type: ignore[arg-type]

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _part(self, n: float) -> int:
        """Which tenth of the way ``n`` is in (0 without a total)."""
        return int(n * self.tenths // self.total) if self.total else 0

    def update(self, n: float = 1) -> None:
        if self.disable or self.closed:
            return
        self.n += n
        now = time.monotonic()
        since = now - self.last_t
        if since >= self.interval or (since >= self.min_interval and self._part(self.n) > self.last_part):
            self._write(now, last=bool(self.total) and self.n >= self.total)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        """As tqdm's: ``key=value, ...`` after the rate (numbers shortened like tqdm's)."""
        items = dict(ordered_dict or {})
        items.update(sorted(kwargs.items()))
        self.postfix = ", ".join(
            f"{k}={tqdm.format_num(v) if isinstance(v, Number) else str(v).strip()}" for k, v in items.items()
        )

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:
        """A no-op: lines are written by ``update`` and ``close``, not on demand."""

    def close(self) -> None:
        """Write the last line (unless ``leave=False``, as tqdm's bar would vanish): once."""
        if self.disable or self.closed:
            return
        self.closed = True
        if self.leave and self.n != self.last_n:
            self._write(time.monotonic(), last=True)

    def line(self, now: float | None = None, last: bool = False) -> str:
        elapsed = (time.monotonic() if now is None else now) - self.start_t
        done = self.n - self.initial
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: " if self.desc else ""]
        if self.total:
            parts.append(f"{self.n:g}/{self.total:g} {self.unit} ({100 * self.n / self.total:.0f}%)")
        else:
            parts.append(f"{self.n:g} {self.unit}")
        parts.append(f", {tqdm.format_interval(elapsed)} {'in all' if last else 'elapsed'}")
        if self.total and not last and rate > 0:
            parts.append(f", {tqdm.format_interval((self.total - self.n) / rate)} left")
        if done:
            parts.append(f", {rate:.3g} {self.unit}/s" if rate >= 1 or rate == 0 else f", {1 / rate:.3g} s/{self.unit}")
        if self.postfix:
            parts.append(f", {self.postfix}")
        return "".join(parts)

    def _write(self, now: float, last: bool = False) -> None:
        stream = sys.stderr if self.file is None else self.file
        stream.write(self.line(now, last) + "\n")
        stream.flush()
        self.last_t, self.last_n, self.last_part = now, self.n, self._part(self.n)

"""Writing results: every file appears whole or not at all, and a full disk says so by name.

A file is written to a temporary file of its own beside it (``.<name>.<random>.tmp``, created
new by ``tempfile.mkstemp``: never a fixed name, so it can never be another file, an input or
another run's temporary file) and moved into place (``os.replace``, atomic on POSIX) only once
complete, so a reader, or a run killed mid-write, sees the old file or the new one, never a
truncated one; on failure that temporary file, and only it, is removed (a 60 MB temporary
checkpoint left on a full disk would keep it full). A training run holds a lock on its directory
(``run_lock``), so two runs never write the same files.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from .errors import OutputError, RunError

LOCK_NAME = "train.lock"


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` for writing, through a new temporary file beside it (``temporary``):
    ``path`` is replaced only when the block ends without an error. An ``OSError`` becomes an
    ``OutputError`` naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        tmp = temporary(path)
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        os_error = _os_error(e)
        if os_error is not None:
            raise _output_error(path, os_error) from e
        raise


def temporary(path: str | Path) -> Path:
    """A new, empty file beside ``path`` for its next version (``.<name>.<random>.tmp``, made by
    ``tempfile.mkstemp``, so no other file has that name), with the permissions ``path`` has, or
    a new file gets (mkstemp's own are owner-only); its folder is made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_of(path))
    except BaseException:
        os.unlink(name)
        raise
    finally:
        os.close(fd)
    return Path(name)


def _mode_of(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def append_line(path: str | Path, line: str) -> None:
    """One line added to a log (a log grows; it is not rewritten)."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as e:
        raise _output_error(Path(path), e) from e


def _os_error(e: BaseException | None) -> OSError | None:
    """The OSError behind ``e``: torch.save, when a write fails, raises its own RuntimeError
    ("enforce fail at inline_container.cc") while closing the archive, with the OSError as its
    context."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _output_error(path: Path, e: OSError) -> OutputError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"no space left on device: {path} (left as it was; free some space and rerun)")
    return OutputError(f"cannot write {path}: {e.strerror or e}")


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: str | Path, obj) -> None:
    """``obj`` as indented JSON. NaN and infinity are refused, naming their keys: JSON has no
    such numbers (Python would write ``NaN``, which other readers reject)."""
    bad = non_finite_keys(obj)
    if bad:
        raise OutputError(
            f"{path}: not written: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not a finite "
            f"number (NaN or infinity), which JSON cannot hold; a model whose weights or loss "
            f"became NaN gives NaN metrics"
        )
    write_text(path, json.dumps(obj, indent=2) + "\n")


def non_finite_keys(obj, where: str = "") -> list[str]:
    """The dotted keys (and list indices) of ``obj`` whose values are NaN or infinite floats."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [where or "the value"]
    if isinstance(obj, dict):
        return [k for key, v in obj.items() for k in non_finite_keys(v, f"{where}.{key}" if where else str(key))]
    if isinstance(obj, (list, tuple)):
        return [k for i, v in enumerate(obj) for k in non_finite_keys(v, f"{where}[{i}]")]
    return []


def write_csv(path: str | Path, columns: dict[str, np.ndarray], formats: dict[str, str] | None = None) -> None:
    """One CSV line per row of ``columns`` (name -> (N,) values, in column order): integer
    columns as integers, the others with ``formats[name]`` (default: 4 decimals). The per-box
    tables of ``evaluate`` and ``detections`` are written by it."""
    formats = formats or {}
    names = list(columns)
    cells = []
    for name in names:
        values = np.asarray(columns[name])
        if np.issubdtype(values.dtype, np.integer):
            cells.append([str(int(v)) for v in values])
        else:
            spec = formats.get(name, ".4f")
            cells.append([format(float(v), spec) for v in values])
    with atomic_open(path, newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(zip(*cells))


def named_columns(prefix: str, values: np.ndarray, names) -> dict[str, np.ndarray]:
    """``{prefix_name: values[:, i]}`` for the i-th of ``names`` (``box_ops.COORDS`` or ``EDGES``)."""
    values = np.asarray(values)
    return {f"{prefix}_{n}": values[:, i] for i, n in enumerate(names)}


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir/train.lock`` for the block: a second run into the same directory stops at
    once with a ``RunError`` instead of racing the first on its checkpoint files. The lock is
    the operating system's (``flock``): a killed run releases it, and the file stays."""
    try:
        import fcntl
    except ImportError:  # not POSIX (Windows): no lock, as before
        yield
        return
    path = Path(run_dir) / LOCK_NAME
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise RunError(
                f"{run_dir} is being trained by another process (pid {holder}, which holds {path}); "
                f"wait for it to finish, or train into another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield

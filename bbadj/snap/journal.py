"""Resumable, atomic output for a long pass over a data set (``bbadj snap``).

A ``Journal`` is a JSON-lines file beside the output: a header with the run's fingerprint (and
``meta``, e.g. when the run started), then one line per finished chunk of work, each flushed as it
is written. A rerun with the same fingerprint reads back the chunks a killed run finished (a line
cut off mid-write is dropped), takes the killed run's ``meta``, and appends the rest; a journal of
another run is emptied. A file at the journal's path that is no journal is never touched: it is
an error.

A run holds the journal (``hold``: the operating system's lock on it, ``flock``, released when
the process ends, however it ends) from its start to its end: a second run on the same output stops
at once instead of interleaving its chunks and its output with the first's.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..util.errors import OutputError
from ..util.outputs import _output_error, append_line


class Journal:
    def __init__(self, path: str | Path, fingerprint: str, meta: dict | None = None):
        self.path, self.fingerprint, self.meta = Path(path), fingerprint, dict(meta or {})

    @contextmanager
    def hold(self, what: str) -> Iterator[None]:
        """Hold the journal (made empty if there is none) for the block, or stop with an
        ``OutputError`` naming ``what`` (the output) when another process holds it. An empty
        journal this call made is removed at the end."""
        try:
            import fcntl
        except ImportError:  # not POSIX (Windows): no lock
            yield
            return
        for _ in range(10):  # the holder may remove the journal (it finished) between our open and lock
            fd, made = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(
                    f"{what} is being written by another bbadj snap now (it holds {self.path}); "
                    f"wait for it to end, or give another --out"
                ) from None
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        else:
            raise OutputError(f"{self.path}: cannot hold it: it is removed and made again by another process")
        try:
            yield
        finally:
            try:
                if made and os.stat(self.path).st_ino == os.fstat(fd).st_ino and os.fstat(fd).st_size == 0:
                    self.path.unlink()
            except FileNotFoundError:  # removed: the run finished
                pass
            finally:
                os.close(fd)

    def _open(self) -> tuple[int, bool]:
        """A read-only descriptor of the journal (to lock it; nothing is written through it), and
        whether this call made it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o666), True
            except FileExistsError:
                return os.open(self.path, os.O_RDONLY), False
        except OSError as e:
            raise _output_error(self.path, e) from e

    def done(self, n_chunks: int, valid: Callable[[dict], bool] = lambda row: True) -> list[dict]:
        """The chunks (``{"chunk": k, ...}``, k = 0, 1, ...) a killed run of the same fingerprint
        finished, in order, up to the first that is not ``valid`` (its images changed since);
        the file is cut back to them (or emptied when it is another run's)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return []
        rows, good_bytes = [], 0
        with self.path.open("rb") as f:
            header_line = f.readline()
            try:
                header = json.loads(header_line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                header = None
            if not (isinstance(header, dict) and "fingerprint" in header):
                raise OutputError(
                    f"{self.path} exists and is not a journal of bbadj snap; move it away (snap "
                    f"keeps its resumable work there)"
                )
            if header["fingerprint"] != self.fingerprint:
                print(f"{self.path}: from another run (input, model, settings or code differ); starting over")
                good_bytes = 0  # emptied, not removed: the file is what this run holds
                rows = None
            else:
                self.meta = {k: v for k, v in header.items() if k != "fingerprint"}
                good_bytes = len(header_line)
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        break  # the line a killed run was writing
                    if not line.endswith(b"\n") or row.get("chunk") != len(rows) or len(rows) >= n_chunks:
                        break
                    if not valid(row):
                        print(
                            f"{self.path}: the images of chunk {len(rows)} changed since; redoing it and "
                            f"the chunks after it"
                        )
                        break
                    rows.append(row)
                    good_bytes += len(line)
        with self.path.open("r+b") as f:
            f.truncate(good_bytes)
        if rows is None:
            return []
        if rows:
            print(f"{self.path}: resuming after {len(rows)} of {n_chunks} chunks")
        return rows

    def append(self, row: dict) -> None:
        """One finished chunk, written at once: a process killed later loses nothing of it."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, json.dumps({"fingerprint": self.fingerprint, **self.meta}))
        append_line(self.path, json.dumps(row))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

"""Resumable, atomic output for a long pass over a data set (``bbadj snap``).

A ``Journal`` is a JSON-lines file beside the output: a header with the run's fingerprint (and
``meta``, e.g. when the run started), then one line per finished chunk of work, each flushed as it
is written. A rerun with the same fingerprint reads back the chunks a killed run finished (a line
cut off mid-write is dropped), takes the killed run's ``meta``, and appends the rest; a journal of
another run is discarded. A file at the journal's path that is no journal is never touched: it is
an error. ``write_json_atomic`` writes the final file through ``outputs.atomic_open``, so a reader
sees the old file or the whole new one.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..util.errors import OutputError
from ..util.outputs import append_line, atomic_open


class Journal:
    def __init__(self, path: str | Path, fingerprint: str, meta: dict | None = None):
        self.path, self.fingerprint, self.meta = Path(path), fingerprint, dict(meta or {})

    def done(self, n_chunks: int) -> list[dict]:
        """The chunks (``{"chunk": k, ...}``, k = 0, 1, ...) a killed run of the same fingerprint
        finished, in order; the file is cut back to them (or removed when it is another run's)."""
        if not self.path.exists():
            return []
        rows, good_bytes = [], 0
        with self.path.open("rb") as f:
            header_line = f.readline()
            try:
                header = json.loads(header_line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                header = None
            if not (isinstance(header, dict) and "fingerprint" in header):
                raise OutputError(f"{self.path} exists and is not a journal of bbadj snap; move it away (snap "
                                  f"keeps its resumable work there)")
            if header["fingerprint"] != self.fingerprint:
                print(f"{self.path}: from another run (input, model, settings or code differ); starting over")
                self.path.unlink()
                return []
            self.meta = {k: v for k, v in header.items() if k != "fingerprint"}
            good_bytes = len(header_line)
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    break  # the line a killed run was writing
                if not line.endswith(b"\n") or row.get("chunk") != len(rows) or len(rows) >= n_chunks:
                    break
                rows.append(row)
                good_bytes += len(line)
        with self.path.open("r+b") as f:
            f.truncate(good_bytes)
        if rows:
            print(f"{self.path}: resuming after {len(rows)} of {n_chunks} chunks")
        return rows

    def append(self, row: dict) -> None:
        """One finished chunk, written at once: a process killed later loses nothing of it."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_line(self.path, json.dumps({"fingerprint": self.fingerprint, **self.meta}))
        append_line(self.path, json.dumps(row))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, obj, indent: int | None = None) -> None:
    """``obj`` as JSON at ``path`` through ``outputs.atomic_open`` (whole or not at all), streamed
    into the file: no second copy of a large document in memory, as ``outputs.write_json``'s
    string would be."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")

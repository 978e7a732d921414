"""Resumable, atomic output for a long pass over a data set (``bbadj snap``).

A ``Journal`` is a JSON-lines file beside the output: a header with the run's fingerprint, then
one line per finished chunk of work, each flushed as it is written. A rerun with the same
fingerprint reads back the chunks a killed run finished (a line cut off mid-write is dropped) and
appends the rest; a journal of another run is discarded. ``write_json_atomic`` writes the final
file through ``outputs.atomic_open``, so a reader sees the old file or the whole new one.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..util.outputs import append_line, atomic_open


class Journal:
    def __init__(self, path: str | Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def done(self, n_chunks: int) -> list[dict]:
        """The chunks (``{"chunk": k, ...}``, k = 0, 1, ...) a killed run of the same fingerprint
        finished, in order; the file is cut back to them (or removed when it is another run's)."""
        if not self.path.exists():
            return []
        rows, good_bytes = [], 0
        with self.path.open("rb") as f:
            header = f.readline()
            try:
                same = json.loads(header).get("fingerprint") == self.fingerprint
            except (json.JSONDecodeError, AttributeError):
                same = False
            if not same:
                print(f"{self.path}: from another run (input, model, settings or code differ); starting over")
                self.path.unlink()
                return []
            good_bytes = len(header)
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
            append_line(self.path, json.dumps({"fingerprint": self.fingerprint}))
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

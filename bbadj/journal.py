"""Resumable, atomic output for a long pass over a data set (``bbadj snap``).

A ``Journal`` is a JSON-lines file beside the output: a header with the run's fingerprint, then
one line per finished chunk of work, each flushed as it is written. A rerun with the same
fingerprint reads back the chunks a killed run finished (a line cut off mid-write is dropped) and
appends the rest; a journal of another run is discarded. ``write_json_atomic`` writes the final
file beside its destination and renames it over it, so a reader sees the old file or the whole
new one, never half of one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


class Journal:
    def __init__(self, path: str | Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint
        self._file = None

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
        """One finished chunk, flushed: a process killed later loses nothing of it."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._file = self.path.open("a")
            if new:
                self._file.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, obj, indent: int | None = None) -> None:
    """``obj`` as JSON at ``path``: streamed into a file beside it (no second copy of a large
    document in memory), then renamed over it (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")
    os.replace(tmp, path)

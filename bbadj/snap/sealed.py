"""bbadj snap's files carry their own digest, so that a rerun replaces an earlier output only when
nobody changed it since bbadj snap wrote it.

An annotations output and a review file start with the run's summary, whose first two keys are
``"written_by": "bbadj snap"`` and ``"sha256"``: the SHA-256 of the file's bytes with those 64
digits written as zeros (a file cannot hold its own digest otherwise). A results output, a plain
JSON list, has no room for one: the review file written with it records its digest as its third
key, ``output_sha256``. Hashed by hand (hashlib) because the digest must be written into the bytes
it covers, which no JSON library does.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import IO

ZEROS = "0" * 64
_SEAL = re.compile(
    rb'\A\s*\{\s*"(?:snap|summary)"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"\s*,'
    rb'\s*"sha256"\s*:\s*"([0-9a-f]{64})"'
)
_OUTPUT = re.compile(
    rb'\A\s*\{\s*"summary"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"\s*,'
    rb'\s*"sha256"\s*:\s*"[0-9a-f]{64}"\s*,\s*"output_sha256"\s*:\s*"([0-9a-f]{64})"'
)
_HEAD = 4096  # bytes: the seal is within the first few dozen


def seal_head(summary: dict, **first) -> dict:
    """``summary`` with ``sha256`` (zeros, filled in by ``dump``) after its ``written_by``, and
    then the keys ``first``."""
    head = {k: summary[k] for k in ("written_by",)}
    return {**head, "sha256": ZEROS, **first, **{k: v for k, v in summary.items() if k not in head}}


class _Hashing:
    """A binary file written as text: each piece encoded, hashed, and its first bytes kept."""

    def __init__(self, f: IO[bytes]):
        self.f, self.sha, self.head = f, hashlib.sha256(), bytearray()

    def write(self, text: str) -> None:
        data = text.encode()
        self.f.write(data)
        self.sha.update(data)
        if len(self.head) < _HEAD:
            self.head += data[: _HEAD - len(self.head)]


def dump(f: IO[bytes], obj, indent: int | None = None, seal: bool = False) -> str:
    """``obj`` as JSON and a newline into the new binary file ``f``; returns the SHA-256 of the
    bytes. With ``seal``, ``obj`` starts as ``seal_head`` makes it and its zeros become that
    digest."""
    out = _Hashing(f)
    json.dump(obj, out, indent=indent)
    out.write("\n")
    digest = out.sha.hexdigest()
    if seal:
        m = _SEAL.match(bytes(out.head))
        if m is None or m.group(1) != ZEROS.encode():
            raise ValueError("a sealed file starts with seal_head's keys")
        f.seek(m.start(1))
        f.write(digest.encode())
        f.seek(0, 2)
    return digest


def file_sha256(path: str | Path, zero: slice | None = None) -> str:
    """The SHA-256 of ``path``'s bytes, those of ``zero`` (a byte range) read as ASCII zeros."""
    h = hashlib.sha256()
    pos = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if zero is not None and pos < zero.stop and pos + len(block) > zero.start:
                a, b = max(zero.start - pos, 0), min(zero.stop - pos, len(block))
                block = block[:a] + b"0" * (b - a) + block[b:]
            h.update(block)
            pos += len(block)
    return h.hexdigest()


def _head(path: str | Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(_HEAD)


def is_unchanged(path: str | Path) -> bool | None:
    """Whether the sealed file at ``path`` still has the digest it records; None when it records
    none (a file of an earlier bbadj snap, or a results list)."""
    m = _SEAL.match(_head(path))
    if m is None:
        return None
    return file_sha256(path, slice(m.start(1), m.end(1))) == m.group(1).decode()


def recorded_output(review: str | Path) -> str | None:
    """The output's digest the review file at ``review`` records (None: no such file or record)."""
    try:
        m = _OUTPUT.match(_head(review))
    except (FileNotFoundError, IsADirectoryError):
        return None
    return m.group(1).decode() if m else None

"""Where ``bbadj snap`` may write: never over its input, and over an existing file only when that
file is an earlier output of ``bbadj snap`` of the same kind (a rerun replaces its own output)
that nobody changed since (its digest, ``sealed``; ``overwrite`` replaces it anyway). Anything
else there (the checkpoint, an image, another JSON, a review file given as the output) is refused
before any work, with an error naming it.

bbadj snap's files say what they are in their first bytes, so a file of any size is recognised
without reading it whole:

- an annotations output starts ``{"snap": {"written_by": "bbadj snap"`` (the run's summary first);
- a results output is a JSON list whose entries start ``{"snap": {"status"`` (or ``[]``);
- a review file starts ``{"summary": {"written_by": "bbadj snap"``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..util.errors import OutputError
from .sealed import file_sha256, is_unchanged, recorded_output

WRITTEN_BY = "bbadj snap"
HEADS = {
    "annotations": re.compile(rb'\A\s*\{\s*"snap"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"'),
    "results": re.compile(rb'\A\s*\[\s*(\]|\{\s*"snap"\s*:\s*\{\s*"status"\s*:)'),
    "review": re.compile(rb'\A\s*\{\s*"summary"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"'),
}
WHAT = {
    "annotations": "an annotations file bbadj snap wrote",
    "results": "a results file bbadj snap wrote",
    "review": "a review file bbadj snap wrote",
}


def written_by_snap(path: str | Path, kind: str) -> bool:
    """Whether the file at ``path`` is an output of ``bbadj snap`` of ``kind`` (``annotations``,
    ``results`` or ``review``), by its first bytes."""
    with open(path, "rb") as f:
        head = f.read(512)
    return bool(HEADS[kind].match(head))


def check_targets(inputs: list[Path], out: Path, review: Path, kind: str, overwrite: bool = False) -> None:
    """``OutputError`` unless ``out`` and ``review`` may be written: neither is an input (nor a link
    to one), a folder or the other, and each is new or an earlier output of ``bbadj snap``
    (``kind``: the input's, ``annotations`` or ``results``; the review file is always ``review``)
    unchanged since it was written, or with ``overwrite`` changed since."""
    if _same(out, review):
        raise OutputError(f"the output and the review file are the same file: {out}")
    for target, what, expect in ((out, "output", kind), (review, "review file", "review")):
        for p in inputs:
            if _same(target, Path(p)):
                raise OutputError(f"the {what} {target} is an input file: snap never writes over its input")
        if target.is_dir():
            raise OutputError(f"the {what} {target} is a folder; give a file name")
        if not target.exists():
            continue
        if not written_by_snap(target, expect):
            raise OutputError(
                f"the {what} {target} exists and is not {WHAT[expect]}: snap replaces only "
                f"its own earlier {what}, never another file; choose another name or move "
                f"that file away"
            )
        why = None if overwrite else _changed(target, expect, review)
        if why:
            raise OutputError(
                f"the {what} {target} was written by bbadj snap, but {why}: snap does not "
                f"replace it, so that no hand edit is lost; give --overwrite to replace it "
                f"anyway, or another name"
            )


def _same(a: Path, b: Path) -> bool:
    """The same file: one path, a link to the other, or a hard link (the same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _changed(target: Path, kind: str, review: Path) -> str | None:
    """Why ``target`` (an earlier output of ``kind``) is not known unchanged since snap wrote it;
    None when it is."""
    if kind == "results":  # a plain list: its digest is in the review file written with it
        recorded = recorded_output(review)
        if recorded is None:
            return (
                f"its digest, which its review file records, is not in {review} (a file of an "
                f"earlier bbadj snap, or another review file), so whether it changed is unknown"
            )
        return None if file_sha256(target) == recorded else "it changed since (its review file's digest differs)"
    unchanged = is_unchanged(target)
    if unchanged is None:
        return "it records no digest (an earlier bbadj snap wrote it), so whether it changed since is unknown"
    return None if unchanged else "it changed since (the digest it records differs)"

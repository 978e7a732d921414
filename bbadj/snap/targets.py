"""Where ``bbadj snap`` may write: never over its input, and over an existing file only when that
file is an earlier output of ``bbadj snap`` of the same kind (a rerun replaces its own output).
Anything else there (the checkpoint, an image, another JSON, a review file given as the output) is
refused before any work, with an error naming it.

bbadj snap's files say what they are in their first bytes, so a file of any size is recognised
without reading it whole:

- an annotations output starts ``{"snap": {"written_by": "bbadj snap"`` (the run's summary first);
- a results output is a JSON list whose entries start ``{"snap": {"status"`` (or ``[]``);
- a review file starts ``{"summary": {"written_by": "bbadj snap"``.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..util.errors import OutputError

WRITTEN_BY = "bbadj snap"
HEADS = {
    "annotations": re.compile(rb'\A\s*\{\s*"snap"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"'),
    "results": re.compile(rb'\A\s*\[\s*(\]|\{\s*"snap"\s*:\s*\{\s*"status"\s*:)'),
    "review": re.compile(rb'\A\s*\{\s*"summary"\s*:\s*\{\s*"written_by"\s*:\s*"bbadj snap"'),
}
WHAT = {"annotations": "an annotations file bbadj snap wrote", "results": "a results file bbadj snap wrote",
        "review": "a review file bbadj snap wrote"}


def written_by_snap(path: str | Path, kind: str) -> bool:
    """Whether the file at ``path`` is an output of ``bbadj snap`` of ``kind`` (``annotations``,
    ``results`` or ``review``), by its first bytes."""
    with open(path, "rb") as f:
        head = f.read(512)
    return bool(HEADS[kind].match(head))


def check_targets(inputs: list[Path], out: Path, review: Path, kind: str) -> None:
    """``OutputError`` unless ``out`` and ``review`` may be written: neither is an input, a folder
    or the other, and each is new or an earlier output of ``bbadj snap`` (``kind``: the input's,
    ``annotations`` or ``results``; the review file is always ``review``)."""
    if out.resolve() == review.resolve():
        raise OutputError(f"the output and the review file are the same file: {out}")
    for target, what, expect in ((out, "output", kind), (review, "review file", "review")):
        for p in inputs:
            if target.resolve() == Path(p).resolve():
                raise OutputError(f"the {what} {target} is an input file: snap never writes over its input")
        if target.is_dir():
            raise OutputError(f"the {what} {target} is a folder; give a file name")
        if target.exists() and not written_by_snap(target, expect):
            raise OutputError(f"the {what} {target} exists and is not {WHAT[expect]}: snap replaces only its own "
                              f"earlier {what}, never another file; choose another name or move that file away")

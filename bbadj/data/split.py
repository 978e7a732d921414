"""Split a COCO instances file into train and val by image: every ``every``-th image in image-id
order, starting at position ``offset``, goes to val; the rest to train. Boxes follow their image,
so no image (and no object) is in both. The rule is the record: rerunning it on the same file
gives the same two files (``tests/test_coco128.py`` checks the committed split)."""

from __future__ import annotations

import json
from pathlib import Path

from ..util.outputs import write_text


def split_by_image(doc: dict, every: int, offset: int) -> tuple[dict, dict]:
    """(train, val) COCO documents; each keeps ``info``, ``licenses`` and ``categories``."""
    if every < 2 or not 0 <= offset < every:
        raise ValueError(f"need every >= 2 and 0 <= offset < every, got every={every}, offset={offset}")
    ids = sorted(int(im["id"]) for im in doc["images"])
    val_ids = set(ids[offset::every])
    out = []
    for keep in (lambda i: i not in val_ids, lambda i: i in val_ids):
        part = {k: v for k, v in doc.items() if k not in ("images", "annotations")}
        part["images"] = [im for im in doc["images"] if keep(int(im["id"]))]
        part["annotations"] = [a for a in doc["annotations"] if keep(int(a["image_id"]))]
        out.append(part)
    return out[0], out[1]


def write_split(
    annotations: str | Path, train_out: str | Path, val_out: str | Path, every: int, offset: int
) -> dict[str, int]:
    """Split ``annotations`` into ``train_out`` and ``val_out``; returns the image and box counts."""
    doc = json.loads(Path(annotations).read_text())
    train, val = split_by_image(doc, every, offset)
    info = dict(doc.get("info") or {})
    for part, path, name in ((train, train_out, "train"), (val, val_out, "val")):
        part["info"] = {
            **info,
            "split": f"{name}: image-id order, every {every}th image from position {offset} "
            f"is val, the rest train (bbadj.data.split)",
        }
        write_text(path, json.dumps(part, separators=(",", ":")) + "\n")
    return {
        "train_images": len(train["images"]),
        "train_boxes": len(train["annotations"]),
        "val_images": len(val["images"]),
        "val_boxes": len(val["annotations"]),
    }

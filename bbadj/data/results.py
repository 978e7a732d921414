"""A COCO results file, a detector's boxes: a JSON list of ``{"image_id", "category_id", "bbox":
[x, y, w, h], "score"}`` (what pycocotools' ``loadRes`` reads; extra keys are ignored), read and
each entry checked. ``bbadj.scoring.detections`` scores such boxes, ``bbadj snap --detections`` snaps them."""

from __future__ import annotations

import math
from pathlib import Path

from ..util.errors import DataError
from .coco import is_json_box, is_json_int, is_json_number, read_json, shown


def read_results(path: str | Path) -> list:
    """A COCO results file as parsed JSON, checked to be a list (its entries: ``parse_entry``)."""
    doc = read_json(path, "detections")
    if not isinstance(doc, list):
        raise DataError(
            f"{path}: not a COCO results file (a JSON list of {{image_id, category_id, bbox, score}}), "
            f"got a JSON {type(doc).__name__}"
        )
    return doc


def parse_entry(path: Path, i: int, det) -> tuple[int, int, list[float], float]:
    """(image id, category id, COCO bbox x y w h, score) of entry ``i``, or a ``DataError`` naming it."""
    if not isinstance(det, dict):
        raise DataError(f"{path}: entry {i} is not an object: {det!r}")
    for key in ("image_id", "category_id", "bbox", "score"):
        if key not in det:
            raise DataError(f"{path}: entry {i} (image id {det.get('image_id')}) has no '{key}'")
    where = f"{path}: entry {i} (image id {shown(det['image_id'])})"
    kinds = {"image_id": is_json_int, "category_id": is_json_int, "bbox": is_json_box, "score": is_json_number}
    wrong = [f"{key} is {shown(det[key])}" for key, ok in kinds.items() if not ok(det[key])]
    if wrong:
        raise DataError(f"{where}: ids must be integers, bbox 4 numbers and score a number; {', '.join(wrong)}")
    iid, cat = int(det["image_id"]), int(det["category_id"])
    x, y, w, h = (float(v) for v in det["bbox"])
    score = float(det["score"])
    if not all(math.isfinite(v) for v in (x, y, w, h, score)):
        raise DataError(f"{where} has a non-finite bbox or score: bbox {det['bbox']}, score {det['score']}")
    if w < 0 or h < 0:
        raise DataError(f"{where} has a negative size bbox {det['bbox']}")
    return iid, cat, [x, y, w, h], score

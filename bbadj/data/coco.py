"""COCO instances reader: images and their boxes, with every skip counted and reported.

Boxes become ``(x0, y0, x1, y1)`` in continuous pixel coordinates (COCO's ``[x, y, w, h]``
with ``x1 = x + w``): a pixel column i spans [i, i + 1).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..box_ops import clip_to_image, xywh_to_xyxy
from ..util.errors import DataError  # noqa: F401  (imported from here by callers)


@dataclass
class ImageRecord:
    image_id: int
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float64, x0 y0 x1 y1 in pixels
    ann_ids: np.ndarray  # (N,) int64


@dataclass
class CocoBoxes:
    """The images that have at least one usable box, and what was skipped on the way."""

    images: list[ImageRecord]
    skipped: Counter = field(default_factory=Counter)
    source: str = ""
    clipped: int = 0  # boxes that stuck out of their image, clipped to it and kept
    skipped_ids: dict[int, str] = field(default_factory=dict)  # annotation id -> why its box was skipped

    @property
    def n_boxes(self) -> int:
        return int(sum(len(r.boxes) for r in self.images))

    def all_boxes(self) -> np.ndarray:
        """(N, 4) every box, in the order of ``images``."""
        return np.concatenate([r.boxes for r in self.images])

    def box_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, annotation ids) of every box, in the order of ``images``."""
        return (np.concatenate([np.full(len(r.boxes), r.image_id) for r in self.images]),
                np.concatenate([r.ann_ids for r in self.images]))

    def per_image(self, rows: np.ndarray) -> list[np.ndarray]:
        """Split ``rows`` (one per box, in the order of ``images``) into one array per image."""
        return np.split(rows, np.cumsum([len(r.boxes) for r in self.images])[:-1])

    def summary(self) -> str:
        parts = [f"{self.source}: {len(self.images)} images, {self.n_boxes} boxes"]
        if self.clipped:
            parts[0] += f" ({self.clipped} clipped to their image)"
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())))
        return "; ".join(parts)


def read_json(path: str | Path, what: str):
    """The parsed JSON of ``path``; ``FileNotFoundError`` / ``DataError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e


def read_instances(path: str | Path) -> dict:
    """A COCO instances file as parsed JSON, checked for its 'images' and 'annotations' lists."""
    return check_instances(read_json(path, "annotations"), path)


def check_instances(doc, path: str | Path) -> dict:
    """``doc`` (parsed from ``path``) if it has a COCO instances file's 'images' and 'annotations' lists."""
    if not isinstance(doc, dict) or "images" not in doc or "annotations" not in doc:
        raise DataError(f"{path}: not a COCO instances file (needs 'images' and 'annotations')")
    for key in ("images", "annotations"):
        if not isinstance(doc[key], list):
            raise DataError(f"{path}: '{key}' must be a list, got {doc[key]!r:.80}")
    return doc


# What a JSON value must be to count as an id, a number or a COCO box. Python's int() and
# float() would take 25.7 as id 25, "1234" as the box [1, 2, 3, 4] and true as 1.0.

def is_json_int(value) -> bool:
    """An integer: 25 or 25.0, not 25.7, "25", true or null."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def is_json_number(value) -> bool:
    """A number (NaN and infinity included: they are refused by name later), not a string or a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_json_box(value) -> bool:
    """A list of 4 numbers."""
    return isinstance(value, list) and len(value) == 4 and all(is_json_number(v) for v in value)


def load_coco(
    annotations: str | Path,
    images_dir: str | Path,
    *,
    skip_crowd: bool = True,
    min_box_size: float = 1.0,
    check_files: bool = True,
    verbose: bool = True,
) -> CocoBoxes:
    """Read a COCO instances JSON.

    Skipped and counted (never silently dropped): crowd boxes (``iscrowd=1``, when
    ``skip_crowd``), boxes under ``min_box_size`` pixels wide or high, boxes wholly outside
    their image, images without any usable box. Boxes that stick out of their image are
    clipped to it; those kept are counted in ``clipped`` (a clipped box then too small is counted
    once, as too small).

    Errors (``DataError`` naming the id or file): a file that is not COCO instances JSON, an id
    that is not an integer, an image without a file name or a positive size, duplicate image ids,
    an annotation whose image id does not exist, a bbox that is not 4 numbers or has NaN/inf or a
    negative width/height, and (with ``check_files``) a missing image file.
    """
    return boxes_from_instances(read_instances(annotations), annotations, images_dir, skip_crowd=skip_crowd,
                                min_box_size=min_box_size, check_files=check_files, verbose=verbose)


def boxes_from_instances(doc: dict, annotations: str | Path, images_dir: str | Path, *, skip_crowd: bool = True,
                         min_box_size: float = 1.0, check_files: bool = True, verbose: bool = True) -> CocoBoxes:
    """``load_coco`` on a document already read (``read_instances``) from ``annotations``, the
    file its errors name: for a caller that also needs the document itself (``bbadj snap``
    writes it back refined), so a large file is parsed once."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    images = _read_images(doc["images"], annotations)
    ann_ids, image_ids, xywh, crowd = _read_annotations(doc["annotations"], images, annotations)
    size = np.array([[images[i]["width"], images[i]["height"]] for i in image_ids], dtype=np.float64).reshape(-1, 2)
    corners = xywh_to_xyxy(xywh)
    boxes = clip_to_image(corners, size[:, 0], size[:, 1])
    # the first reason counts: crowd, then off the image, then too small
    crowd &= skip_crowd
    outside = ~crowd & ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    small = ~crowd & ~outside & ((boxes[:, 2:] - boxes[:, :2]) < min_box_size).any(axis=1)
    keep = ~(crowd | outside | small)
    reasons = (("crowd", crowd), ("outside image", outside), (f"smaller than {min_box_size:g} px", small))
    skipped = Counter({why: int(mask.sum()) for why, mask in reasons if mask.any()})
    skipped_ids = {int(a): why for why, mask in reasons for a in ann_ids[mask]}
    clipped = int((boxes[keep] != corners[keep]).any(axis=1).sum())

    rows_of: dict[int, list[int]] = {iid: [] for iid in images}
    for k in np.flatnonzero(keep):
        rows_of[int(image_ids[k])].append(k)
    skipped["images without usable boxes"] += sum(not rows for rows in rows_of.values())
    records = []
    for iid in sorted(iid for iid, rows in rows_of.items() if rows):
        im, rows = images[iid], rows_of[iid]
        path = images_dir / im["file_name"]
        if check_files and not path.exists():
            raise DataError(f"image file not found: {path} (image id {iid}, from {annotations})")
        records.append(ImageRecord(iid, path, int(im["width"]), int(im["height"]), boxes[rows], ann_ids[rows]))
    out = CocoBoxes(records, +skipped, str(annotations), clipped, skipped_ids)
    if verbose:
        print(out.summary())
    return out


def _read_images(entries: list, path: Path) -> dict[int, dict]:
    """Image id -> its entry: each id an integer, given once, with a file name and a positive size."""
    images: dict[int, dict] = {}
    for k, im in enumerate(entries):
        if not isinstance(im, dict) or not is_json_int(im.get("id")):
            raise DataError(f"{path}: images[{k}] has no integer 'id': {im!r:.200}")
        iid = int(im["id"])
        if iid in images:
            raise DataError(f"{path}: duplicate image id {iid}")
        for key in ("file_name", "width", "height"):
            if key not in im:
                raise DataError(f"{path}: image id {iid} has no '{key}'")
        if not (isinstance(im["file_name"], str) and all(is_json_int(im[k]) and im[k] > 0 for k in ("width", "height"))):
            raise DataError(f"{path}: image id {iid} needs a file_name string and positive integer width and height, "
                            f"got {im['file_name']!r}, {im['width']!r}, {im['height']!r}")
        images[iid] = im
    return images


def _read_annotations(entries: list, images: dict[int, dict], path: Path):
    """(annotation ids (N,), image ids (N,), COCO boxes x y w h (N, 4), crowd flags (N,)), each
    annotation checked: integer ids, an image that exists, a bbox of 4 finite numbers, w, h >= 0."""
    rows = []
    for k, ann in enumerate(entries):
        if not isinstance(ann, dict) or not is_json_int(ann.get("id")):
            raise DataError(f"{path}: annotations[{k}] has no integer 'id': {ann!r:.200}")
        aid, iid, bbox = int(ann["id"]), ann.get("image_id"), ann.get("bbox")
        if not (is_json_int(iid) and int(iid) in images):
            raise DataError(f"{path}: annotation id {aid} refers to image id {iid!r}, which does not exist")
        where = f"{path}: annotation id {aid} (image id {iid})"
        if not is_json_box(bbox):
            raise DataError(f"{where} has no 4-number bbox: {bbox!r}")
        if not all(math.isfinite(v) for v in bbox):
            raise DataError(f"{where} has a non-finite bbox {bbox}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise DataError(f"{where} has a negative size bbox {bbox}")
        rows.append((aid, int(iid), bbox, bool(ann.get("iscrowd", 0))))
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, 4), np.array([r[3] for r in rows], dtype=bool))

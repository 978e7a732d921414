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


class DataError(ValueError):
    """Bad input data; the message names the file, image id or annotation id."""


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
    """A COCO instances file as parsed JSON, checked for its 'images' and 'annotations'."""
    return check_instances(read_json(path, "annotations"), path)


def check_instances(doc, path: str | Path) -> dict:
    """``doc`` (parsed from ``path``) if it has a COCO instances file's 'images' and 'annotations'."""
    if not isinstance(doc, dict) or "images" not in doc or "annotations" not in doc:
        raise DataError(f"{path}: not a COCO instances file (needs 'images' and 'annotations')")
    return doc


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

    Errors (``DataError`` naming the id or file): a file that is not COCO instances JSON, an
    annotation whose image id does not exist, a box with NaN/inf or negative width/height,
    duplicate image ids, and (with ``check_files``) a missing image file.
    """
    return boxes_from_instances(read_instances(annotations), annotations, images_dir, skip_crowd=skip_crowd,
                                min_box_size=min_box_size, check_files=check_files, verbose=verbose)


def boxes_from_instances(doc: dict, annotations: str | Path, images_dir: str | Path, *, skip_crowd: bool = True,
                         min_box_size: float = 1.0, check_files: bool = True, verbose: bool = True) -> CocoBoxes:
    """``load_coco`` on a document already read (``read_instances``) from ``annotations``, the
    file its errors name: for a caller that also needs the document itself (``bbadj snap``
    writes it back refined), so a large file is parsed once."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    images: dict[int, dict] = {}
    for im in doc["images"]:
        iid = int(im["id"])
        if iid in images:
            raise DataError(f"{annotations}: duplicate image id {iid}")
        for key in ("file_name", "width", "height"):
            if key not in im:
                raise DataError(f"{annotations}: image id {iid} has no '{key}'")
        images[iid] = im

    skipped: Counter = Counter()
    skipped_ids: dict[int, str] = {}
    too_small = f"smaller than {min_box_size:g} px"
    clipped = 0
    per_image: dict[int, list[tuple[int, list[float]]]] = {iid: [] for iid in images}
    for ann in doc["annotations"]:
        aid = ann.get("id")
        iid = ann.get("image_id")
        if iid not in images:
            raise DataError(f"{annotations}: annotation id {aid} refers to image id {iid}, which does not exist")
        bbox = ann.get("bbox")
        if bbox is None or len(bbox) != 4:
            raise DataError(f"{annotations}: annotation id {aid} (image id {iid}) has no 4-number bbox: {bbox!r}")
        x, y, w, h = (float(v) for v in bbox)
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise DataError(f"{annotations}: annotation id {aid} (image id {iid}) has a non-finite bbox {bbox}")
        if w < 0 or h < 0:
            raise DataError(f"{annotations}: annotation id {aid} (image id {iid}) has a negative size bbox {bbox}")
        if skip_crowd and ann.get("iscrowd", 0):
            skipped["crowd"] += 1
            skipped_ids[int(aid)] = "crowd"
            continue
        im = images[iid]
        W, H = float(im["width"]), float(im["height"])
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, W), min(y + h, H)
        if x1 <= x0 or y1 <= y0:
            skipped["outside image"] += 1
            skipped_ids[int(aid)] = "outside image"
            continue
        if x1 - x0 < min_box_size or y1 - y0 < min_box_size:
            skipped[too_small] += 1
            skipped_ids[int(aid)] = too_small
            continue
        clipped += (x0, y0, x1, y1) != (x, y, x + w, y + h)
        per_image[iid].append((int(aid), [x0, y0, x1, y1]))

    records = []
    for iid, anns in per_image.items():
        if not anns:
            skipped["images without usable boxes"] += 1
            continue
        im = images[iid]
        path = images_dir / im["file_name"]
        if check_files and not path.exists():
            raise DataError(f"image file not found: {path} (image id {iid}, from {annotations})")
        records.append(
            ImageRecord(
                image_id=iid,
                path=path,
                width=int(im["width"]),
                height=int(im["height"]),
                boxes=np.asarray([b for _, b in anns], dtype=np.float64),
                ann_ids=np.asarray([a for a, _ in anns], dtype=np.int64),
            )
        )
    records.sort(key=lambda r: r.image_id)
    out = CocoBoxes(records, skipped, str(annotations), clipped, skipped_ids)
    if verbose:
        print(out.summary())
    return out

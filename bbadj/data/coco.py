"""COCO instances reader: images and their boxes, with every skip counted and reported.

Boxes become ``(x0, y0, x1, y1)`` in continuous pixel coordinates (COCO's ``[x, y, w, h]``
with ``x1 = x + w``): a pixel column i spans [i, i + 1).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.box_ops import clip_to_image, xywh_to_xyxy
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
    resolved: dict[int, tuple[str, str]] = field(default_factory=dict)  # image id -> (file name, file found)
    images_dir: str = ""

    @property
    def n_boxes(self) -> int:
        return int(sum(len(r.boxes) for r in self.images))

    def all_boxes(self) -> np.ndarray:
        """(N, 4) every box, in the order of ``images``."""
        return np.concatenate([r.boxes for r in self.images])

    def box_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, annotation ids) of every box, in the order of ``images``."""
        return (
            np.concatenate([np.full(len(r.boxes), r.image_id) for r in self.images]),
            np.concatenate([r.ann_ids for r in self.images]),
        )

    def per_image(self, rows: np.ndarray) -> list[np.ndarray]:
        """Split ``rows`` (one per box, in the order of ``images``) into one array per image."""
        return np.split(rows, np.cumsum([len(r.boxes) for r in self.images])[:-1])

    def summary(self) -> str:
        parts = [f"{self.source}: {len(self.images)} images, {self.n_boxes} boxes"]
        if self.clipped:
            parts[0] += f" ({self.clipped} clipped to their image)"
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())))
        if self.resolved:
            shown = "; ".join(f"{name} -> {found}" for name, found in list(self.resolved.values())[:3])
            more = f" and {len(self.resolved) - 3} more" if len(self.resolved) > 3 else ""
            parts.append(
                f"{len(self.resolved)} file names not found as written, found under {self.images_dir} by "
                f"their trailing folders: {shown}{more}"
            )
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
    except ValueError as e:  # Python refuses to read an integer of over 4300 digits
        raise DataError(
            f"{path}: holds an integer too long to read ({e.args[0].split(';')[0]}); no id, "
            f"box or size is such a number"
        ) from e


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
# float() would take 25.7 as id 25, "1234" as the box [1, 2, 3, 4] and true as 1.0; an integer
# of 400 digits is a valid JSON number that no array of ids (int64) or coordinates (float64) holds.
INT64 = 2**63


def is_json_int(value) -> bool:
    """An integer that fits 64 bits: 25 or 25.0, not 25.7, "25", true, null or 10**400."""
    return (
        (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    ) and -INT64 <= value < INT64


def is_json_number(value) -> bool:
    """A number that fits a float (NaN and infinity included: they are refused by name later), not
    a string, a boolean or 10**400."""
    if isinstance(value, float):
        return True
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1e308


def shown(value, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters (an integer of 400 digits, a long list)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


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
    ``skip_crowd``), boxes of zero width or height, boxes wholly outside their image, boxes under
    ``min_box_size`` pixels wide or high, images without any usable box, and image entries with
    no size (``"width": null``) and no box (Label Studio writes one for an image it could not
    open). Boxes that stick out of their image are clipped to it; those kept are counted in
    ``clipped`` (a clipped box then too small is counted once, as too small).

    A file name that is not found as written (an absolute path from another machine, say
    ``/content/drive/MyDrive/data/img/1.jpg``) is looked for under ``images_dir`` by its trailing
    folders, the longest that exists first (``img/1.jpg``, then ``1.jpg``); each such image is
    counted and named (``resolved``). A name that points outside ``images_dir`` (absolute, or with
    ``..``) is looked for so, and only so: no file outside the folder is opened, even one that
    exists there.

    Errors (``DataError`` naming the id or file): a file that is not COCO instances JSON, an id
    that is not an integer, an annotation id given twice, an image without a file name or with a
    size that is not a positive integer (or none, when it has boxes), duplicate image ids, an
    annotation whose image id does not exist, a bbox that is not 4 numbers or has NaN/inf or a
    negative width/height, and (with ``check_files``) a missing image file or two image entries
    whose names resolve to the same file.
    """
    return boxes_from_instances(
        read_instances(annotations),
        annotations,
        images_dir,
        skip_crowd=skip_crowd,
        min_box_size=min_box_size,
        check_files=check_files,
        verbose=verbose,
    )


ZERO_SIZE = "zero width or height"
OUTSIDE = "outside image"
NO_SIZE = "images without a size (and no box)"


def boxes_from_instances(
    doc: dict,
    annotations: str | Path,
    images_dir: str | Path,
    *,
    skip_crowd: bool = True,
    min_box_size: float = 1.0,
    check_files: bool = True,
    verbose: bool = True,
    string_ids: bool = False,
) -> CocoBoxes:
    """``load_coco`` on a document already read (``read_instances``) from ``annotations``, the
    file its errors name: for a caller that also needs the document itself (``bbadj snap``
    writes it back refined), so a large file is parsed once.

    With ``string_ids`` (``bbadj snap``, which writes every id back as it was) an annotation id
    may also be a string, as pycocotools allows, and ``ann_ids`` holds each box's position in
    ``doc["annotations"]`` instead of its id."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    images, sizeless = _read_images(doc["images"], annotations)
    ann_ids, image_ids, xywh, crowd = _read_annotations(doc["annotations"], images, annotations, string_ids)
    with_boxes = sorted(set(image_ids.tolist()) & sizeless)
    if with_boxes:
        iid = with_boxes[0]
        raise DataError(
            f"{annotations}: image id {iid} has no size (width {images[iid].get('width')!r}, height "
            f"{images[iid].get('height')!r}) but has boxes: its boxes cannot be checked against the image "
            f"({len(with_boxes)} such images)"
        )
    size = np.array([[images[i]["width"], images[i]["height"]] for i in image_ids], dtype=np.float64).reshape(-1, 2)
    corners = xywh_to_xyxy(xywh)
    boxes = clip_to_image(corners, size[:, 0], size[:, 1])
    # the first reason counts: crowd, then no area at all, then off the image, then too small
    crowd &= skip_crowd
    zero = ~crowd & ((xywh[:, 2] == 0) | (xywh[:, 3] == 0))
    outside = ~crowd & ~zero & ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    small = ~crowd & ~zero & ~outside & ((boxes[:, 2:] - boxes[:, :2]) < min_box_size).any(axis=1)
    keep = ~(crowd | zero | outside | small)
    reasons = (("crowd", crowd), (ZERO_SIZE, zero), (OUTSIDE, outside), (f"smaller than {min_box_size:g} px", small))
    skipped = Counter({why: int(mask.sum()) for why, mask in reasons if mask.any()})
    skipped_ids = {a: why for why, mask in reasons for a in ann_ids[mask].tolist()}
    clipped = int((boxes[keep] != corners[keep]).any(axis=1).sum())

    rows_of: dict[int, list[int]] = {iid: [] for iid in images if iid not in sizeless}
    for k in np.flatnonzero(keep):
        rows_of[int(image_ids[k])].append(k)
    skipped["images without usable boxes"] += sum(not rows for rows in rows_of.values())
    skipped[NO_SIZE] += len(sizeless)
    records, resolved, found_at = [], {}, {}
    for iid in sorted(iid for iid, rows in rows_of.items() if rows):
        im, rows = images[iid], rows_of[iid]
        name = im["file_name"]
        inside = is_inside(name)
        path = images_dir / name if inside else images_dir.joinpath(*name_parts(name))
        if check_files and not (inside and path.is_file()):
            path = resolve_file_name(name, images_dir)
            if path is None:
                where = (
                    f"{images_dir / name}"
                    if inside
                    else f"{name} (a name outside {images_dir}: looked for only inside it)"
                )
                raise DataError(
                    f"image file not found: {where} (image id {iid}, from {annotations}; nor any of "
                    f"its trailing folders under {images_dir})"
                )
            resolved[iid] = (name, str(path))
        other = found_at.get(path.resolve()) if check_files else None
        if other is not None and (iid in resolved or other in resolved):
            raise DataError(
                f"{annotations}: image ids {other} and {iid} ({images[other]['file_name']!r} and "
                f"{im['file_name']!r}) are both found as {path}: which file is which is unclear"
            )
        found_at[path.resolve()] = iid
        records.append(ImageRecord(iid, path, int(im["width"]), int(im["height"]), boxes[rows], ann_ids[rows]))
    out = CocoBoxes(records, +skipped, str(annotations), clipped, skipped_ids, resolved, str(images_dir))
    if verbose:
        print(out.summary())
    return out


def is_inside(name: str) -> bool:
    """Whether the file name ``name``, joined to the image folder, stays inside it: not absolute
    (``/x``, ``C:\\x``, ``\\\\host\\x``) and without a ``..`` part. Links inside the folder are
    followed: the folder is the user's own (DVC's symlink cache, a link to a data disk); the names
    come from an annotation file, which may be anyone's."""
    return not (
        name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:([\\/]|$)", name) or ".." in re.split(r"[\\/]+", name)
    )


def name_parts(name: str) -> list[str]:
    """``name``'s folders and file name, without drive letters, ``.`` and ``..``."""
    return [p for p in re.split(r"[\\/]+", name) if p not in ("", ".", "..") and not re.fullmatch(r"[A-Za-z]:", p)]


def resolve_file_name(name: str, images_dir: Path) -> Path | None:
    """``name`` (not found under ``images_dir`` as written, or a name outside it: absolute or with
    ``..``, never opened as written) by its trailing folders under ``images_dir``, the longest that
    exists first: ``/content/drive/data/img/1.jpg`` is looked for as ``img/1.jpg``... down to
    ``1.jpg``. Windows separators count; drive letters, ``.`` and ``..`` are dropped. None when no
    such file exists."""
    parts = name_parts(name)
    for k in range(len(parts)):
        candidate = images_dir.joinpath(*parts[k:])
        if candidate.is_file():
            return candidate
    return None


def _read_images(entries: list, path: Path) -> tuple[dict[int, dict], set[int]]:
    """(image id -> its entry, the ids of entries without a size): each id an integer, given once,
    with a file name and a positive integer size, or no size at all (null or absent)."""
    images: dict[int, dict] = {}
    sizeless: set[int] = set()
    for k, im in enumerate(entries):
        if not isinstance(im, dict) or not is_json_int(im.get("id")):
            raise DataError(f"{path}: images[{k}] has no integer 'id': {im!r:.200}")
        iid = int(im["id"])
        if iid in images:
            raise DataError(f"{path}: duplicate image id {iid}")
        if "file_name" not in im:
            raise DataError(f"{path}: image id {iid} has no 'file_name'")
        if im.get("width") is None and im.get("height") is None and isinstance(im["file_name"], str):
            sizeless.add(iid)
        elif not (
            isinstance(im["file_name"], str) and all(is_json_int(im.get(k)) and im[k] > 0 for k in ("width", "height"))
        ):
            raise DataError(
                f"{path}: image id {iid} needs a file_name string and positive integer width and height, "
                f"got {shown(im['file_name'])}, {shown(im.get('width'))}, {shown(im.get('height'))}"
            )
        images[iid] = im
    return images, sizeless


def is_annotation_id(value, string_ids: bool) -> bool:
    """An integer id; with ``string_ids`` also a non-empty string (pycocotools takes any hashable)."""
    return is_json_int(value) or (string_ids and isinstance(value, str) and value != "")


def _read_annotations(entries: list, images: dict[int, dict], path: Path, string_ids: bool = False):
    """(annotation ids (N,) (positions with ``string_ids``), image ids (N,), COCO boxes x y w h
    (N, 4), crowd flags (N,)), each annotation checked: an id given once (integer, or with
    ``string_ids`` also a string), an image that exists, a bbox of 4 finite numbers, w, h >= 0.

    An id given twice is an error in every reader: the ids tie a box to its results (a detection's
    match, a snapped entry), and two boxes under one id were counted as one."""
    rows, seen = [], {}
    for k, ann in enumerate(entries):
        if not isinstance(ann, dict) or not is_annotation_id(ann.get("id"), string_ids):
            kind = "integer or string" if string_ids else "integer"
            raise DataError(f"{path}: annotations[{k}] has no {kind} 'id': {ann!r:.200}")
        aid = ann["id"] if isinstance(ann["id"], str) else int(ann["id"])
        if aid in seen:
            raise DataError(
                f"{path}: annotation id {aid!r} appears twice (annotations[{seen[aid]}] and "
                f"annotations[{k}]): ids must be unique"
            )
        seen[aid] = k
        iid, bbox = ann.get("image_id"), ann.get("bbox")
        if not (is_json_int(iid) and int(iid) in images):
            raise DataError(f"{path}: annotation id {aid!r} refers to image id {shown(iid)}, which does not exist")
        where = f"{path}: annotation id {aid!r} (image id {iid})"
        if not is_json_box(bbox):
            raise DataError(f"{where} has no 4-number bbox: {shown(bbox)}")
        if not all(math.isfinite(v) for v in bbox):
            raise DataError(f"{where} has a non-finite bbox {bbox}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise DataError(f"{where} has a negative size bbox {bbox}")
        rows.append((k if string_ids else aid, int(iid), bbox, bool(ann.get("iscrowd", 0))))
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, 4),
        np.array([r[3] for r in rows], dtype=bool),
    )

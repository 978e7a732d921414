"""``bbadj snap``: every box of a COCO file snapped by a model, into a new COCO file.

The input is an annotations file (``{"images", "annotations", ...}``) or a detector's results
file (a JSON list of ``{"image_id", "category_id", "bbox", "score"}``, read with the annotations
file that names its images). The output is the same document with each box entry refined:

- ``bbox``: the model's box ([x, y, w, h]) with each edge it moved by no more than ``hold`` x that
  edge's err_px left where it was, and with ``hold_mode`` ``shrink`` every other edge moved that
  much less (``hold.hold_edges``), or the box as it was where the review rule
  (``review.ReviewRule``) finds an edge the model is unsure of, or the box was skipped;
- ``area``: for a box that changed, its new w x h (a rectangle's area; a box with a mask is left
  as it is, or with ``snap_masked`` keeps its mask's area);
- ``segmentation``: a polygon that is exactly its box's rectangle (``polygons.rectangle``: V7,
  sahi and converters write a box so) follows a box that changed; a mask is never changed;
- ``snap``: ``status`` (``changed``; ``kept``: unsure, listed for review, with ``reason`` and
  ``failed``, the edges and the numbers; or ``skipped``, with its ``reason``), ``bbox_original``
  (the person's box: the input's, or on a file bbadj snap wrote, the very first one, never
  replaced), ``bbox_input`` (on a later pass, the box this pass started from), ``passes`` (how
  many runs of bbadj snap this box went through), ``model`` (the first 12 hex digits of the
  weights' sha256), and for a box the model saw, ``bbox_snapped`` (its box, whether used or
  not), ``err_px`` and ``confidence`` per edge, and for a changed box ``held``, the edges left where
  they were (the hold; none: ``[]``).

Every other key is left as it was, ids included (strings too). An annotations output starts with
the run's summary (``snap``: counts, settings, the model's checkpoint, its sha256, the time, the
pass number, and ``history``, the summaries of earlier passes); a results output, a plain list,
has the summary in the review file only. The review file lists the kept boxes with the summary.

Skipped and counted: crowd regions, boxes of zero width or height, boxes under ``min_box_size``
px, boxes wholly outside their image, annotations with a polygon (VIA's flat list too; not one
that is its box's rectangle) or RLE mask (unless ``snap_masked``: the box is snapped and the mask
left as it was, so the box may no longer bound it), and the boxes of an image that cannot be
decoded or that libjpeg decodes with a warning (``corrupt image``, each file named in the
summary): one damaged photo does not stop a month's file. A box that sticks out of its image is clipped to it before it is snapped. What tools write
that would read as something else (a string image id, an empty or folder file name) is named as
what it is (``checks``).

Memory does not grow with the boxes of one image: each image's boxes are cut into pieces of at
most one model batch, each piece cropped on its own (the image is decoded once per piece). Work
goes in chunks of consecutive pieces (about one model batch each, fixed by the input alone), and
each finished chunk's predictions are appended to a journal beside the output
(``<out>.partial.jsonl``). A rerun of a killed run, with the same input, model and settings,
skips the chunks in its journal; the model sees the same batches, so the output is
byte-identical to an uninterrupted run's started at the same time. The review file and the
output are written to temporary files and renamed (a reader sees the old file or the whole new
one), and the journal goes last. Neither ever replaces the input or a file bbadj snap did not
write (``targets.check_targets``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..core.box_ops import EDGES, xyxy_to_xywh
from ..core.config import Config
from ..core.registry import DECODINGS
from ..data.coco import CocoBoxes, ImageRecord, boxes_from_instances, check_instances, is_json_box, read_json
from ..data.images import CorruptImage
from ..data.results import parse_entry, read_results
from ..fingerprint.code import code_digest
from ..util.errors import ConfigError, DataError
from ..util.progress import progress_bar
from .adjust import adjust_boxes
from ..util.outputs import atomic_open
from .checks import check_file_names, check_image_ids
from .hold import check_hold, check_mode, held_names, hold_edges
from .hold import describe as describe_hold
from .hold_defaults import HOLD, HOLD_MODE
from .journal import Journal
from .polygons import is_polygon, rectangle
from .review import ReviewRule, reason
from .sealed import dump, seal_head
from .targets import WRITTEN_BY, check_targets

JOURNAL_SUFFIX = ".partial.jsonl"
FORMAT = 3  # of the snap keys: 2 adds passes, history, failed edges and the model's hashes; 3 held edges
CORRUPT = "corrupt image"


SNAP = "bbadj.snap.file"  # a journal belongs to the code bbadj snap runs (its imports, normalised)


@dataclass(frozen=True)
class SnapSettings:
    """What changes the output (all of it goes into the journal's fingerprint)."""

    max_err_px: float | None = None  # review rule: an edge expected off by more pixels (review.ReviewRule)
    max_err_frac: float | None = None  # ... by more than this fraction of the box's side
    min_p: float | None = None  # ... with P(|error| < within_px) under this
    within_px: float = 3.0
    buffer_ratio: float | None = None  # the crop around the rough box (default: the model's own)
    min_box_size: float = 1.0  # boxes narrower or lower than this (px) are skipped
    skip_crowd: bool = True  # crowd regions have no single object's edges
    snap_masked: bool = False  # snap the box of an annotation with a mask too (the mask is left as it is)
    batch_size: int = 128  # boxes per model batch (and per journal chunk)
    decoding: str = "subpixel"
    # an edge the model moves by at most this many times its err_px stays where it was (hold.py; None
    # or 0: off); the default was chosen on coco128's val split by `bbadj bench snap-harm` (docs/snap.md)
    hold: float | None = HOLD
    hold_mode: str = HOLD_MODE  # hold: the other edges where the model put them; shrink: hold x err_px less

    def __post_init__(self):
        self.rule  # noqa: B018 - checks the rule's numbers
        check_hold(self.hold, "hold")
        check_mode(self.hold_mode, "hold_mode")
        if not self.batch_size >= 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.min_box_size >= 0:
            raise ConfigError(f"min_box_size must be >= 0 pixels, got {self.min_box_size}")
        if self.decoding not in DECODINGS.names():
            raise ConfigError(f"decoding must be one of {', '.join(DECODINGS.names())}, got {self.decoding!r}")

    @property
    def rule(self) -> ReviewRule:
        return ReviewRule(self.max_err_px, self.max_err_frac, self.min_p, self.within_px)


@dataclass
class SnapInput:
    """A file to snap: the document to write back, its box entries, and the usable boxes
    (``coco``; its annotation ids are positions in ``entries``)."""

    kind: str  # "annotations" | "results"
    doc: dict | list
    entries: list[dict]
    coco: CocoBoxes
    file_names: dict[int, str]  # image id -> file name, for the review list
    history: list[dict]  # the summaries of the passes that wrote this file before
    previous_passes: int = 0  # runs of bbadj snap that wrote it: its history, or in a results file the most
    # passes an entry went through (a plain list has no room for a history)


def mask_kind(entry: dict) -> str | None:
    """``polygon`` or ``RLE`` for an entry with a mask (COCO's ``segmentation``; a polygon nested
    or VIA's flat list), else None (no key, null, the empty list rectangle exporters write, or a
    polygon that is exactly its box's rectangle: ``polygons.rectangle``, a box written as 4
    corners, which follows the box)."""
    seg = entry.get("segmentation")
    if isinstance(seg, dict):
        return "RLE"
    if is_polygon(seg) and not (is_json_box(entry.get("bbox")) and rectangle(seg, entry["bbox"])):
        return "polygon"
    return None


def read_input(
    annotations: str | Path,
    images: str | Path,
    detections: str | Path | None = None,
    settings: SnapSettings = SnapSettings(),
) -> SnapInput:
    """The annotations file to snap, or with ``detections`` that results file (its images are the
    annotations file's). Errors name the file and the entry (``DataError``), as ``bbadj evaluate``'s."""
    annotations = Path(annotations)
    doc = read_json(annotations, "annotations")
    if isinstance(doc, list):
        raise DataError(
            f"{annotations}: a JSON list, like a COCO results file: give it as the detections, "
            f"with the annotations file that names its images"
        )
    check_instances(doc, annotations)
    if detections is not None:
        detections = Path(detections)
        results = read_results(detections)
        image_ids = {im.get("id") for im in doc["images"] if isinstance(im, dict)}
        check_image_ids(doc["images"], results, detections, results=True)
        for i, det in enumerate(results):
            iid, _, _, _ = parse_entry(detections, i, det)
            if iid not in image_ids:
                raise DataError(f"{detections}: entry {i} refers to image id {iid}, which is not in {annotations}")
            _check_previous(det, detections, f"entry {i}")
        boxes = [{"id": i, "image_id": det["image_id"], "bbox": det["bbox"]} for i, det in enumerate(results)]
        check_file_names(doc["images"], results, annotations, images)
        coco = _boxes(doc, boxes, results, annotations, images, settings)
        passes = max((int(d["snap"].get("passes", 1)) for d in results if isinstance(d.get("snap"), dict)), default=0)
        return SnapInput("results", results, results, coco, _file_names(doc), [], passes)
    entries = doc["annotations"]
    for i, ann in enumerate(entries):
        if isinstance(ann, dict):
            _check_previous(ann, annotations, f"annotation id {ann.get('id')!r}")
    check_image_ids(doc["images"], entries, annotations)
    check_file_names(doc["images"], entries, annotations, images)
    coco = _boxes(doc, entries, entries, annotations, images, settings)
    history = _history(doc, annotations)
    return SnapInput("annotations", doc, entries, coco, _file_names(doc), history, len(history))


def _boxes(doc: dict, boxes: list, entries: list, source: Path, images, settings: SnapSettings) -> CocoBoxes:
    """The usable boxes (``boxes``: id, image id and bbox of each entry, in order), their
    ``ann_ids`` positions in ``entries``; masked entries skipped unless ``snap_masked``."""
    coco = boxes_from_instances(
        {"images": doc["images"], "annotations": boxes},
        source,
        images,
        skip_crowd=settings.skip_crowd,
        min_box_size=settings.min_box_size,
        verbose=False,
        string_ids=True,
    )
    if not settings.snap_masked:
        masked = {
            i: f"has {'an' if kind == 'RLE' else 'a'} {kind} mask"
            for i, e in enumerate(entries)
            if (kind := mask_kind(e))
        }
        masked = {i: why for i, why in masked.items() if i not in coco.skipped_ids}
        records = []
        for rec in coco.images:
            keep = np.array([int(a) not in masked for a in rec.ann_ids], dtype=bool)
            if keep.any():
                records.append(dataclasses.replace(rec, boxes=rec.boxes[keep], ann_ids=rec.ann_ids[keep]))
        coco.images = records
        coco.skipped_ids.update(masked)
    return coco


def _check_previous(entry: dict, path: Path, where: str) -> None:
    """An entry's ``snap`` key, if any, must be one bbadj snap wrote: its first original is kept."""
    prev = entry.get("snap")
    if prev is not None and not (isinstance(prev, dict) and is_json_box(prev.get("bbox_original"))):
        raise DataError(
            f"{path}: {where} has a 'snap' key that bbadj snap did not write ({prev!r:.120}); snap "
            f"would replace it: rename that key first"
        )


def _history(doc: dict, path: Path) -> list[dict]:
    """The earlier passes' summaries of a file bbadj snap wrote (none for another file)."""
    prev = doc.get("snap")
    if prev is None:
        return []
    if isinstance(prev, dict) and "written_by" not in prev and {"kind", "changed", "kept", "settings"} <= set(prev):
        return [{"format": 1, **prev}]  # bbadj snap's summary before it said so (no written_by, no history)
    if not (isinstance(prev, dict) and prev.get("written_by") == WRITTEN_BY):
        raise DataError(
            f"{path}: its top-level 'snap' key was not written by bbadj snap ({prev!r:.120}); snap "
            f"would replace it: rename that key first"
        )
    earlier = prev.get("history", [])
    return [*earlier, {k: v for k, v in prev.items() if k != "history"}]


def _file_names(doc: dict) -> dict:
    return {im.get("id"): im.get("file_name") for im in doc["images"] if isinstance(im, dict)}


def default_out(path: str | Path) -> Path:
    """``x.json`` -> ``x.snapped.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.snapped{path.suffix or '.json'}")


def default_review(out: str | Path) -> Path:
    """``x.snapped.json`` -> ``x.snapped.review.json`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.review{out.suffix or '.json'}")


def targets(annotations, detections=None, out=None, review=None) -> tuple[list[Path], Path, Path, str]:
    """(input files, output, review file, kind) of a run, defaults filled in. An ``out`` or
    ``review`` that is a folder (one that exists, or a name ending in ``/``) gets the default name
    inside it, as ``cp`` does."""
    inputs = [Path(annotations)] + ([Path(detections)] if detections is not None else [])
    out = _inside(out, default_out(inputs[-1]).name) or default_out(inputs[-1])
    review = _inside(review, default_review(out).name) or default_review(out)
    return inputs, out, review, "results" if detections is not None else "annotations"


def _inside(target, name: str) -> Path | None:
    """``target`` / ``name`` where ``target`` is a folder, else ``target`` (None: none given)."""
    if target is None:
        return None
    text = str(target)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return Path(text) / name
    return Path(text)


def pieces(coco: CocoBoxes, batch_size: int) -> list[ImageRecord]:
    """Each image's boxes in pieces of at most ``batch_size`` (consecutive, in order): the crops of
    one piece are cut together, so 5,000 boxes on one photograph need no more memory than 128."""
    out = []
    for rec in coco.images:
        for s in range(0, len(rec.boxes), batch_size):
            out.append(
                dataclasses.replace(rec, boxes=rec.boxes[s : s + batch_size], ann_ids=rec.ann_ids[s : s + batch_size])
            )
    return out


def chunks(records: list[ImageRecord], batch_size: int) -> list[slice]:
    """Consecutive pieces of ``records`` until at least ``batch_size`` boxes: ``adjust_boxes`` runs
    such a chunk as one model batch, and the chunks depend on the input alone, so a resumed run
    batches its boxes as an uninterrupted one does."""
    out, start, n = [], 0, 0
    for i, rec in enumerate(records):
        n += len(rec.boxes)
        if n >= batch_size:
            out.append(slice(start, i + 1))
            start, n = i + 1, 0
    if start < len(records):
        out.append(slice(start, len(records)))
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def snap_file(
    annotations: str | Path,
    images: str | Path,
    model,
    out: str | Path | None = None,
    *,
    detections: str | Path | None = None,
    review: str | Path | None = None,
    settings: SnapSettings = SnapSettings(),
    progress: bool = True,
    overwrite: bool = False,
    stop_after: int | None = None,
) -> dict:
    """Snap every box of ``annotations`` (or of the results file ``detections``, on the
    annotations' images) with ``model`` into ``out`` (default: ``default_out`` of the input), and
    list the boxes kept for review in ``review`` (default: ``default_review(out)``). Returns the
    summary (counts, files, settings, provenance), which both files also hold (a results file, a
    plain list, has no room for it), with ``output_sha256``, the output's digest. An earlier output
    changed since bbadj snap wrote it is replaced only with ``overwrite``. A second run on the same
    ``out`` at the same time stops with an ``OutputError``. ``stop_after`` ends the run after that
    many chunks, as if killed (tests)."""
    inputs, out, review, kind = targets(annotations, detections, out, review)
    journal = Journal(str(out) + JOURNAL_SUFFIX, "", {"started": _now()})
    with journal.hold(str(out)):
        check_targets(inputs, out, review, kind, overwrite)
        return _snap(
            inputs, out, review, kind, journal, annotations, images, model, detections, settings, progress, stop_after
        )


def _snap(
    inputs, out, review, kind, journal, annotations, images, model, detections, settings, progress, stop_after
) -> dict:
    data = read_input(annotations, images, detections, settings)
    weights = weights_sha256(model)
    journal.fingerprint = _fingerprint(inputs, images, weights, model, settings)
    work = pieces(data.coco, settings.batch_size)
    parts = chunks(work, settings.batch_size)
    counts: Counter = Counter()
    corrupt: dict[str, str] = {}
    ctx = dict(data=data, settings=settings, counts=counts, corrupt=corrupt, model_id=weights[:12])
    resumed = 0
    unchanged = lambda row: row.get("images") == _images_stat(work[parts[row["chunk"]]])  # noqa: E731
    for row in journal.done(len(parts), unchanged):  # the chunks a killed run finished, on the same images
        _apply_chunk(work[parts[resumed]], row, **ctx)
        resumed += 1

    cfg = Config().with_overrides(
        {
            "eval": {"batch_size": settings.batch_size, "decoding": settings.decoding, "passes": 1},
            "data": {"num_workers": 0},
        }
    )
    geometry = model.geometry.with_buffer_ratio(settings.buffer_ratio)
    n_boxes = lambda k: sum(len(r.boxes) for r in work[parts[k]])  # noqa: E731
    bar = progress_bar(
        total=data.coco.n_boxes,
        desc=f"snap {inputs[-1].name}",
        unit="box",
        disable=not progress,
        initial=sum(n_boxes(k) for k in range(resumed)),
        dynamic_ncols=True,
    )
    try:
        for k in range(resumed, len(parts)):
            if stop_after is not None and k - resumed >= stop_after:
                return {"stopped_after_chunks": stop_after, "journal": str(journal.path)}
            # the images' sizes and times before they are read: one changed while being read is redone
            stat = _images_stat(work[parts[k]])
            row = {"chunk": k, **_adjust_chunk(work[parts[k]], cfg, model, geometry), "images": stat}
            journal.append(row)
            # into the entries at once: what is kept per box is the output itself, never a second copy
            _apply_chunk(work[parts[k]], row, **ctx)
            bar.update(n_boxes(k))
    finally:
        bar.close()

    summary = {
        "written_by": WRITTEN_BY,
        "format": FORMAT,
        "pass": data.previous_passes + 1,
        "time": journal.meta.get("started"),
        **_summary(data, counts, corrupt),
        "input": str(inputs[-1]),
        "annotations": str(annotations),
        "images": str(images),
        "output": str(out),
        "review": str(review),
        "model": _describe(model, geometry, weights),
        "review_rule": settings.rule.describe(),
        "hold_rule": describe_hold(settings.hold, settings.hold_mode),
        "held_edges": counts["held_edges"],  # of the changed boxes; each box's in its snap.held
        "settings": asdict(settings),
    }
    if data.kind == "annotations":
        summary["history"] = data.history
        doc = {
            "snap": seal_head(summary),
            **{k: v for k, v in data.doc.items() if k != "snap"},
        }  # its head says what it is
    else:
        doc = data.doc
    # both written whole beside, then moved into place one right after the other (the review first)
    with atomic_open(out, "wb") as f:
        digest = dump(f, doc, seal=data.kind == "annotations")
        with atomic_open(review, "wb") as g:
            dump(
                g,
                {"summary": seal_head(summary, output_sha256=digest), "kept": _review_rows(data)},
                indent=1,
                seal=True,
            )
    journal.remove()
    return {**summary, "output_sha256": digest}


def _images_stat(records: list[ImageRecord]) -> str:
    """The size and modification time of each image file of ``records``: a chunk of the journal
    stands for these files as they were (an image replaced since, e.g. a corrupt one fixed, is
    read again)."""
    h = hashlib.sha256()
    for path in sorted({str(r.path) for r in records}):
        try:
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path}\0missing\n".encode())
    return h.hexdigest()[:16]


def _adjust_chunk(records: list[ImageRecord], cfg, model, geometry) -> dict:
    """The model's boxes, confidences and errors for the boxes of ``records`` whose image decodes;
    ``corrupt``: file -> why, for those whose image does not (``CorruptImage``), left out."""
    bad: dict[str, str] = {}
    while True:
        good = [r for r in records if str(r.path) not in bad]
        if not good:
            return {"boxes": [], "confidence": [], "err_px": [], "corrupt": bad}
        try:
            boxes, conf, err = adjust_boxes(CocoBoxes(good), [r.boxes for r in good], cfg, model, geometry, False)
        except CorruptImage as e:
            if e.path is None or e.path in bad:
                raise
            bad[e.path] = str(e)
            continue
        return {"boxes": boxes.tolist(), "confidence": conf.double().tolist(), "err_px": err.tolist(), "corrupt": bad}


def _apply_chunk(
    records: list[ImageRecord],
    row: dict,
    data: SnapInput,
    settings: SnapSettings,
    counts: Counter,
    corrupt: dict,
    model_id: str,
) -> None:
    """Write one chunk's predictions into its entries (``bbox``, ``area``, ``snap``), and count them."""
    bad = row.get("corrupt", {})
    corrupt.update(bad)
    for rec in records:
        if str(rec.path) in bad:
            data.coco.skipped_ids.update({int(i): CORRUPT for i in rec.ann_ids})
    index = np.concatenate([r.ann_ids for r in records if str(r.path) not in bad] or [np.zeros(0, dtype=np.int64)])
    rough = np.concatenate([r.boxes for r in records if str(r.path) not in bad] or [np.zeros((0, 4))])
    model_xyxy = np.asarray(row["boxes"], dtype=np.float64).reshape(-1, 4)
    # the hold is applied here, not in the journal: the journal keeps what the model said
    err_px = np.asarray(row["err_px"], dtype=np.float64).reshape(-1, 4)
    held_xyxy, held = hold_edges(rough, model_xyxy, err_px, settings.hold, settings.hold_mode)
    boxes = xyxy_to_xywh(model_xyxy).tolist()
    rule = settings.rule
    for i, box, out, held_row, conf, err in zip(
        index, boxes, xyxy_to_xywh(held_xyxy).tolist(), held, row["confidence"], row["err_px"]
    ):
        entry = data.entries[int(i)]
        snapped = _round(box, 3)
        failed = rule.failures(snapped, err)
        status = "kept" if failed else "changed"
        counts[status] += 1
        info = {"status": status}
        if failed:
            info.update({"reason": reason(failed), "failed": failed})
        info.update(_provenance(entry, model_id))
        info.update(
            {
                "bbox_snapped": snapped,
                "err_px": dict(zip(EDGES, _round(err, 3))),
                "confidence": dict(zip(EDGES, _round(conf, 4))),
            }
        )
        if not failed:
            info["held"] = held_names(held_row)
            counts["held_edges"] += len(info["held"])
            # read before the box moves: a polygon that is the old box's rectangle goes with it
            shape = rectangle(entry.get("segmentation"), entry["bbox"])
            masked = mask_kind(entry) is not None
            entry["bbox"] = _round(out, 3)  # a held edge at the input's place, rounded as every snapped box
            if shape is not None:
                entry["segmentation"] = shape.follow(entry["bbox"])
                counts["rectangle polygons"] += 1
            if "area" in entry and not masked:  # a rectangle's area is its box's
                entry["area"] = round(entry["bbox"][2] * entry["bbox"][3], 3)
        _set_snap(data, int(i), info)


def _provenance(entry: dict, model_id: str) -> dict:
    """The box's first original (kept from an earlier pass), this pass's input, the pass count and the model."""
    prev = entry.get("snap")
    if prev is None:
        return {"bbox_original": entry["bbox"], "passes": 1, "model": model_id}
    return {
        "bbox_original": prev["bbox_original"],
        "bbox_input": entry["bbox"],
        "passes": int(prev.get("passes", 1)) + 1,
        "model": model_id,
    }


def _set_snap(data: SnapInput, i: int, info: dict) -> None:
    """Put ``info`` as entry ``i``'s ``snap``: last in an annotation; first in a results entry, so
    that a results file bbadj snap wrote says so in its first bytes (``targets``)."""
    entry = data.entries[i]
    if data.kind == "results":
        data.entries[i] = {"snap": info, **{k: v for k, v in entry.items() if k != "snap"}}
    else:
        entry.pop("snap", None)
        entry["snap"] = info


def _summary(data: SnapInput, counts: Counter, corrupt: dict) -> dict:
    """Mark the skipped entries; the counts."""
    skipped: Counter = Counter()
    for i, why in sorted(data.coco.skipped_ids.items()):
        entry = data.entries[i]
        prov = _provenance(entry, None)
        info = {"status": "skipped", "reason": why, "bbox_original": prov["bbox_original"]}
        if "bbox_input" in prov:
            info["bbox_input"] = prov["bbox_input"]
        info["passes"] = prov["passes"]
        _set_snap(data, i, info)
        skipped[why] += 1
    return {
        "kind": data.kind,
        "boxes": len(data.entries),
        "changed": counts["changed"],
        "kept": counts["kept"],
        "skipped": sum(skipped.values()),
        "skipped_by_reason": dict(sorted(skipped.items())),
        "rectangle_polygons": counts["rectangle polygons"],  # changed boxes whose polygon moved with them
        "corrupt_images": dict(sorted(corrupt.items())),
        "images_skipped": dict(sorted((k, v) for k, v in data.coco.skipped.items() if k.startswith("images"))),
        "file_names_resolved": {str(k): v[1] for k, v in sorted(data.coco.resolved.items())},
        "images_with_boxes": len({e.get("image_id") for e in data.entries}),
        "images_snapped": len({r.image_id for r in data.coco.images if str(r.path) not in corrupt}),
    }


def _review_rows(data: SnapInput) -> list[dict]:
    """The kept boxes, in file order: where they are, which edges failed and what the model proposed."""
    rows = []
    for i, entry in enumerate(data.entries):
        snap = entry.get("snap", {})
        if snap.get("status") == "kept":
            rows.append(
                {
                    "entry": i,
                    "id": entry.get("id") if data.kind == "annotations" else None,
                    "image_id": entry["image_id"],
                    "file_name": data.file_names.get(entry["image_id"]),
                    **{
                        k: snap[k]
                        for k in ("reason", "failed", "bbox_original", "bbox_snapped", "err_px", "confidence")
                    },
                }
            )
    return rows


def describe(summary: dict) -> str:
    """The counts in one line, e.g. ``294 boxes: 280 changed, 12 kept for review (err_px above 3
    px), 2 skipped (1 crowd, 1 outside image)``."""
    s = summary
    kept = f"{s['kept']} kept for review"
    if s["review_rule"] != "no rule":
        kept += f" ({s['review_rule']})"
    skipped = f"{s['skipped']} skipped"
    if s["skipped_by_reason"]:
        skipped += " (" + ", ".join(f"{n} {why}" for why, n in s["skipped_by_reason"].items()) + ")"
    line = f"{s['input']}: {s['boxes']} boxes: {s['changed']} changed, {kept}, {skipped} -> {s['output']}"
    notes = [f"pass {s['pass']}: each box keeps its first original in snap.bbox_original"] if s["pass"] > 1 else []
    if s.get("held_edges"):
        notes.append(f"{s['held_edges']} edges of the changed boxes held ({s['hold_rule']}; each box's in snap.held)")
    notes += [f"corrupt image, its boxes left as they were: {f}" for f in s["corrupt_images"]]
    if s["rectangle_polygons"]:
        notes.append(f"{s['rectangle_polygons']} polygons that were their box's rectangle moved with the box")
    if s["images_skipped"]:
        notes.append("images skipped: " + ", ".join(f"{n} {why}" for why, n in s["images_skipped"].items()))
    if s["file_names_resolved"]:
        notes.append(
            f"{len(s['file_names_resolved'])} file names found under {s['images']} by their trailing "
            f"folders (listed in the review file's summary)"
        )
    return "\n".join([line, *notes])


def _round(values, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _describe(model, geometry, weights: str) -> dict:
    checkpoint = getattr(model, "checkpoint", None)
    return {
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": None if checkpoint is None or not Path(checkpoint).exists() else _file_sha256(checkpoint),
        "weights_sha256": weights,
        "backbone": model.cfg.backbone,
        "fusion": model.cfg.fusion,
        "crop_size": geometry.crop_size,
        "buffer_ratio": geometry.buffer_ratio,
    }


def _file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_sha256(model) -> str:
    """The model's weights, whatever file they came from: names and values, in order."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _fingerprint(inputs: list, images, weights: str, model, settings: SnapSettings) -> str:
    """The journal belongs to these input files, image folder, model, settings and code only."""
    h = hashlib.sha256()
    for p in inputs:
        h.update(_file_sha256(p).encode())
    h.update(str(Path(images).resolve()).encode())
    h.update(weights.encode())
    h.update(
        json.dumps(
            [asdict(settings), asdict(model.geometry), code_digest(SNAP), torch.get_num_threads()], sort_keys=True
        ).encode()
    )
    return h.hexdigest()

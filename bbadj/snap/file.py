"""``bbadj snap``: every box of a COCO file snapped by a model, into a new COCO file.

The input is an annotations file (``{"images", "annotations", ...}``) or a detector's results
file (a JSON list of ``{"image_id", "category_id", "bbox", "score"}``, read with the annotations
file that names its images). The output is the same document with each box entry refined:

- ``bbox``: the model's box ([x, y, w, h]), or the original one where the model is unsure (an
  edge's expected error ``err_px`` above ``max_err_px``) or the box was skipped;
- ``snap``: ``status`` (``changed``, ``kept``: unsure, listed for review, or ``skipped``, with its
  ``reason``), ``bbox_original`` (the input's box, as it was), and for a box the model saw,
  ``bbox_snapped`` (its box, whether used or not), ``err_px`` and ``confidence`` per edge.

Every other key is left as it was (COCO's ``area`` is the mask's area, not the box's). The boxes
that were kept are also listed, with the summary, in a review file. Which boxes are skipped
follows ``load_coco``: crowd regions, boxes under ``min_box_size`` px, boxes wholly outside their
image; a box that sticks out of its image is clipped to it before it is snapped.

Images are decoded one at a time, so memory does not grow with the number of images (the JSON
document itself is held once). Work goes in chunks of consecutive images (about one model batch
each, fixed by the input alone), and each finished chunk's predictions are appended to a journal
beside the output (``<out>.partial.jsonl``). A rerun of a killed run, with the same input, model
and settings, skips the chunks in its journal; the model sees the same batches, so the output is
byte-identical to an uninterrupted run's. The review file and the output are written to temporary
files and renamed (a reader sees the old file or the whole new one), and the journal goes last.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..box_ops import EDGES, xyxy_to_xywh
from ..config import Config
from ..data.coco import CocoBoxes, boxes_from_instances, check_instances, is_json_int, read_json
from ..data.results import parse_entry, read_results
from ..util.errors import ConfigError, DataError
from ..util.fingerprint import code_digest
from ..util.progress import progress_bar
from .adjust import adjust_boxes
from .journal import Journal, write_json_atomic

JOURNAL_SUFFIX = ".partial.jsonl"


@dataclass(frozen=True)
class SnapSettings:
    """What changes the output (all of it goes into the journal's fingerprint)."""

    max_err_px: float | None = None  # an edge expected to be off by more: the box is kept, for review
    buffer_ratio: float | None = None  # the crop around the rough box (default: the model's own)
    min_box_size: float = 1.0  # boxes narrower or lower than this (px) are skipped
    skip_crowd: bool = True  # crowd regions have no single object's edges
    batch_size: int = 128  # boxes per model batch (and per journal chunk)
    decoding: str = "subpixel"

    def __post_init__(self):
        if self.max_err_px is not None and not self.max_err_px > 0:
            raise ConfigError(f"max_err_px must be > 0, got {self.max_err_px}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass
class SnapInput:
    """A file to snap: the document to write back, its box entries, and the usable boxes
    (``coco``; its annotation ids are positions in ``entries``)."""

    kind: str  # "annotations" | "results"
    doc: dict | list
    entries: list[dict]
    coco: CocoBoxes
    file_names: dict[int, str]  # image id -> file name, for the review list


def read_input(annotations: str | Path, images: str | Path, detections: str | Path | None = None,
               settings: SnapSettings = SnapSettings()) -> SnapInput:
    """The annotations file to snap, or with ``detections`` that results file (its images are the
    annotations file's). Errors name the file and the entry (``DataError``), as ``bbadj evaluate``'s."""
    annotations = Path(annotations)
    doc = read_json(annotations, "annotations")
    if isinstance(doc, list):
        raise DataError(f"{annotations}: a JSON list, like a COCO results file: give it as the detections, "
                        f"with the annotations file that names its images")
    check_instances(doc, annotations)
    filters = dict(skip_crowd=settings.skip_crowd, min_box_size=settings.min_box_size, verbose=False)
    if detections is not None:
        detections = Path(detections)
        results = read_results(detections)
        image_ids = {int(im["id"]) for im in doc["images"]}
        boxes = []
        for i, det in enumerate(results):
            iid, _, _, _ = parse_entry(detections, i, det)
            if iid not in image_ids:
                raise DataError(f"{detections}: entry {i} refers to image id {iid}, which is not in {annotations}")
            boxes.append({"id": i, "image_id": iid, "bbox": det["bbox"]})
        # the results' boxes on the annotations' images: the same filters, clipping and file checks
        coco = boxes_from_instances({"images": doc["images"], "annotations": boxes}, annotations, images, **filters)
        return SnapInput("results", results, results, coco, _file_names(doc))
    entries = doc["annotations"]
    position = {}
    for i, ann in enumerate(entries):
        aid = ann.get("id") if isinstance(ann, dict) else None
        if not is_json_int(aid):
            raise DataError(f"{annotations}: annotations[{i}] has no integer 'id': {ann!r:.200}")
        aid = int(aid)
        if aid in position:
            raise DataError(f"{annotations}: annotation id {aid} appears twice (annotations {position[aid]} and {i})")
        position[aid] = i
    coco = boxes_from_instances(doc, annotations, images, **filters)
    # annotation ids -> positions in ``entries``, so both kinds of file are written back alike
    for rec in coco.images:
        rec.ann_ids = np.array([position[int(a)] for a in rec.ann_ids], dtype=np.int64)
    coco.skipped_ids = {position[a]: why for a, why in coco.skipped_ids.items()}
    return SnapInput("annotations", doc, entries, coco, _file_names(doc))


def _file_names(doc: dict) -> dict[int, str]:
    return {int(im["id"]): im["file_name"] for im in doc["images"]}


def default_out(path: str | Path) -> Path:
    """``x.json`` -> ``x.snapped.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.snapped{path.suffix or '.json'}")


def default_review(out: str | Path) -> Path:
    """``x.snapped.json`` -> ``x.snapped.review.json`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.review{out.suffix or '.json'}")


def chunks(coco: CocoBoxes, batch_size: int) -> list[slice]:
    """Consecutive images of ``coco`` until at least ``batch_size`` boxes: ``adjust_boxes`` runs
    such a chunk as one model batch, and the chunks depend on the input alone, so a resumed run
    batches its boxes as an uninterrupted one does."""
    out, start, n = [], 0, 0
    for i, rec in enumerate(coco.images):
        n += len(rec.boxes)
        if n >= batch_size:
            out.append(slice(start, i + 1))
            start, n = i + 1, 0
    if start < len(coco.images):
        out.append(slice(start, len(coco.images)))
    return out


def snap_file(annotations: str | Path, images: str | Path, model, out: str | Path | None = None, *,
              detections: str | Path | None = None, review: str | Path | None = None,
              settings: SnapSettings = SnapSettings(), progress: bool = True,
              stop_after: int | None = None) -> dict:
    """Snap every box of ``annotations`` (or of the results file ``detections``, on the
    annotations' images) with ``model`` into ``out`` (default: ``default_out`` of the input), and
    list the boxes kept for review in ``review`` (default: ``default_review(out)``). Returns the
    summary (counts, files, settings), which both files also hold (a results file, a plain list,
    has no room for it). ``stop_after`` ends the run after that many chunks, as if killed (tests)."""
    source = Path(detections if detections is not None else annotations)
    out = Path(out) if out is not None else default_out(source)
    review = Path(review) if review is not None else default_review(out)
    _refuse_overwrite([Path(annotations)] + ([Path(detections)] if detections is not None else []), out, review)
    data = read_input(annotations, images, detections, settings)
    journal = Journal(str(out) + JOURNAL_SUFFIX,
                      _fingerprint([annotations] + ([detections] if detections is not None else []), images, model,
                                   settings))
    parts = chunks(data.coco, settings.batch_size)
    counts: Counter = Counter()
    resumed = 0
    for row in journal.done(len(parts)):  # the chunks a killed run finished
        _apply_chunk(data, parts[resumed], row, settings, counts)
        resumed += 1

    cfg = Config().with_overrides({"eval": {"batch_size": settings.batch_size, "decoding": settings.decoding,
                                            "passes": 1}, "data": {"num_workers": 0}})
    geometry = model.geometry.with_buffer_ratio(settings.buffer_ratio)
    n_done = sum(len(data.coco.images[parts[k]]) for k in range(resumed))
    bar = progress_bar(total=len(data.coco.images), desc=f"snap {source.name}", unit="img", disable=not progress,
                       initial=n_done, dynamic_ncols=True)
    try:
        for k in range(resumed, len(parts)):
            if stop_after is not None and k - resumed >= stop_after:
                return {"stopped_after_chunks": stop_after, "journal": str(journal.path)}
            sub = CocoBoxes(data.coco.images[parts[k]], source=data.coco.source)
            boxes, conf, err = adjust_boxes(sub, [r.boxes for r in sub.images], cfg, model, geometry, False)
            row = {"chunk": k, "boxes": boxes.tolist(), "confidence": conf.double().tolist(), "err_px": err.tolist()}
            journal.append(row)
            # into the entries at once: what is kept per box is the output itself, never a second copy
            _apply_chunk(data, parts[k], row, settings, counts)
            bar.update(len(sub.images))
    finally:
        bar.close()

    summary = _summary(data, counts)
    summary.update({"input": str(source), "annotations": str(annotations), "images": str(images),
                    "output": str(out), "review": str(review), "model": _describe(model, geometry),
                    "settings": asdict(settings)})
    if data.kind == "annotations":
        data.doc["snap"] = summary
    write_json_atomic(review, {"summary": summary, "kept": _review_rows(data)}, indent=1)
    write_json_atomic(out, data.doc)
    journal.remove()
    return summary


def _apply_chunk(data: SnapInput, part: slice, row: dict, settings: SnapSettings, counts: Counter) -> None:
    """Write one chunk's predictions into its entries (``bbox`` and ``snap``), and count them."""
    index = np.concatenate([r.ann_ids for r in data.coco.images[part]])
    boxes = xyxy_to_xywh(row["boxes"]).tolist()
    for i, box, conf, err in zip(index, boxes, row["confidence"], row["err_px"]):
        entry = data.entries[int(i)]
        unsure = settings.max_err_px is not None and max(err) > settings.max_err_px
        status = "kept" if unsure else "changed"
        counts[status] += 1
        info = {"status": status}
        if unsure:
            info["reason"] = f"err_px above {settings.max_err_px:g} on " + ", ".join(
                e for e, v in zip(EDGES, err) if v > settings.max_err_px)
        info.update({"bbox_original": entry["bbox"], "bbox_snapped": _round(box, 3),
                     "err_px": dict(zip(EDGES, _round(err, 3))), "confidence": dict(zip(EDGES, _round(conf, 4)))})
        if not unsure:
            entry["bbox"] = info["bbox_snapped"]
        entry["snap"] = info


def _summary(data: SnapInput, counts: Counter) -> dict:
    """Mark the skipped entries; the counts."""
    skipped: Counter = Counter()
    for i, why in sorted(data.coco.skipped_ids.items()):
        entry = data.entries[i]
        entry["snap"] = {"status": "skipped", "reason": why, "bbox_original": entry["bbox"]}
        skipped[why] += 1
    n_images = len({e["image_id"] for e in data.entries})
    return {"kind": data.kind, "boxes": len(data.entries), "changed": counts["changed"], "kept": counts["kept"],
            "skipped": sum(skipped.values()), "skipped_by_reason": dict(sorted(skipped.items())),
            "images_with_boxes": n_images, "images_snapped": len(data.coco.images)}


def _review_rows(data: SnapInput) -> list[dict]:
    """The kept boxes, in file order: where they are and what the model proposed."""
    rows = []
    for i, entry in enumerate(data.entries):
        snap = entry.get("snap", {})
        if snap.get("status") == "kept":
            rows.append({"entry": i, "id": entry.get("id") if data.kind == "annotations" else None,
                         "image_id": entry["image_id"], "file_name": data.file_names.get(int(entry["image_id"])),
                         **{k: snap[k] for k in ("reason", "bbox_original", "bbox_snapped", "err_px", "confidence")}})
    return rows


def describe(summary: dict) -> str:
    """The counts in one line, e.g. ``294 boxes: 280 changed, 12 kept for review (err_px above 3),
    2 skipped (1 crowd, 1 outside image)``."""
    s = summary
    kept = f"{s['kept']} kept for review"
    if s["settings"]["max_err_px"] is not None:
        kept += f" (err_px above {s['settings']['max_err_px']:g} px)"
    skipped = f"{s['skipped']} skipped"
    if s["skipped_by_reason"]:
        skipped += " (" + ", ".join(f"{n} {why}" for why, n in s["skipped_by_reason"].items()) + ")"
    return f"{s['input']}: {s['boxes']} boxes: {s['changed']} changed, {kept}, {skipped} -> {s['output']}"


def _round(values, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _describe(model, geometry) -> dict:
    return {"backbone": model.cfg.backbone, "fusion": model.cfg.fusion, "crop_size": geometry.crop_size,
            "buffer_ratio": geometry.buffer_ratio}


def _refuse_overwrite(inputs: list[Path], out: Path, review: Path) -> None:
    for target, what in ((out, "output"), (review, "review file")):
        for p in inputs:
            if target.resolve() == p.resolve():
                raise DataError(f"the {what} {target} is an input file: snap never writes over its input")
    if out.resolve() == review.resolve():
        raise DataError(f"the output and the review file are the same file: {out}")


def _fingerprint(inputs: list, images, model, settings: SnapSettings) -> str:
    """The journal belongs to these input files, image folder, model, settings and code only."""
    h = hashlib.sha256()
    for p in inputs:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    h.update(str(Path(images).resolve()).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps([asdict(settings), asdict(model.geometry), code_digest(), torch.get_num_threads()],
                        sort_keys=True).encode())
    return h.hexdigest()

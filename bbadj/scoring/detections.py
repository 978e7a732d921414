"""Refining a detector's boxes (the paper's "DETR + Snapper" rows): a COCO results file is
matched to the ground truth, and the matched pairs are scored twice, with the detector's boxes as
they are and after the model adjusted them (the detector's box is the rough box: no jitter, one
draw). Only matched pairs are scored: a box with no true box has nothing to snap to.

The matching rule (``RULE``), COCO-style: per image and per category, detections in descending
score order (ties: file order) each take the still unmatched ground-truth box of highest IoU
(ties: the first in annotation order), if that IoU >= ``iou_threshold``; each ground-truth box is
matched at most once. The ground truth is what ``load_boxes`` keeps: boxes it skips (crowd, too
small, off the image) are not matchable, so a detection on them is unmatched.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from ..core.box_ops import COORDS, EDGES, xywh_to_xyxy
from ..core.config import Config
from ..data.coco import CocoBoxes, DataError, ImageRecord, is_json_int, read_instances
from ..data.results import parse_entry, read_results
from .evaluate import no_confidence
from .metrics import per_box_errors, summarize
from ..snap.adjust import adjust_boxes
from ..util.outputs import named_columns, write_csv

DEFAULT_IOU_THRESHOLD = 0.5  # COCO's AP50 threshold, the usual "this detection found that object"
# 0: keep every detection. Low-score ones are ordered last, so they only take true boxes that no
# higher-score detection took; raise it to score only what a deployed detector would show.
DEFAULT_SCORE_THRESHOLD = 0.0
RULE = (
    "per image and category, detections in descending score order each take the unmatched "
    "ground-truth box of highest IoU if that IoU >= iou_threshold; each ground-truth box is matched at most once"
)


@dataclass
class GroundTruthLabels:
    """What ``CocoBoxes`` does not keep and the matching needs, read from the annotations file."""

    source: str
    image_ids: set[int]
    category_of: dict[int, int]  # annotation id -> category id
    category_ids: set[int]


@dataclass
class Detections:
    """The detections kept for matching (one row each), and what was read and skipped."""

    source: str
    index: np.ndarray  # (N,) position of each in the results file
    image_ids: np.ndarray  # (N,) int64
    category_ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64, x0 y0 x1 y1 pixels
    scores: np.ndarray  # (N,) float64
    n_read: int
    skipped: Counter
    score_threshold: float


@dataclass
class Matching:
    """The matched pairs, in the ground truth's order: ``coco`` holds the matched true boxes (one
    record per image with a match), ``rows[k]`` the detection (a row of ``detections``) of its
    k-th box, ``iou[k]`` their IoU."""

    coco: CocoBoxes
    detections: Detections
    rows: np.ndarray
    iou: np.ndarray
    counts: dict


def read_labels(annotations: str | Path) -> GroundTruthLabels:
    """Image ids, each annotation's category and the category ids of a COCO instances file."""
    path = Path(annotations)
    doc = read_instances(path)
    category_of = {}
    for ann in doc["annotations"]:  # load_coco has checked their ids
        if not is_json_int(ann.get("category_id")):
            raise DataError(
                f"{path}: annotation id {ann.get('id')} has no integer 'category_id': {ann.get('category_id')!r}"
            )
        category_of[int(ann["id"])] = int(ann["category_id"])
    listed = doc.get("categories", [])
    if not (isinstance(listed, list) and all(isinstance(c, dict) and is_json_int(c.get("id")) for c in listed)):
        raise DataError(f"{path}: 'categories' must be a list of {{id, ...}} with integer ids, got {listed!r:.200}")
    categories = {int(c["id"]) for c in listed} or set(category_of.values())
    return GroundTruthLabels(str(path), {int(im["id"]) for im in doc["images"]}, category_of, categories)


def load_detections(
    path: str | Path, labels: GroundTruthLabels, score_threshold: float = DEFAULT_SCORE_THRESHOLD
) -> Detections:
    """Read a COCO results file: a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}`` (what pycocotools' ``loadRes`` reads; extra keys are ignored).

    Skipped and counted, first reason first: a category that is not in the annotations, a score
    below ``score_threshold``. Errors (``DataError`` naming the file and entry): not a list, an
    entry without one of the four keys, a bbox that is not 4 finite numbers or has a negative
    width or height, a non-finite score, an image id that is not in the annotations."""
    if not math.isfinite(score_threshold):
        raise ValueError(f"score_threshold must be a finite number, got {score_threshold}")
    path = Path(path)
    doc = read_results(path)
    skipped: Counter = Counter()
    rows = []
    for i, det in enumerate(doc):
        iid, cat, box, score = parse_entry(path, i, det)
        if iid not in labels.image_ids:
            raise DataError(f"{path}: entry {i} refers to image id {iid}, which is not in {labels.source}")
        if cat not in labels.category_ids:
            skipped["category not in the annotations"] += 1
        elif score < score_threshold:
            skipped[f"score below {score_threshold:g}"] += 1
        else:
            rows.append((i, iid, cat, box, score))
    return Detections(
        source=str(path),
        index=np.array([r[0] for r in rows], dtype=np.int64),
        image_ids=np.array([r[1] for r in rows], dtype=np.int64),
        category_ids=np.array([r[2] for r in rows], dtype=np.int64),
        boxes=xywh_to_xyxy(np.array([r[3] for r in rows], dtype=np.float64).reshape(-1, 4)),
        scores=np.array([r[4] for r in rows], dtype=np.float64),
        n_read=len(doc),
        skipped=skipped,
        score_threshold=score_threshold,
    )


def match_detections(
    detections: Detections, coco: CocoBoxes, labels: GroundTruthLabels, iou_threshold: float = DEFAULT_IOU_THRESHOLD
) -> Matching:
    """Match ``detections`` to the boxes of ``coco`` by ``RULE``; the counts say what became of
    every detection read and every true box."""
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    records, rows, ious = [], [], []
    for rec in coco.images:
        match, iou = _match_image(detections, rec, labels, iou_threshold)
        keep = match >= 0
        if keep.any():
            records.append(
                ImageRecord(rec.image_id, rec.path, rec.width, rec.height, rec.boxes[keep], rec.ann_ids[keep])
            )
            rows.append(match[keep])
            ious.append(iou[keep])
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    n_kept, n_matched = len(detections.index), len(rows)
    counts = {
        "detections": detections.source,
        "annotations": labels.source,
        "rule": RULE,
        "iou_threshold": iou_threshold,
        "score_threshold": detections.score_threshold,
        "detections_read": detections.n_read,
        "skipped": dict(sorted(detections.skipped.items())),
        "detections_kept": n_kept,
        "matched": n_matched,
        "unmatched_detections": n_kept - n_matched,
        "gt_boxes": coco.n_boxes,
        "missed_gt": coco.n_boxes - n_matched,
        "gt_skipped": dict(sorted(coco.skipped.items())),
    }
    matched = CocoBoxes(records, coco.skipped, coco.source, coco.clipped)
    return Matching(matched, detections, rows, np.concatenate(ious) if ious else np.zeros(0), counts)


def _match_image(
    detections: Detections, rec: ImageRecord, labels: GroundTruthLabels, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each true box of ``rec``: the detection row matched to it (-1: none) and their IoU."""
    match, match_iou = np.full(len(rec.boxes), -1, dtype=np.int64), np.zeros(len(rec.boxes))
    on_image = np.flatnonzero(detections.image_ids == rec.image_id)
    gt_category = np.array([labels.category_of[int(a)] for a in rec.ann_ids])
    for cat in np.unique(detections.category_ids[on_image]):
        gt = np.flatnonzero(gt_category == cat)
        if not len(gt):
            continue
        dets = on_image[detections.category_ids[on_image] == cat]
        dets = dets[np.argsort(-detections.scores[dets], kind="stable")]
        iou = box_iou(torch.as_tensor(detections.boxes[dets]), torch.as_tensor(rec.boxes[gt])).numpy()
        taken = np.zeros(len(gt), dtype=bool)
        for k, row in enumerate(dets):
            candidates = np.where(taken | (iou[k] < iou_threshold), -1.0, iou[k])
            j = int(np.argmax(candidates))  # the first of equal IoUs
            if candidates[j] < 0:
                continue
            taken[j] = True
            match[gt[j]], match_iou[gt[j]] = row, iou[k, j]
    return match, match_iou


def score_matching(
    matching: Matching,
    cfg: Config,
    model=None,
    *,
    buffer_ratio: float | None = None,
    progress: bool = True,
    per_box_csv: str | Path | None = None,
) -> dict:
    """``{"matching": counts, "detector": row, "adjusted": row}``, each row ``{"n_boxes", <the six
    METRIC_KEYS>}`` (fractions in 0..1) over the matched pairs; without ``model`` no "adjusted"
    row. The model adjusts the detector's boxes with ``evaluate``'s machinery (``adjust_boxes``:
    its own crops, ``buffer_ratio`` where given, ``cfg.eval``'s decoding, batching and passes)."""
    if not len(matching.rows):
        raise DataError(
            f"{matching.detections.source}: no detection matched a ground-truth box of "
            f"{matching.counts['annotations']} at IoU >= {matching.counts['iou_threshold']} "
            f"(do its image_id and category_id follow the annotations' ids?)"
        )
    gt = torch.as_tensor(matching.coco.all_boxes())
    det = torch.as_tensor(matching.detections.boxes[matching.rows])
    result = {"matching": matching.counts, "detector": _row(per_box_errors(det, gt))}
    adj, (conf, _) = torch.full_like(det, float("nan")), no_confidence(len(det))
    adj_errors = None
    if model is not None:
        geometry = model.geometry.with_buffer_ratio(buffer_ratio)
        adj, conf, _ = adjust_boxes(
            matching.coco, matching.coco.per_image(det.numpy()), cfg, model, geometry, progress, "adjust detections"
        )
        adj_errors = per_box_errors(adj, gt)
        result["adjusted"] = _row(adj_errors)
    if per_box_csv is not None:
        adj_iou = adj_errors["iou"].numpy() if adj_errors is not None else np.full(len(det), np.nan)
        write_csv(
            per_box_csv,
            _per_box_table(matching, gt.numpy(), det.numpy(), adj.numpy(), conf.numpy(), adj_iou),
            formats={"score": ".6g"},
        )
    return result


def evaluate_detections(
    detections: str | Path,
    coco: CocoBoxes,
    cfg: Config,
    model=None,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    buffer_ratio: float | None = None,
    progress: bool = True,
    per_box_csv: str | Path | None = None,
) -> dict:
    """Read, match and score a COCO results file against ``coco`` (as ``load_boxes`` gives it; its
    annotations file, ``coco.source``, is read again for the categories); ``score_matching``'s dict."""
    labels = read_labels(coco.source)
    matching = match_detections(load_detections(detections, labels, score_threshold), coco, labels, iou_threshold)
    return score_matching(matching, cfg, model, buffer_ratio=buffer_ratio, progress=progress, per_box_csv=per_box_csv)


def _row(errors: dict[str, torch.Tensor]) -> dict:
    return {"n_boxes": len(errors["iou"]), **summarize(errors)}


def _per_box_table(
    matching: Matching, gt: np.ndarray, det: np.ndarray, adj: np.ndarray, conf: np.ndarray, adj_iou: np.ndarray
) -> dict[str, np.ndarray]:
    """The per-box CSV's columns, one row per matched pair: ids, the detection's file index and
    score, true/detector/adjusted boxes, per-edge confidence and both IoUs (adjusted ones NaN
    without a model)."""
    d = matching.detections
    image_ids, ann_ids = matching.coco.box_ids()
    return {
        "image_id": image_ids,
        "ann_id": ann_ids,
        "det_index": d.index[matching.rows],
        "category_id": d.category_ids[matching.rows],
        "score": d.scores[matching.rows],
        **named_columns("gt", gt, COORDS),
        **named_columns("det", det, COORDS),
        **named_columns("adj", adj, COORDS),
        **named_columns("conf", conf, EDGES),
        "det_iou": matching.iou,
        "adj_iou": adj_iou,
    }

"""Rough boxes to try snapping on (``bbadj jitter``): a COCO file whose boxes are the study's jittered
boxes, the evaluation's draw of the same seed (``eval.seed``) and number, so that what ``bbadj snap``
does to a file can be compared with the truth and with the study's own scores (docs/snap.md)."""

from __future__ import annotations

import copy
from pathlib import Path

from ..core.config import DataConfig
from ..data.coco import read_instances
from ..data.dataset import draw_eval_jitter, load_boxes
from ..util.errors import OutputError
from ..util.outputs import write_json


def write_rough(
    annotations: str | Path, images: str | Path, out: str | Path, data: DataConfig, seed: int, draw: int = 0
) -> dict:
    """Write ``annotations`` to ``out`` with every usable box (the study's filters: ``data.skip_crowd``,
    ``data.min_box_size``) replaced by its jittered box of draw ``draw`` of ``seed`` (inside its image,
    as the jitter makes them), rounded to 1/100 px, ``area`` following; the true
    box kept in ``bbox_true``; every other key and entry as it was. Returns the counts."""
    if Path(out).resolve() == Path(annotations).resolve():
        raise OutputError(f"--out is the input {annotations}: write the rough boxes to another file")
    coco = load_boxes(annotations, images, data, verbose=False)
    rough = {}
    for rec, boxes in zip(coco.images, draw_eval_jitter(coco, data, seed, draw)):
        for ann_id, (x0, y0, x1, y1) in zip(rec.ann_ids.tolist(), boxes.tolist()):
            rough[ann_id] = [round(v, 2) for v in (x0, y0, x1 - x0, y1 - y0)]
    doc = copy.deepcopy(read_instances(annotations))
    for ann in doc["annotations"]:
        if ann["id"] in rough:
            ann["bbox_true"], ann["bbox"] = ann["bbox"], rough[ann["id"]]
            ann["area"] = round(ann["bbox"][2] * ann["bbox"][3], 2)
    write_json(out, doc)
    kept = len(doc["annotations"]) - len(rough)
    return {"file": str(out), "jittered": len(rough), "as_they_were": kept, "skipped": dict(coco.skipped)}


def describe(summary: dict) -> str:
    why = ", ".join(f"{n} {k}" for k, n in summary["skipped"].items())
    return f"{summary['file']}: {summary['jittered']} boxes jittered, {summary['as_they_were']} left as they were" + (
        f" ({why})" if why else ""
    )

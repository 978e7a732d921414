"""``bbadj bench evaluate``: time to evaluate a COCO-val-sized set (36,781 boxes), or a subset of
it with the full time extrapolated and labelled so."""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

from ..args import config_from_args
from ..core.config import Config
from ..data.coco import CocoBoxes, load_coco
from ..data.dataset import load_boxes
from ..util.device import resolve_device
from ..scoring.evaluate import evaluate
from .common import add_common_args, args_dict, machine, model_for, print_table, set_threads, sync, write_result

COCO_VAL_BOXES = 36781  # boxes in COCO val2017 instances (non-crowd), the paper's test set


def repeat_to_boxes(coco: CocoBoxes, n_boxes: int) -> CocoBoxes:
    """``coco``'s images cycled (fresh image ids, same files) until exactly ``n_boxes`` boxes;
    the last image keeps only the boxes needed."""
    if coco.n_boxes == 0:
        raise ValueError(f"{coco.source}: no boxes to repeat")
    records, total = [], 0
    for k, rec in enumerate(itertools.cycle(coco.images)):
        if total >= n_boxes:
            break
        keep = min(len(rec.boxes), n_boxes - total)
        records.append(dataclasses.replace(rec, image_id=k + 1, boxes=rec.boxes[:keep], ann_ids=rec.ann_ids[:keep]))
        total += keep
    return CocoBoxes(records, source=f"{coco.source} repeated to {n_boxes} boxes")


def bench_evaluate(
    coco: CocoBoxes,
    cfg: Config,
    model,
    n_boxes: int = COCO_VAL_BOXES,
    max_boxes: int | None = None,
    progress: bool = True,
) -> dict:
    """Seconds for ``bbadj.scoring.evaluate.evaluate`` (one jitter draw: data loading, crops, model,
    edge decoding, metrics) over ``coco`` repeated to ``n_boxes`` boxes. With ``max_boxes``
    below that, the first ``max_boxes`` are timed and the full time is extrapolated linearly
    (``extrapolated: true``). One image is evaluated first, untimed, as warm-up."""
    device = next(model.parameters()).device
    info = machine(device)
    timed = min(n_boxes, max_boxes) if max_boxes else n_boxes
    subset = repeat_to_boxes(coco, timed)
    evaluate(CocoBoxes(subset.images[:1]), cfg, model, repeats=1, progress=False)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    metrics = evaluate(subset, cfg, model, repeats=1, progress=progress)
    sync(device)
    seconds = time.perf_counter() - t0
    return {
        "benchmark": "evaluate",
        "n_boxes": n_boxes,
        "boxes_timed": timed,
        "seconds_timed": seconds,
        "boxes_per_s": timed / seconds,
        "seconds_full": seconds * n_boxes / timed,
        "extrapolated": timed < n_boxes,
        "dataset": subset.source,
        "device": str(device),
        "backbone": model.cfg.backbone,
        "fusion": model.cfg.fusion,
        "crop_size": model.geometry.crop_size,
        "eval_batch_size": cfg.eval.batch_size,
        "num_workers": cfg.data.num_workers,
        "miou": metrics["miou"],
        "machine": info,
    }


def cmd_evaluate(args) -> int:
    set_threads(args)
    cfg0 = config_from_args(args)
    device = resolve_device(args.device or cfg0.eval.device)
    model, what = model_for(args, cfg0, device)
    cfg = cfg0  # our evaluation settings and the model's own crops, as in `bbadj evaluate`
    if args.annotations:
        coco = load_boxes(args.annotations, args.images, cfg.data, verbose=False)
    else:
        from ..data.synth import make_synthetic

        folder = Path(args.synth_dir)
        if not (folder / "annotations.json").exists():
            make_synthetic(folder, args.synth_images, seed=args.seed, progress=not args.no_progress)
        coco = load_coco(folder / "annotations.json", folder / "images", verbose=False)
    result = bench_evaluate(coco, cfg, model, args.boxes, args.max_boxes, not args.no_progress)
    result.update({"model": what, "args": args_dict(args)})
    write_result(result, args.out)
    label = " (extrapolated)" if result["extrapolated"] else ""
    print_table(
        f"evaluate {args.boxes} boxes, {what}, S={model.geometry.crop_size}, {result['device']}",
        [
            ("boxes timed", result["boxes_timed"]),
            ("seconds timed", result["seconds_timed"]),
            ("boxes/s", result["boxes_per_s"]),
            (f"seconds for {args.boxes} boxes{label}", result["seconds_full"]),
        ],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("evaluate", help="time to evaluate a COCO-val-sized set (36,781 boxes)")
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument("--boxes", type=int, default=COCO_VAL_BOXES, help="size of the set (default: COCO val2017's)")
    q.add_argument("--max-boxes", type=int, help="time only this many boxes and extrapolate (labelled)")
    q.add_argument("--annotations", help="COCO instances JSON whose images are repeated to --boxes")
    q.add_argument("--images", help="its image folder")
    q.add_argument(
        "--synth-dir",
        default="data/bench/synth",
        help="without --annotations: a synthetic set made here once (make_synthetic), repeated",
    )
    q.add_argument("--synth-images", type=int, default=256)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", help="default: eval.device")
    add_common_args(q)
    q.set_defaults(func=cmd_evaluate)

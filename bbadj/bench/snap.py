"""``bbadj bench snap``: boxes per second of ``bbadj snap`` (``bbadj.snap.file.snap_file``: read the
file, decode each image, crop, model, write the refined file), and the process's peak memory,
on an annotations file repeated to a COCO-sized number of boxes."""

from __future__ import annotations

import copy
import json
import resource
import tempfile
import time
from pathlib import Path

from ..args import config_from_args
from ..data.coco import read_instances
from ..util.device import resolve_device
from ..snap.file import SnapSettings, snap_file
from .common import add_common_args, args_dict, machine, model_for, print_table, set_threads, sync, write_result
from .evaluate import COCO_VAL_BOXES


def repeat_file(annotations: str | Path, n_boxes: int, out: str | Path, per_image: int | None = None) -> dict:
    """``annotations``' images cycled (fresh image and annotation ids, the same files) until
    exactly ``n_boxes`` annotations, written to ``out``: a COCO-sized file from a few photographs
    (their segmentations come along, so its size per box is a real file's). With ``per_image``,
    each image entry gets that many boxes, its photograph's own boxes cycled (5,000 boxes on one
    photograph: ``n_boxes = per_image = 5000``). Returns its counts."""
    doc = read_instances(annotations)
    per_source: dict[int, list] = {}
    for a in doc["annotations"]:
        per_source.setdefault(a["image_id"], []).append(a)
    sources = [im for im in doc["images"] if per_source.get(im["id"])]
    if not sources:
        raise ValueError(f"{annotations}: no annotations to repeat")
    images, anns, k = [], [], 0
    while len(anns) < n_boxes:
        im = sources[k % len(sources)]
        images.append({**im, "id": k + 1})
        own = per_source[im["id"]]
        take = min(per_image or len(own), n_boxes - len(anns))
        for j in range(take):
            anns.append({**copy.deepcopy(own[j % len(own)]), "id": len(anns) + 1, "image_id": k + 1})
        k += 1
    Path(out).write_text(json.dumps({**doc, "images": images, "annotations": anns}))
    return {"images": len(images), "boxes": len(anns), "bytes": Path(out).stat().st_size}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_snap(
    annotations: str | Path,
    images: str | Path,
    model,
    n_boxes: int,
    settings: SnapSettings,
    workdir: str | Path,
    progress: bool = True,
    per_image: int | None = None,
) -> dict:
    """Seconds for ``snap_file`` over ``annotations`` repeated to ``n_boxes`` boxes (after an untimed
    warm-up on a one-image file), and the peak RSS before and after it."""
    device = next(model.parameters()).device
    workdir = Path(workdir)
    big = workdir / "repeated.json"
    made = repeat_file(annotations, n_boxes, big, per_image)
    repeat_file(annotations, 1, workdir / "warmup.json")
    snap_file(workdir / "warmup.json", images, model, workdir / "warmup.out.json", settings=settings, progress=False)
    rss_before = peak_rss_mb()
    sync(device)
    t0 = time.perf_counter()
    summary = snap_file(big, images, model, workdir / "repeated.out.json", settings=settings, progress=progress)
    sync(device)
    seconds = time.perf_counter() - t0
    snapped = summary["changed"] + summary["kept"]
    return {
        "benchmark": "snap",
        "n_boxes": made["boxes"],
        "n_images": made["images"],
        "boxes_per_image": per_image,
        "file_mb": made["bytes"] / 2**20,
        "boxes_snapped": snapped,
        "skipped": summary["skipped_by_reason"],
        "seconds": seconds,
        "boxes_per_s": snapped / seconds,
        "images_per_s": summary["images_snapped"] / seconds,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb_after": peak_rss_mb(),
        "source": str(annotations),
        "device": str(device),
        "backbone": model.cfg.backbone,
        "crop_size": model.geometry.crop_size,
        "buffer_ratio": model.geometry.buffer_ratio,
        "batch_size": settings.batch_size,
    }


def cmd_snap(args) -> int:
    from ..util.errors import ConfigError

    for key in ("boxes", "boxes_per_image"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {value}")
    SnapSettings(batch_size=args.batch_size)  # a ConfigError names a bad --batch-size before any work
    set_threads(args)
    device = resolve_device(args.device)
    model, what = model_for(args, config_from_args(args), device)
    info = machine(device)
    with tempfile.TemporaryDirectory() as tmp:
        result = bench_snap(
            args.annotations,
            args.images,
            model,
            args.boxes,
            SnapSettings(batch_size=args.batch_size),
            tmp,
            not args.no_progress,
            args.boxes_per_image,
        )
    result.update({"model": what, "args": args_dict(args), "machine": info})
    write_result(result, args.out)
    print_table(
        f"snap {result['n_boxes']} boxes ({result['n_images']} images, {result['file_mb']:.1f} MB), {what}, "
        f"S={result['crop_size']}, {result['device']}",
        [
            ("boxes/s", result["boxes_per_s"]),
            ("images/s", result["images_per_s"]),
            ("seconds", result["seconds"]),
            ("peak RSS MB before / after", f"{result['peak_rss_mb_before']:.0f} / {result['peak_rss_mb_after']:.0f}"),
        ],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("snap", help="boxes per second of bbadj snap on a COCO-sized file, and its peak memory")
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument(
        "--annotations",
        default="data/coco128/annotations/val.json",
        help="COCO instances JSON whose images are repeated to --boxes (default: coco128's val split)",
    )
    q.add_argument("--images", default="data/coco128/images", help="its image folder")
    q.add_argument("--boxes", type=int, default=COCO_VAL_BOXES, help="boxes in the file (default: COCO val2017's)")
    q.add_argument(
        "--boxes-per-image",
        type=int,
        help="boxes on each image entry (its own boxes cycled); --boxes 5000 --boxes-per-image 5000 puts "
        "5,000 boxes on one photograph (default: each photograph's own boxes)",
    )
    q.add_argument("--batch-size", type=int, default=SnapSettings.batch_size)
    q.add_argument("--device", default="cpu")
    add_common_args(q)
    q.set_defaults(func=cmd_snap)

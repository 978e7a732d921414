"""``bbadj bench adjust-latency``: p50/p95 of one ``bbadj.adjust`` call for one box against the
bare model forward on the same crop."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..args import config_from_args
from ..core.box_ops import crop_windows
from ..data.crops import cut_crops
from ..data.images import normalize, read_rgb
from ..util.device import resolve_device
from .common import (
    add_common_args,
    args_dict,
    machine,
    model_for,
    percentile_ms,
    print_table,
    set_threads,
    sync,
    write_result,
)


def bench_adjust_latency(
    model, image_path: str | Path, box, runs: int = 100, warmup: int = 10, progress: bool = True
) -> dict:
    """p50/p95 latency of three calls, interleaved run by run:

    - ``adjust``: ``bbadj.adjust(path, [box], model)``, the whole call from a file (decode,
      normalise, crop, forward, decode the edges, map back to pixels);
    - ``adjust_decoded``: the same with the image already decoded (a uint8 tensor), which is
      what an annotation tool holds while the user drags boxes on one image;
    - ``forward``: ``model(crop)`` under ``no_grad`` on the very crop ``adjust`` cuts.

    ``overhead`` = adjust p50 / forward p50 - 1: what pre/post-processing add.
    """
    from ..snap.adjust import adjust

    g = model.geometry
    device = next(model.parameters()).device
    image = read_rgb(image_path)
    window = crop_windows(np.asarray([box], dtype=np.float64), g.buffer_ratio)
    crop = cut_crops(normalize(image.to(device), g.mean, g.std), window, g.crop_size, g.roi_sampling_ratio)

    @torch.no_grad()
    def forward():
        model(crop)
        sync(device)

    calls = {
        "adjust": lambda: adjust(image_path, [box], model),
        "adjust_decoded": lambda: adjust(image, [box], model),
        "forward": forward,
    }
    times: dict[str, list[float]] = {k: [] for k in calls}
    for k in range(warmup + runs):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()  # adjust returns numpy arrays: it has waited for the device already
            if k >= warmup:
                times[name].append(time.perf_counter() - t0)
    out = {"benchmark": "adjust-latency"}
    for name, ts in times.items():
        out[f"{name}_p50_ms"] = percentile_ms(ts, 50)
        out[f"{name}_p95_ms"] = percentile_ms(ts, 95)
    out["overhead"] = out["adjust_p50_ms"] / out["forward_p50_ms"] - 1
    out["overhead_decoded"] = out["adjust_decoded_p50_ms"] / out["forward_p50_ms"] - 1
    out.update(
        {
            "runs": runs,
            "warmup_runs": warmup,
            "device": str(device),
            "image": str(image_path),
            "image_wh": [int(image.shape[2]), int(image.shape[1])],
            "box": [float(v) for v in box],
            "backbone": model.cfg.backbone,
            "fusion": model.cfg.fusion,
            "crop_size": g.crop_size,
            "torch_threads": torch.get_num_threads(),
        }
    )
    return out


def _synthetic_jpeg(folder: Path, width: int = 640, height: int = 480) -> Path:
    """A COCO-sized JPEG of smooth noise, for latency runs without an image at hand."""
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    path = folder / "bench_image.jpg"
    Image.fromarray(small).resize((width, height), Image.BILINEAR).save(path, quality=90)
    return path


def cmd_adjust_latency(args) -> int:
    set_threads(args)
    device = resolve_device(args.device)
    model, what = model_for(args, config_from_args(args), device)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(args.image) if args.image else _synthetic_jpeg(Path(tmp))
        if args.box:
            box = [float(v) for v in args.box.split(",")]
        else:  # the central quarter of the image
            h, w = read_rgb(image).shape[1:]
            box = [w / 4, h / 4, 3 * w / 4, 3 * h / 4]
        info = machine(device)
        result = bench_adjust_latency(model, image, box, args.runs, args.warmup, not args.no_progress)
    if not args.image:
        result["image"] = "synthetic 640x480 JPEG (smooth noise)"
    result.update({"model": what, "args": args_dict(args), "machine": info})
    write_result(result, args.out)
    print_table(
        f"adjust latency, one box, {what}, S={model.geometry.crop_size}, {result['device']}",
        [
            ("adjust (from file) p50/p95 ms", f"{result['adjust_p50_ms']:.2f} / {result['adjust_p95_ms']:.2f}"),
            (
                "adjust (decoded) p50/p95 ms",
                f"{result['adjust_decoded_p50_ms']:.2f} / {result['adjust_decoded_p95_ms']:.2f}",
            ),
            ("forward p50/p95 ms", f"{result['forward_p50_ms']:.2f} / {result['forward_p95_ms']:.2f}"),
            ("overhead (from file)", f"{100 * result['overhead']:.0f}%"),
            ("overhead (decoded)", f"{100 * result['overhead_decoded']:.0f}%"),
        ],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("adjust-latency", help="p50/p95 of one bbadj.adjust call vs the bare forward")
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument("--image", help="an image file (default: a synthetic 640x480 JPEG)")
    q.add_argument("--box", metavar="x0,y0,x1,y1", help="default: the central quarter of the image")
    q.add_argument("--runs", type=int, default=100)
    q.add_argument("--warmup", type=int, default=10)
    q.add_argument("--device", default="cpu")
    add_common_args(q)
    q.set_defaults(func=cmd_adjust_latency)

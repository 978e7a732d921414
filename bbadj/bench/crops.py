"""``bbadj bench crops``: crops per second of the project's pipeline (``make_crops``: decode each
image once, normalise, cut all its boxes in one ``roi_align`` call) against a per-box PIL loop
(open and decode the image for every box, ``crop`` + ``resize`` BILINEAR, to a normalised
tensor), on the same jittered boxes, alternating A B A B ... in one process, medians reported."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from ..args import config_from_args
from ..core.config import DataConfig
from ..data.coco import CocoBoxes
from ..core.box_ops import crop_windows
from ..data.crops import cut_crops
from ..data.dataset import load_boxes, make_crops
from ..data.images import normalize, read_rgb
from ..util.device import resolve_device
from ..util.progress import progress_bar
from .common import add_common_args, args_dict, draw_boxes, machine, print_table, set_threads, sync, write_result


def bbadj_crops(coco: CocoBoxes, cfg: DataConfig, seed: int, device="cpu") -> torch.Tensor:
    """The project's pipeline, as training runs it: jitter, then ``make_crops`` (each image
    decoded once with ``read_rgb``, normalised, all its boxes cut in one ``cut_crops`` call)."""
    img, gt, jittered = draw_boxes(coco, cfg, seed)
    return make_crops(coco.images, img, gt, jittered, cfg, device)["crops"]


def per_box_pil_crops(coco: CocoBoxes, cfg: DataConfig, seed: int, timings: dict | None = None) -> torch.Tensor:
    """The naive baseline: for every box, open and decode its image with PIL, ``crop`` the
    buffer-ratio window (PIL rounds it to whole pixels and pads outside the image with black),
    ``resize`` to S x S BILINEAR, and make a normalised float tensor. Same boxes as
    ``bbadj_crops`` (same jitter draw). ``timings``, if given, accumulates seconds per stage."""
    from PIL import Image

    S = cfg.crop_size
    img, _, jittered = draw_boxes(coco, cfg, seed)
    windows = crop_windows(jittered, cfg.buffer_ratio).tolist()
    mean = torch.tensor(cfg.mean).view(3, 1, 1)
    std = torch.tensor(cfg.std).view(3, 1, 1)
    out = torch.empty(len(img), 3, S, S)
    clock = StageClock(timings)
    for k, (i, window) in enumerate(zip(img, windows)):
        with Image.open(coco.images[i].path) as im:
            rgb = im.convert("RGB")
        clock.lap("decode")
        crop = rgb.crop(tuple(window)).resize((S, S), Image.BILINEAR)
        clock.lap("crop_resize")
        x = torch.from_numpy(np.array(crop)).permute(2, 0, 1).float().div_(255)
        out[k] = x.sub_(mean).div_(std)
        clock.lap("to_tensor")
    return out


def profile_bbadj_crops(coco: CocoBoxes, cfg: DataConfig, seed: int, device="cpu") -> dict:
    """Seconds per stage of the project's pipeline over all boxes (one instrumented pass of the
    same operations as ``make_crops``): decode, normalise, cut."""
    img, _, jittered = draw_boxes(coco, cfg, seed)
    windows = crop_windows(jittered, cfg.buffer_ratio)
    dev = torch.device(device)
    timings: dict = {}
    clock = StageClock(timings, dev)
    for i in np.unique(img):
        rows = np.flatnonzero(img == i)
        image = read_rgb(coco.images[i].path, dev)
        clock.lap("decode")
        x = normalize(image, cfg.mean, cfg.std)
        clock.lap("normalize")
        cut_crops(x, windows[rows], cfg.crop_size, cfg.roi_sampling_ratio)
        clock.lap("cut")
    return timings


class StageClock:
    """Accumulates the time since the previous ``lap`` under a stage name (synchronising CUDA)."""

    def __init__(self, timings: dict | None, device: torch.device = torch.device("cpu")):
        self.timings, self.device = timings, device
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is None:
            return
        sync(self.device)
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
        self.t = now


def bench_crops(
    coco: CocoBoxes, cfg: DataConfig, rounds: int = 5, device="cpu", seed: int = 0, progress: bool = True
) -> dict:
    """Crops per second, median over ``rounds`` alternating runs (A = per-box PIL, B = bbadj)
    after one untimed warm-up run of each (file cache, allocator). Then one instrumented pass
    of each gives ``profile_s``: where the time goes."""
    dev = torch.device(device)
    n = coco.n_boxes

    def run_bbadj():
        bbadj_crops(coco, cfg, seed, dev)
        sync(dev)

    def run_pil():
        per_box_pil_crops(coco, cfg, seed)

    info = machine(dev)
    run_pil(), run_bbadj()  # warm-up
    rates: dict[str, list[float]] = {"pil": [], "bbadj": []}
    for _ in progress_bar(range(rounds), desc="bench crops", disable=not progress, unit="round"):
        for name, fn in (("pil", run_pil), ("bbadj", run_bbadj)):
            t0 = time.perf_counter()
            fn()
            rates[name].append(n / (time.perf_counter() - t0))
    pil_rate, bbadj_rate = float(np.median(rates["pil"])), float(np.median(rates["bbadj"]))
    pil_profile: dict = {}
    per_box_pil_crops(coco, cfg, seed, pil_profile)
    return {
        "benchmark": "crops",
        "per_box_pil_crops_per_s": pil_rate,
        "bbadj_crops_per_s": bbadj_rate,
        "speedup": bbadj_rate / pil_rate,
        "device": str(dev),
        "crop_size": cfg.crop_size,
        "buffer_ratio": cfg.buffer_ratio,
        "roi_sampling_ratio": cfg.roi_sampling_ratio,
        "n_boxes": n,
        "n_images": len(coco.images),
        "rounds": rounds,
        "torch_threads": torch.get_num_threads(),
        "all_rounds_crops_per_s": {"per_box_pil": rates["pil"], "bbadj": rates["bbadj"]},
        "profile_s": {"per_box_pil": pil_profile, "bbadj": profile_bbadj_crops(coco, cfg, seed, dev)},
        "machine": info,
    }


def cmd_crops(args) -> int:
    set_threads(args)
    cfg = config_from_args(args).data
    over = {k: v for k, v in (("crop_size", args.crop_size), ("buffer_ratio", args.buffer_ratio)) if v is not None}
    cfg = dataclasses.replace(cfg, **over)
    coco = load_boxes(args.annotations, args.images, cfg, verbose=False)
    result = bench_crops(coco, cfg, args.rounds, resolve_device(args.device), args.seed, not args.no_progress)
    result["args"] = args_dict(args)
    write_result(result, args.out)
    print_table(
        f"crops per second, S={cfg.crop_size}, {result['n_boxes']} boxes, median of {args.rounds} rounds, "
        f"{result['torch_threads']} torch threads",
        [
            ("per-box PIL", result["per_box_pil_crops_per_s"]),
            ("bbadj", result["bbadj_crops_per_s"]),
            ("speedup", result["speedup"]),
        ],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("crops", help="crops/s: bbadj's decode-once pipeline vs a per-box PIL loop")
    q.add_argument("--annotations", required=True, help="COCO instances JSON")
    q.add_argument("--images", required=True, help="image folder")
    q.add_argument("--crop-size", type=int, help="S (default: data.crop_size)")
    q.add_argument("--buffer-ratio", type=float, help="default: data.buffer_ratio")
    q.add_argument("--rounds", type=int, default=5, help="alternating timed runs of each (median reported)")
    q.add_argument("--seed", type=int, default=0, help="jitter seed")
    q.add_argument("--device", default="cpu", help="where bbadj decodes and crops (cuda: GPU JPEG decoding)")
    add_common_args(q)
    q.set_defaults(func=cmd_crops)

"""Benchmarks (``bbadj bench ...``): measured figures, never estimates, each written as JSON.

- ``crops``: crops per second of the project's pipeline (``make_crops``: decode each image once,
  normalise, cut all its boxes in one ``roi_align`` call) against a per-box PIL loop (open and
  decode the image for every box, ``crop`` + ``resize`` BILINEAR, to a normalised tensor), on
  the same jittered boxes, alternating A B A B ... in one process, medians reported.
- ``train-step``: images (crops) per second of the full training step fed by the engine's
  ``DataLoader`` over ``TrainBatches``, against the same step fed one batch already on the
  device (the model's own ceiling), with where the time goes.
- ``adjust-latency``: p50/p95 of one ``bbadj.adjust`` call for one box against the bare model
  forward on the same crop.
- ``evaluate``: time to evaluate a COCO-val-sized set (36,781 boxes), or a subset of it with
  the full time extrapolated and labelled so.

Every JSON also records the machine (``machine``: torch version, torch threads, CPU count, GPU,
load average before and after: on a shared machine other processes move the figures).
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import engine
from .cli import add_config_args, config_from_args
from .config import Config, DataConfig
from .device import resolve_device
from .data.coco import CocoBoxes, load_coco
from .data.crops import crop_windows, cut_crops
from .data.dataset import draw_eval_jitter, make_crops
from .data.images import normalize, read_rgb

COCO_VAL_BOXES = 36781  # boxes in COCO val2017 instances (non-crowd), the paper's test set


# ---------------------------------------------------------------------------------------------
# shared helpers


def machine(device: torch.device | str = "cpu") -> dict:
    """What the figures were measured on."""
    device = torch.device(device)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1e3, q))


def write_result(result: dict, out: str | Path | None) -> None:
    result["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(title)
    for k, v in rows:
        print(f"  {k:<{width}}  {v:.4g}" if isinstance(v, float) else f"  {k:<{width}}  {v}")


# ---------------------------------------------------------------------------------------------
# crops: the project's pipeline against a per-box PIL loop


def draw_boxes(coco: CocoBoxes, cfg: DataConfig, seed: int):
    """Every box of ``coco`` with its image index and one jitter draw (the evaluation's draw 0)."""
    img = np.concatenate([np.full(len(r.boxes), i) for i, r in enumerate(coco.images)])
    gt = np.concatenate([r.boxes for r in coco.images])
    return img, gt, np.concatenate(draw_eval_jitter(coco, cfg, seed, 0))


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
    clock = _StageClock(timings)
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
    clock = _StageClock(timings, dev)
    for i in np.unique(img):
        rows = np.flatnonzero(img == i)
        image = read_rgb(coco.images[i].path, dev)
        clock.lap("decode")
        x = normalize(image, cfg.mean, cfg.std)
        clock.lap("normalize")
        cut_crops(x, windows[rows], cfg.crop_size, cfg.roi_sampling_ratio)
        clock.lap("cut")
    return timings


class _StageClock:
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


def bench_crops(coco: CocoBoxes, cfg: DataConfig, rounds: int = 5, device="cpu", seed: int = 0,
                progress: bool = True) -> dict:
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
    for _ in tqdm(range(rounds), desc="bench crops", disable=not progress, unit="round"):
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


# ---------------------------------------------------------------------------------------------
# train-step: the engine's step fed by its DataLoader against the same step fed from memory


PHASES = ("data_wait", "to_device", "forward", "backward_optimizer")


def timed_steps(step_parts, batches, n_warmup: int, n_steps: int, device: torch.device,
                per_phase_sync: bool, progress: bool, desc: str) -> tuple[float, dict[str, float]]:
    """Run ``n_warmup`` then ``n_steps`` training steps on ``batches``; return (seconds for the
    timed steps, total seconds per phase over them).

    Without ``per_phase_sync`` the GPU runs ahead as in training and only the window's ends are
    synchronised: the rate is right, the phases are launch times. With it, every phase ends
    with ``torch.cuda.synchronize``: the phases are right, the rate slightly pessimistic."""
    to_device, forward_loss, optimizer_step = step_parts
    phases = dict.fromkeys(PHASES, 0.0)
    it = iter(batches)
    bar = tqdm(total=n_warmup + n_steps, desc=desc, disable=not progress, unit="step", leave=False)
    start = None
    for k in range(n_warmup + n_steps):
        if k == n_warmup:
            sync(device)
            start = time.perf_counter()
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        x, target = to_device(batch)
        if per_phase_sync:
            sync(device)
        t2 = time.perf_counter()
        loss = forward_loss(x, target)
        if per_phase_sync:
            sync(device)
        t3 = time.perf_counter()
        optimizer_step(loss)
        if per_phase_sync:
            sync(device)
        t4 = time.perf_counter()
        if k >= n_warmup:
            for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name] += dt
        bar.update(1)
    sync(device)
    bar.close()
    return time.perf_counter() - start, phases


def bench_train_step(cfg: Config, steps: int = 20, warmup: int = 3, gpu_decode: bool = False,
                     compile: bool | None = None, progress: bool = True, rounds: int = 1) -> dict:
    """Images (crops) per second of the training step, fed (A) by the engine's DataLoader over
    ``TrainBatches`` (``data.num_workers`` CPU workers and pinned memory on CUDA; or, with
    ``gpu_decode``, JPEGs decoded and cropped on the GPU in the main process) and (B) by one
    batch already on the device. ``ratio`` = A / B (medians over ``rounds`` alternating runs of
    each, every run with its own warm-up): 1 means data loading is fully hidden.

    Same model, optimiser, channels_last and (on CUDA) AMP, bf16 where supported, as engine.train.
    On CUDA the rates come from unsynchronised runs and the breakdown from one more,
    per-phase-synchronised run of each; on CPU the same runs give both (mean over rounds).
    """
    from torch.utils.data import DataLoader

    from .data.dataset import TrainBatches
    from .model import build_model

    tc = cfg.train
    device = resolve_device(tc.device)
    cuda = device.type == "cuda"
    if gpu_decode and not cuda:
        raise ValueError("--gpu-decode needs a CUDA device (train.device=cuda)")
    compile = tc.compile if compile is None else compile
    info = machine(device)
    torch.manual_seed(tc.seed)
    coco = load_coco(cfg.data.train_annotations, cfg.data.train_images, skip_crowd=cfg.data.skip_crowd,
                     min_box_size=cfg.data.min_box_size, verbose=False)
    data = TrainBatches(coco, cfg.data, tc.batch_size, tc.seed, device=str(device) if gpu_decode else "cpu")
    model = build_model(cfg.model, cfg.data.crop_size).to(device)
    channels_last = tc.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile else model
    optimizer = engine.build_optimizer(model, tc)
    use_amp, dtype, scaler = engine.precision(device, tc)
    model.train()

    # the engine's own step, in its parts, so that what is timed is what training runs
    parts = (lambda b: engine.to_device(b, device, tc.channels_last),
             lambda x, t: engine.forward_loss(net, x, t, tc, use_amp, dtype),
             lambda loss: engine.optimizer_step(loss, model, optimizer, scaler, None, tc.grad_clip))
    # CUDA cannot be used in forked workers: GPU decoding runs in the main process.
    num_workers = 0 if gpu_decode else cfg.data.num_workers
    n = warmup + steps

    def loader():
        return DataLoader(data, batch_size=None, sampler=range(n), num_workers=num_workers,
                          pin_memory=cuda and not gpu_decode)

    resident = dict(zip(("crops", "positions"), engine.to_device(data[0], device, tc.channels_last)))
    sources = {"loader": loader, "memory": lambda: itertools.repeat(resident)}
    rates: dict[str, list[float]] = {name: [] for name in sources}
    phases: dict[str, dict[str, float]] = {name: dict.fromkeys(PHASES, 0.0) for name in sources}
    # rounds alternate loader and memory runs, so that a change in machine load hits both
    for r in range(rounds):
        for name, source in sources.items():
            seconds, ph = timed_steps(parts, source(), warmup, steps, device, False, progress,
                                      f"train-step {name} {r + 1}/{rounds}")
            rates[name].append(tc.batch_size * steps / seconds)
            for k, v in ph.items():
                phases[name][k] += v / rounds
    if cuda:  # one more run of each for a breakdown not distorted by asynchronous execution
        for name, source in sources.items():
            _, phases[name] = timed_steps(parts, source(), warmup, steps, device, True, progress, f"{name} phases")
    loader_rate, memory_rate = float(np.median(rates["loader"])), float(np.median(rates["memory"]))
    return {
        "benchmark": "train-step",
        "loader_images_per_s": loader_rate,
        "memory_images_per_s": memory_rate,
        "ratio": loader_rate / memory_rate,
        "breakdown_ms_per_step": {name: {k: 1e3 * v / steps for k, v in ph.items()} for name, ph in phases.items()},
        "breakdown_synchronized": True,
        "rounds": rounds,
        "all_rounds_images_per_s": rates,
        "device": str(device),
        "backbone": cfg.model.backbone,
        "fusion": cfg.model.fusion,
        "crop_size": cfg.data.crop_size,
        "batch_size": tc.batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "amp": use_amp,
        "amp_dtype": str(dtype).replace("torch.", "") if use_amp else None,
        "channels_last": channels_last,
        "compile": bool(compile),
        "decode": "gpu (torchvision.io.decode_jpeg, main process)" if gpu_decode else "cpu",
        "num_workers": num_workers,
        "pin_memory": cuda and not gpu_decode,
        "train_images": len(coco.images),
        "train_boxes": coco.n_boxes,
        "machine": info,
    }


# ---------------------------------------------------------------------------------------------
# adjust-latency: one bbadj.adjust call against the bare forward on the same crop


def untrained_model(cfg: Config, device: torch.device):
    """A randomly initialised model of ``cfg`` (timing does not depend on the weights), with
    its config attached as ``bbadj.load_model`` does."""
    from .model import build_model

    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.with_overrides({"model": {"pretrained": "none"}}).model, cfg.data.crop_size)
    model.config = cfg
    return model.to(device).eval()


def bench_adjust_latency(model, image_path: str | Path, box, runs: int = 100, warmup: int = 10,
                         progress: bool = True) -> dict:
    """p50/p95 latency of three calls, interleaved run by run:

    - ``adjust``: ``bbadj.adjust(path, [box], model)``, the whole call from a file (decode,
      normalise, crop, forward, decode the edges, map back to pixels);
    - ``adjust_decoded``: the same with the image already decoded (a uint8 tensor), which is
      what an annotation tool holds while the user drags boxes on one image;
    - ``forward``: ``model(crop)`` under ``no_grad`` on the very crop ``adjust`` cuts.

    ``overhead`` = adjust p50 / forward p50 - 1: what pre/post-processing add.
    """
    from .inference import adjust

    cfg: Config = model.config
    device = next(model.parameters()).device
    image = read_rgb(image_path)
    window = crop_windows(np.asarray([box], dtype=np.float64), cfg.data.buffer_ratio)
    crop = cut_crops(normalize(image.to(device), cfg.data.mean, cfg.data.std), window, cfg.data.crop_size,
                     cfg.data.roi_sampling_ratio)

    @torch.no_grad()
    def forward():
        model(crop)
        sync(device)

    calls = {"adjust": lambda: adjust(image_path, [box], model),
             "adjust_decoded": lambda: adjust(image, [box], model),
             "forward": forward}
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
    out.update({"runs": runs, "warmup_runs": warmup, "device": str(device), "image": str(image_path),
                "image_wh": [int(image.shape[2]), int(image.shape[1])], "box": [float(v) for v in box],
                "backbone": cfg.model.backbone, "fusion": cfg.model.fusion, "crop_size": cfg.data.crop_size,
                "torch_threads": torch.get_num_threads()})
    return out


def _synthetic_jpeg(folder: Path, width: int = 640, height: int = 480) -> Path:
    """A COCO-sized JPEG of smooth noise, for latency runs without an image at hand."""
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    path = folder / "bench_image.jpg"
    Image.fromarray(small).resize((width, height), Image.BILINEAR).save(path, quality=90)
    return path


# ---------------------------------------------------------------------------------------------
# evaluate: a COCO-val-sized set


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


def bench_evaluate(coco: CocoBoxes, cfg: Config, model, n_boxes: int = COCO_VAL_BOXES,
                   max_boxes: int | None = None, progress: bool = True) -> dict:
    """Seconds for ``bbadj.evaluate.evaluate`` (one jitter draw: data loading, crops, model,
    edge decoding, metrics) over ``coco`` repeated to ``n_boxes`` boxes. With ``max_boxes``
    below that, the first ``max_boxes`` are timed and the full time is extrapolated linearly
    (``extrapolated: true``). One image is evaluated first, untimed, as warm-up."""
    from .evaluate import evaluate

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
        "backbone": cfg.model.backbone,
        "fusion": cfg.model.fusion,
        "crop_size": cfg.data.crop_size,
        "eval_batch_size": cfg.eval.batch_size,
        "num_workers": cfg.data.num_workers,
        "miou": metrics["miou"],
        "machine": info,
    }


# ---------------------------------------------------------------------------------------------
# command line


def _config(args) -> Config:
    """--params/--set as for every bbadj command, or --experiment NAME (the study's
    experiment_config) plus --set."""
    return config_from_args(args)


def _model(args, cfg: Config, device: torch.device):
    """(model, its config, description): the checkpoint's, or an untrained one from ``cfg``."""
    if args.checkpoint:
        from .checkpoint import load_model

        model = load_model(args.checkpoint, device)
        return model, model.config, f"checkpoint {args.checkpoint}"
    return untrained_model(cfg, device), cfg, f"untrained {cfg.model.backbone} (random weights; timing only)"


def _threads(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def cmd_crops(args) -> int:
    _threads(args)
    cfg = _config(args).data
    over = {k: v for k, v in (("crop_size", args.crop_size), ("buffer_ratio", args.buffer_ratio)) if v is not None}
    cfg = dataclasses.replace(cfg, **over)
    coco = load_coco(args.annotations, args.images, skip_crowd=cfg.skip_crowd, min_box_size=cfg.min_box_size,
                     verbose=False)
    result = bench_crops(coco, cfg, args.rounds, resolve_device(args.device), args.seed, not args.no_progress)
    result["args"] = _args_dict(args)
    write_result(result, args.out)
    print_table(f"crops per second, S={cfg.crop_size}, {result['n_boxes']} boxes, median of {args.rounds} rounds, "
                f"{result['torch_threads']} torch threads", [
                    ("per-box PIL", result["per_box_pil_crops_per_s"]),
                    ("bbadj", result["bbadj_crops_per_s"]),
                    ("speedup", result["speedup"])])
    return 0


def cmd_train_step(args) -> int:
    _threads(args)
    cfg = _config(args)
    over: dict = {"train": {}, "data": {}}
    if args.device:
        over["train"]["device"] = args.device
    if args.annotations:
        over["data"]["train_annotations"] = args.annotations
    if args.images:
        over["data"]["train_images"] = args.images
    cfg = cfg.with_overrides(over)
    result = bench_train_step(cfg, args.steps, args.warmup, args.gpu_decode, args.compile or None,
                              not args.no_progress, args.rounds)
    result["args"] = _args_dict(args)
    write_result(result, args.out)
    rows = [("loader images/s", result["loader_images_per_s"]), ("memory images/s", result["memory_images_per_s"]),
            ("ratio", result["ratio"])]
    rows += [(f"{src} {k} ms/step", v) for src, d in result["breakdown_ms_per_step"].items() for k, v in d.items()]
    print_table(f"train step, {cfg.model.backbone} S={cfg.data.crop_size} batch {cfg.train.batch_size} "
                f"on {result['device']}", rows)
    return 0


def cmd_adjust_latency(args) -> int:
    _threads(args)
    device = resolve_device(args.device)
    model, cfg, what = _model(args, _config(args), device)
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
    result.update({"model": what, "args": _args_dict(args), "machine": info})
    write_result(result, args.out)
    print_table(f"adjust latency, one box, {what}, S={cfg.data.crop_size}, {result['device']}", [
        ("adjust (from file) p50/p95 ms", f"{result['adjust_p50_ms']:.2f} / {result['adjust_p95_ms']:.2f}"),
        ("adjust (decoded) p50/p95 ms", f"{result['adjust_decoded_p50_ms']:.2f} / {result['adjust_decoded_p95_ms']:.2f}"),
        ("forward p50/p95 ms", f"{result['forward_p50_ms']:.2f} / {result['forward_p95_ms']:.2f}"),
        ("overhead (from file)", f"{100 * result['overhead']:.0f}%"),
        ("overhead (decoded)", f"{100 * result['overhead_decoded']:.0f}%")])
    return 0


def cmd_evaluate(args) -> int:
    _threads(args)
    cfg0 = _config(args)
    device = resolve_device(args.device or cfg0.eval.device)
    model, cfg, what = _model(args, cfg0, device)
    if args.checkpoint:  # the data geometry is the model's; evaluation settings are ours, as in `bbadj evaluate`
        cfg = cfg.with_overrides({"eval": cfg0.to_dict()["eval"], "data": {"num_workers": cfg0.data.num_workers}})
    if args.annotations:
        coco = load_coco(args.annotations, args.images, skip_crowd=cfg.data.skip_crowd,
                         min_box_size=cfg.data.min_box_size, verbose=False)
    else:
        from .data.synth import make_synthetic

        folder = Path(args.synth_dir)
        if not (folder / "annotations.json").exists():
            make_synthetic(folder, args.synth_images, seed=args.seed, progress=not args.no_progress)
        coco = load_coco(folder / "annotations.json", folder / "images", verbose=False)
    result = bench_evaluate(coco, cfg, model, args.boxes, args.max_boxes, not args.no_progress)
    result.update({"model": what, "args": _args_dict(args)})
    write_result(result, args.out)
    label = " (extrapolated)" if result["extrapolated"] else ""
    print_table(f"evaluate {args.boxes} boxes, {what}, S={cfg.data.crop_size}, {result['device']}", [
        ("boxes timed", result["boxes_timed"]), ("seconds timed", result["seconds_timed"]),
        ("boxes/s", result["boxes_per_s"]), (f"seconds for {args.boxes} boxes{label}", result["seconds_full"])])
    return 0


def _args_dict(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("func", "bench_command") and not callable(v)}


def _common(p, config: bool = True) -> None:
    if config:
        add_config_args(p)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--no-progress", action="store_true")


def add_bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="measured benchmarks: crops, train-step, adjust-latency, evaluate")
    bench = p.add_subparsers(dest="bench_command", required=True)

    q = bench.add_parser("crops", help="crops/s: bbadj's decode-once pipeline vs a per-box PIL loop")
    q.add_argument("--annotations", required=True, help="COCO instances JSON")
    q.add_argument("--images", required=True, help="image folder")
    q.add_argument("--crop-size", type=int, help="S (default: data.crop_size)")
    q.add_argument("--buffer-ratio", type=float, help="default: data.buffer_ratio")
    q.add_argument("--rounds", type=int, default=5, help="alternating timed runs of each (median reported)")
    q.add_argument("--seed", type=int, default=0, help="jitter seed")
    q.add_argument("--device", default="cpu", help="where bbadj decodes and crops (cuda: GPU JPEG decoding)")
    _common(q)
    q.set_defaults(func=cmd_crops)

    q = bench.add_parser("train-step", help="training images/s with real data loading vs data in memory")
    q.add_argument("--experiment", help="an experiment of the study (bbadj.study.experiments.experiment_config)")
    q.add_argument("--annotations", help="training annotations (default: data.train_annotations)")
    q.add_argument("--images", help="training images (default: data.train_images)")
    q.add_argument("--device", help="default: train.device")
    q.add_argument("--steps", type=int, default=20, help="timed steps per run")
    q.add_argument("--warmup", type=int, default=3, help="untimed steps first (worker start-up, autotuning, compile)")
    q.add_argument("--rounds", type=int, default=1, help="alternating loader/memory runs (medians reported)")
    q.add_argument("--gpu-decode", action="store_true", help="decode JPEGs and crop on the GPU instead of CPU workers")
    q.add_argument("--compile", action="store_true", help="torch.compile the model (default: train.compile)")
    _common(q)
    q.set_defaults(func=cmd_train_step)

    q = bench.add_parser("adjust-latency", help="p50/p95 of one bbadj.adjust call vs the bare forward")
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument("--image", help="an image file (default: a synthetic 640x480 JPEG)")
    q.add_argument("--box", metavar="x0,y0,x1,y1", help="default: the central quarter of the image")
    q.add_argument("--runs", type=int, default=100)
    q.add_argument("--warmup", type=int, default=10)
    q.add_argument("--device", default="cpu")
    _common(q)
    q.set_defaults(func=cmd_adjust_latency)

    q = bench.add_parser("evaluate", help="time to evaluate a COCO-val-sized set (36,781 boxes)")
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument("--boxes", type=int, default=COCO_VAL_BOXES, help="size of the set (default: COCO val2017's)")
    q.add_argument("--max-boxes", type=int, help="time only this many boxes and extrapolate (labelled)")
    q.add_argument("--annotations", help="COCO instances JSON whose images are repeated to --boxes")
    q.add_argument("--images", help="its image folder")
    q.add_argument("--synth-dir", default="data/bench/synth",
                   help="without --annotations: a synthetic set made here once (make_synthetic), repeated")
    q.add_argument("--synth-images", type=int, default=256)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", help="default: eval.device")
    _common(q)
    q.set_defaults(func=cmd_evaluate)

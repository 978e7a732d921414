"""The Snapper call: an image and rough boxes in, tight boxes and per-edge confidences out
(``adjust``, ``bbadj.adjust``); and the same over the boxes of many images (``adjust_boxes``),
which ``bbadj snap``, the study's evaluation and the detections' share, so all adjust boxes the
same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ..core.config import Config, CropGeometry, EvalConfig
from ..core.box_ops import clip_to_image, crop_windows, image_bounds, position_size, positions_to_boxes
from ..data.coco import CocoBoxes
from ..data.crops import cut_crops
from ..data.dataset import EvalImages
from ..data.images import normalize, read_rgb
from ..util.errors import DataError
from ..util.progress import progress_bar
from ..model.decoding import decode_edges


@torch.no_grad()
def predict_windows(
    model, crops: torch.Tensor, windows, image_wh, decoding: str = "subpixel", window: int = 2, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops (N, 3, S, S) cut from ``windows`` of images of size ``image_wh`` ((W, H), or one per
    crop) -> adjusted boxes (N, 4) in image pixels (clipped to the image), confidences (N, 4) and
    expected absolute errors of the clipped edges in image pixels (N, 4), both in EDGES order (top,
    bottom, left, right). The errors are the model's own (its distribution's spread, or its Laplace
    scale b) times its ``err_scale`` (fitted on held-out boxes after training,
    ``bbadj.scoring.calibration``; 1 without). An edge may lie beyond its crop where the model
    places it there (the ``regression`` decoder), never beyond the image."""
    S = crops.shape[-1]
    pos, conf, spread = [], [], []
    device = next(model.parameters()).device
    lo, hi = image_bounds(windows, image_wh, S)
    model = model.to(memory_format=torch.channels_last)  # NHWC convolutions, as training runs them (docs/benchmarks.md)
    for i in range(0, len(crops), batch_size):
        x = crops[i : i + batch_size].to(device).contiguous(memory_format=torch.channels_last)
        out = model(x)  # logits, or a Laplace per edge: decode_edges takes either
        part = slice(i, i + batch_size)
        for kept, t in zip((pos, conf, spread), decode_edges(out, decoding, window, (lo[part], hi[part]))):
            kept.append(t.cpu())
    if not pos:
        return torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.float64)
    boxes = positions_to_boxes(torch.cat(pos), windows, S)
    err_px = torch.cat(spread).double() * position_size(windows, S) * getattr(model, "err_scale", 1.0)
    wh = torch.as_tensor(image_wh, dtype=torch.float64).reshape(-1, 2).expand(len(boxes), 2)
    return clip_to_image(boxes, wh[:, 0], wh[:, 1]), torch.cat(conf), err_px


def _as_rgb_tensor(image) -> torch.Tensor:
    if isinstance(image, (str, Path)):
        return read_rgb(image)
    if isinstance(image, Image.Image):
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
            raise ValueError(f"a tensor image must be (3, H, W) uint8, got {tuple(image.shape)} {image.dtype}")
        return image
    raise TypeError(f"image must be a path, a PIL image or a (3, H, W) uint8 tensor, not {type(image).__name__}")


def adjust(
    image, boxes, model, buffer_ratio: float | None = None, decoding: str | None = None, window: int | None = None
) -> dict[str, np.ndarray]:
    """Snap rough boxes to the object's edges.

    ``image``: a path, a PIL image or a (3, H, W) uint8 tensor. ``boxes``: one (4,) or many
    (N, 4) rough boxes x0, y0, x1, y1 in pixels. ``model``: from ``bbadj.load_model``; the crops
    are its own (``model.geometry``: crop size, normalisation, buffer ratio unless
    ``buffer_ratio`` is given). ``decoding`` and ``window`` default to ``eval``'s defaults.
    Returns ``{"boxes": (N, 4) pixels, "confidence": (N, 4), "err_px": (N, 4)}``, per edge in
    EDGES order (top, bottom, left, right): ``confidence`` is the probability mass near the
    decoded position (in crop positions), ``err_px`` the expected absolute error in image pixels
    (what to flag a snapped edge for review by: ``decoding.decode_edges``).

    A box must overlap the image by at least 1 pixel in width and in height (the smallest box
    training keeps, ``data.min_box_size``), else ``DataError``: off the image there is nothing to
    snap to, and the answer would be a zero-size box on the border with ordinary confidences.
    Images of any size are taken (the crop is resampled); on a 1 x 1 image only a box covering
    its pixel overlaps it enough.
    """
    g = getattr(model, "geometry", None)
    if g is None:
        raise ValueError("model has no .geometry; load it with bbadj.load_model(checkpoint)")
    g = g.with_buffer_ratio(buffer_ratio)
    rough = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(rough).all() or (rough[:, 2:] <= rough[:, :2]).any():
        raise DataError(f"boxes must be finite x0, y0, x1, y1 with x1 > x0 and y1 > y0; got {rough.tolist()}")
    img = _as_rgb_tensor(image)
    W, H = img.shape[2], img.shape[1]
    overlap = clip_to_image(rough, W, H)
    outside = np.flatnonzero(((overlap[:, 2:] - overlap[:, :2]) < 1).any(axis=1))
    if len(outside):
        k = int(outside[0])
        raise DataError(
            f"box {k} {rough[k].tolist()} overlaps the {W}x{H} image by less than 1 pixel in width or "
            f"height: nothing in it to snap to ({len(outside)} of {len(rough)} boxes)"
        )
    device = next(model.parameters()).device
    x = normalize(img.to(device), g.mean, g.std)
    windows = crop_windows(rough, g.buffer_ratio)
    crops = cut_crops(x, windows, g.crop_size, g.roi_sampling_ratio)
    was_training = model.training
    model.eval()
    out, conf, err_px = predict_windows(
        model, crops, windows, (W, H), decoding or EvalConfig.decoding, EvalConfig.window if window is None else window
    )
    model.train(was_training)
    return {"boxes": out.numpy(), "confidence": conf.numpy(), "err_px": err_px.numpy()}


def adjust_boxes(
    coco: CocoBoxes,
    rough: list[np.ndarray],
    cfg: Config,
    model,
    geometry: CropGeometry,
    progress: bool = True,
    desc: str = "adjust",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's boxes (N, 4), per-edge confidences (N, 4) and expected errors in pixels (N, 4)
    from ``rough`` (one (N_i, 4) array per image of ``coco``, one row per box of it), in the order
    of ``coco.images``; with ``eval.passes`` > 1 the model is applied again to its own output (the
    confidences and errors are the last pass's). Shared by ``bbadj snap``, the jitter evaluation and
    the detections' (``bbadj.scoring.detections``), so all adjust boxes the same way."""
    return adjust_boxes_each(coco, rough, cfg, [model], geometry, progress, desc)[0]


def adjust_boxes_each(
    coco: CocoBoxes,
    rough: list[np.ndarray],
    cfg: Config,
    models: list,
    geometry: CropGeometry,
    progress: bool = True,
    desc: str = "adjust",
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``adjust_boxes`` of each of ``models`` (models that cut the same crops, ``geometry``: a row's
    seeds), in their order, the same boxes as one call each: the first pass decodes each image and
    cuts its crops once for all of them; later passes start from each model's own boxes."""
    outs = _one_pass(coco, rough, cfg, models, geometry, progress, desc)
    for k in range(1, cfg.eval.passes):
        outs = [
            _one_pass(coco, coco.per_image(out[0].numpy()), cfg, [m], geometry, progress, f"{desc}, pass {k + 1}")[0]
            for m, out in zip(models, outs)
        ]
    return outs


def _one_pass(coco, rough, cfg: Config, models: list, geometry: CropGeometry, progress: bool, desc: str):
    """One forward of each model over every rough box. Crops of consecutive images are pooled into
    model batches of ``eval.batch_size`` boxes (one image holds a few boxes; a forward per image would
    leave the model mostly idle)."""
    device = next(models[0].parameters()).device
    loader = DataLoader(
        EvalImages(coco, rough, geometry),
        batch_size=None,
        shuffle=False,
        num_workers=cfg.data.num_workers,
        pin_memory=device.type == "cuda",
    )
    for model in models:
        model.eval()
    parts, pending = [[] for _ in models], []

    def flush():
        crops = torch.cat([p["crops"] for p in pending])
        windows = torch.cat([p["windows"] for p in pending])
        wh = torch.cat(
            [
                torch.tensor(
                    [[coco.images[p["index"]].width, coco.images[p["index"]].height]] * len(p["crops"]),
                    dtype=torch.float64,
                )
                for p in pending
            ]
        )
        for model, kept in zip(models, parts):
            kept.append(
                predict_windows(model, crops, windows, wh, cfg.eval.decoding, cfg.eval.window, cfg.eval.batch_size)
            )
        pending.clear()

    for item in progress_bar(loader, desc=desc, disable=not progress, unit="img", dynamic_ncols=True):
        pending.append(item)  # the loader keeps image order, so the pooled rows stay in order
        if sum(len(p["crops"]) for p in pending) >= cfg.eval.batch_size:
            flush()
    if pending:
        flush()
    return [tuple(torch.cat(t) for t in zip(*kept)) for kept in parts]

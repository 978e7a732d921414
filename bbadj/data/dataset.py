"""Datasets that decode each image once and cut all of its boxes in one ``roi_align`` call.

``TrainBatches`` is indexed by global step: item k is the whole (or, under DDP, this rank's
share of the) batch of step k, with jitter drawn from a generator seeded by (seed, epoch,
batch), so the data of a step never depends on workers, restarts or the number of ranks; a
second source can be mixed into every batch (``data.mix``).
``EvalImages`` yields one image with all its boxes and their pre-drawn jittered versions.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.config import CropGeometry, DataConfig
from .coco import CocoBoxes, load_coco
from ..core.box_ops import boxes_to_positions, crop_windows
from .crops import cut_crops
from .images import check_size, normalize, read_rgb
from .jitter import jitter_boxes


def load_boxes(annotations, images, data: DataConfig, verbose: bool = True) -> CocoBoxes:
    """``load_coco`` with the box filters of ``data`` (crowd boxes, minimum size)."""
    return load_coco(annotations, images, skip_crowd=data.skip_crowd, min_box_size=data.min_box_size, verbose=verbose)


class _Source:
    """One training source's order: every epoch, its images shuffled (each image's boxes kept
    together, so a batch decodes few images), cut into batches of ``per_batch`` boxes."""

    def __init__(self, coco: CocoBoxes, per_batch: int, seed: list[int]):
        if coco.n_boxes < per_batch:
            raise ValueError(f"{coco.source}: {coco.n_boxes} boxes, fewer than one batch of {per_batch}")
        self.records, self.per_batch, self.seed = coco.images, per_batch, seed
        self.counts = np.array([len(r.boxes) for r in self.records])
        self.batches_per_epoch = int(self.counts.sum()) // per_batch  # the last partial batch is dropped
        self._epoch, self._plan = None, None

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(image index, box index) of every box of ``epoch`` in order."""
        if self._epoch != epoch:
            order = np.random.default_rng(self.seed + [epoch]).permutation(len(self.records))
            img = np.repeat(order, self.counts[order])
            box = np.concatenate([np.arange(self.counts[i]) for i in order])
            self._epoch, self._plan = epoch, (img, box)
        return self._plan

    def batch(self, step: int, jitter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image indices, true boxes, jittered boxes) of this source's part of batch ``step``;
        the jitter is drawn from a generator seeded by (seed, epoch, batch)."""
        epoch, b = divmod(int(step), self.batches_per_epoch)
        img, box = self.plan(epoch)
        sl = slice(b * self.per_batch, (b + 1) * self.per_batch)
        img, box = img[sl], box[sl]
        gt = np.stack([self.records[i].boxes[j] for i, j in zip(img, box)])
        wh = np.array([[self.records[i].width, self.records[i].height] for i in img], dtype=np.float64)
        rng = np.random.default_rng(self.seed + [epoch, b])
        return img, gt, jitter_boxes(gt, wh, rng, jitter.shift, jitter.scale)


class TrainBatches(Dataset):
    """Item k: the (global, or under DDP this rank's share of the) batch of step k.

    With ``mix`` (``cfg.mix.fraction`` > 0), the last ``round(fraction * batch_size)`` boxes of
    every batch come from that second source, which keeps its own order and epochs; an epoch
    is one pass over the first source.
    """

    def __init__(
        self,
        coco: CocoBoxes,
        cfg: DataConfig,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        device: str = "cpu",
        mix: CocoBoxes | None = None,
    ):
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} ranks")
        n_mix = round(cfg.mix.fraction * batch_size) if mix is not None else 0
        if mix is None and cfg.mix.fraction > 0:
            raise ValueError("data.mix.fraction > 0, but no mix data set was given")
        # the first source keeps the seeds of a run without mixing: adding a mix changes only its boxes
        self.sources = [_Source(coco, batch_size - n_mix, [seed])]
        if n_mix:
            self.sources.append(_Source(mix, n_mix, [seed, 1]))
        self.records = [r for src in self.sources for r in src.records]
        self._offsets = np.cumsum([0] + [len(src.records) for src in self.sources])
        self.cfg, self.batch_size, self.seed = cfg, batch_size, seed
        self.rank, self.world_size, self.device = rank, world_size, device
        self.batches_per_epoch = self.sources[0].batches_per_epoch
        self.images = PreparedImages(cfg.image_cache_mb)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        # the whole global batch, then this rank's share: the same boxes and draws whatever the
        # number of ranks
        parts = [src.batch(step, self.cfg.jitter) for src in self.sources]
        img = np.concatenate([p[0] + off for p, off in zip(parts, self._offsets)])
        gt = np.concatenate([p[1] for p in parts])
        jittered = np.concatenate([p[2] for p in parts])
        per_rank = self.batch_size // self.world_size
        keep = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
        out = make_crops(self.records, img[keep], gt[keep], jittered[keep], self.cfg.geometry, self.device, self.images)
        if self.cfg.hflip > 0:
            flip = np.random.default_rng([self.seed, 2, int(step)]).random(self.batch_size)[keep] < self.cfg.hflip
            mirror(out, torch.as_tensor(flip, device=out["crops"].device))
        return out


def mirror(batch: dict[str, torch.Tensor], rows: torch.Tensor) -> None:
    """Mirror the crops of ``rows`` left-right in place: the left edge target becomes the right
    one, at position S - 1 - q (the crop's own windows and boxes are left as they were)."""
    S = batch["crops"].shape[-1]
    batch["crops"][rows] = batch["crops"][rows].flip(-1)
    pos = batch["positions"]
    pos[rows, 2:] = (S - 1) - pos[rows][:, [3, 2]]


def prepared_image(rec, geometry: CropGeometry, device="cpu") -> torch.Tensor:
    """Image ``rec`` decoded, checked against its annotated size and normalised: what crops are cut from."""
    image = read_rgb(rec.path, device)
    check_size(image, rec.width, rec.height, rec.path)
    return normalize(image, geometry.mean, geometry.std)


def check_images(records) -> None:
    """Every image of ``records`` decoded once and checked against its annotated size, so that a
    damaged or mis-sized image is a ``DataError`` naming it before training starts, not at the step
    that first draws it (after a checkpoint was written)."""
    for rec in {str(r.path): r for r in records}.values():
        check_size(read_rgb(rec.path), rec.width, rec.height, rec.path)


class PreparedImages:
    """Prepared images (``prepared_image``) kept in memory up to ``max_mb`` (the least recently
    used leaves first; ``data.image_cache_mb``, 0: none). Training reads every image of a small set
    again each epoch (coco128's 96 train photographs every 3 steps), and decoding and normalising
    each anew kept the model waiting for its data (docs/benchmarks.md)."""

    def __init__(self, max_mb: float):
        self.max_bytes, self.bytes, self.kept = max_mb * 2**20, 0, OrderedDict()

    def __call__(self, rec, geometry: CropGeometry, device="cpu") -> torch.Tensor:
        key = (str(rec.path), geometry.mean, geometry.std, str(device))
        if key in self.kept:
            self.kept.move_to_end(key)
            return self.kept[key]
        image = prepared_image(rec, geometry, device)
        size = _nbytes(image)
        if size <= self.max_bytes:
            while self.bytes + size > self.max_bytes:
                self.bytes -= _nbytes(self.kept.popitem(last=False)[1])
            self.kept[key], self.bytes = image, self.bytes + size
        return image


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def make_crops(
    records, img_idx, gt, jittered, geometry: CropGeometry, device="cpu", prepare=prepared_image
) -> dict[str, torch.Tensor]:
    """Crops and targets for boxes given by their image index; each image is prepared once
    (``prepare``: ``prepared_image``, or a ``PreparedImages`` that keeps them)."""
    g = geometry
    S = g.crop_size
    windows = crop_windows(jittered, g.buffer_ratio)
    crops = torch.empty(len(img_idx), 3, S, S, device=device)
    for i in np.unique(img_idx):
        rows = np.flatnonzero(img_idx == i)
        x = prepare(records[i], g, device)
        crops[torch.as_tensor(rows, device=device)] = cut_crops(x, windows[rows], S, g.roi_sampling_ratio)
    return {
        "crops": crops,
        # not clamped to the crop: a regression places an edge beyond it; the classification losses clamp
        "positions": boxes_to_positions(gt, windows, S, clamp=False).float(),
        "windows": windows,
        "jittered": torch.as_tensor(jittered),
        "gt": torch.as_tensor(gt),
    }


class EvalImages(Dataset):
    """Item i: image i's crops for all its boxes, under pre-drawn jitter (``jittered``: one
    (N_i, 4) array per image)."""

    def __init__(self, coco: CocoBoxes, jittered: list[np.ndarray], geometry: CropGeometry, device: str = "cpu"):
        self.records, self.jittered, self.geometry, self.device = coco.images, jittered, geometry, device

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rec = self.records[i]
        out = make_crops(
            self.records, np.full(len(rec.boxes), i), rec.boxes, self.jittered[i], self.geometry, self.device
        )
        out["index"] = i
        return out


def draw_eval_jitter(coco: CocoBoxes, cfg: DataConfig, seed: int, repeat: int) -> list[np.ndarray]:
    """The jittered boxes of draw ``repeat``: the same for every model given the same seed."""
    rng = np.random.default_rng([seed, repeat])
    gt = coco.all_boxes()
    wh = np.concatenate([np.tile([r.width, r.height], (len(r.boxes), 1)) for r in coco.images])
    jittered = jitter_boxes(gt, wh, rng, cfg.jitter.shift, cfg.jitter.scale)
    return coco.per_image(jittered)

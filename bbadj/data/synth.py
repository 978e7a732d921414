"""Deterministic synthetic COCO-format data for class-agnostic box adjustment.

Design
------
Each image is rendered from its own generator, ``numpy.random.default_rng([seed, index])``,
so image ``i`` of a dataset does not depend on how many images come before it, a dataset is
byte-identical for a given seed, and :func:`render_image` can regenerate any one image (with
its label mask) for tests and debugging. No global random state is used.

An image is built in layers:

1. a cluttered background: two or three textures (flat, gradients, band-limited noise,
   stripes, checkers) blended through smooth random masks, optionally a washed-out
   low-contrast region, and unannotated distractors (strokes, spots, translucent blotches);
2. 1-4 objects (OBJECTS_PER_IMAGE), drawn in order so later ones occlude earlier ones. Each object's shape is
   first drawn into a boolean mask (PIL ``ImageDraw`` on an ``"L"`` image, which never
   anti-aliases), and its texture is composited through exactly that mask, so the label
   mask and the pixels agree. Shapes: axis-aligned and rotated rectangles, ellipses,
   convex and concave/star polygons, rings, smooth blobs, thin sticks and bent strokes.
   Sizes run from 8 px to about the whole image (uniform in sqrt(size)); centres may lie
   partly outside the image, so some objects are cut by the border. A few objects take
   their colour from the background under them (low-contrast edges, never invisible:
   MIN_CONTRAST); some get an outline or a shading ramp. Compact shapes are weighted
   above spiky, hollow and thin ones (SHAPE_WEIGHTS);
3. mild per-pixel sensor noise (changes no edge), then JPEG at a per-image quality.

Ground truth is the tight box of each object's *visible* pixels in the label mask
(after occlusion by later objects and clipping to the image), in COCO ``[x, y, w, h]``
with a pixel column ``i`` spanning ``[i, i + 1)``: visible columns 3..7 give ``x = 3,
w = 5``. The generator annotates only objects that remain meaningful after occlusion;
an object is left unannotated (but stays drawn, like any other clutter) when its
visible area is under :data:`MIN_VISIBLE_AREA` pixels, its visible box is under
:data:`MIN_BOX_SIDE` pixels wide or high, or less than :data:`MIN_VISIBLE_FRACTION` of
its in-image pixels are still visible (a few scattered fragments of a mostly covered
object do not define a sensible box). This is part of generating the data, not a
filter on input data.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.box_ops import xyxy_to_xywh
from ..util.outputs import write_text
from ..util.progress import progress_bar

MIN_VISIBLE_AREA = 20  # pixels
MIN_BOX_SIDE = 4  # pixels, for both width and height of the visible box
MIN_VISIBLE_FRACTION = 0.1  # of the object's in-image pixels
MIN_OBJECT_SIZE = 8.0  # pixels, the smallest object drawn
MIN_CONTRAST = 30.0  # RGB distance between an object's base colour and the mean of what lies under it
# Difficulty: tuned so that a from-scratch resnet18 learns the task within the CPU study's budget,
# while keeping clutter, occlusion, varied shapes and sizes, border cuts and JPEG artefacts.
LOW_CONTRAST_FRACTION = 0.1  # objects whose colour is close to what lies under them
MAX_OBJECT_TEXTURE_CONTRAST = 25.0  # RGB spread of an object's own texture
OBJECTS_PER_IMAGE = (1, 4)
CATEGORY = {"id": 1, "name": "object", "supercategory": "object"}

SHAPES = ("rect", "rotated_rect", "ellipse", "convex", "star", "concave", "ring", "blob", "thin", "stroke")
# Compact shapes are the common case (and what a box describes well); spiky, hollow and thin
# ones, whose box edges hang on a single tip or stroke, are kept as the hard tail.
SHAPE_WEIGHTS = np.array([3, 3, 2, 2, 1, 1, 1, 2, 0.5, 0.5]) / 16
TEXTURES = ("flat", "gradient", "noise", "stripes", "checker")


@dataclass
class Rendered:
    """One synthetic image with its ground truth, before JPEG compression."""

    image: Image.Image  # RGB, width x height
    mask: np.ndarray  # (H, W) int32; 0 = background, k = k-th drawn object (1-based)
    boxes: list[list[int]]  # annotated objects, COCO [x, y, w, h] of their visible pixels
    labels: list[int]  # mask label of each annotated box
    areas: list[int]  # visible pixel count of each annotated box
    shapes: list[str]  # shape kind of each annotated box
    quality: int  # JPEG quality for this image


# ---------------------------------------------------------------- textures


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Band-limited noise in about [0, 1]: a coarse random grid upsampled bicubically."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    coarse = rng.random((gh, gw), dtype=np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
    return np.clip(field, 0.0, 1.0)


def _scalar_pattern(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    """A (H, W) field in [0, 1] that decides where a texture sits between its two colours."""
    if kind == "flat":
        return np.zeros((h, w), np.float32)
    yy, xx = _grid(h, w)
    theta = rng.uniform(0, math.pi)
    along = xx * math.cos(theta) + yy * math.sin(theta)
    if kind == "gradient":
        if rng.random() < 0.3:  # radial
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = np.hypot(yy - cy, xx - cx)
            return r / max(float(r.max()), 1.0)
        along -= along.min()
        return along / max(float(along.max()), 1.0)
    if kind == "noise":
        t = _smooth_noise(rng, h, w, rng.uniform(3, 40))
        if rng.random() < 0.5:  # a second, finer octave
            t = 0.7 * t + 0.3 * _smooth_noise(rng, h, w, rng.uniform(2, 6))
        return t
    period = rng.uniform(3, 24)
    if kind == "stripes":
        phase = (along / period) % 1.0
        if rng.random() < 0.5:
            return (0.5 + 0.5 * np.sin(2 * math.pi * phase)).astype(np.float32)
        return (phase < rng.uniform(0.2, 0.8)).astype(np.float32)
    if kind == "checker":
        across = -xx * math.sin(theta) + yy * math.cos(theta)
        return ((np.floor(along / period) + np.floor(across / period)) % 2).astype(np.float32)
    raise ValueError(f"unknown texture {kind!r}")


def _texture(rng: np.random.Generator, h: int, w: int, colour: np.ndarray, contrast: float) -> np.ndarray:
    """(H, W, 3) float32 texture around `colour`, its second colour `contrast` away."""
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    other = colour + rng.normal(0, 1, 3) * contrast
    t = _scalar_pattern(rng, kind, h, w)[..., None]
    out = colour[None, None, :] * (1 - t) + other[None, None, :] * t
    grain = rng.uniform(0, 6)
    if grain > 0.5:  # fine per-pixel grain so flat areas are not perfectly flat
        out = out + rng.standard_normal((h, w, 3), dtype=np.float32) * grain
    return out.astype(np.float32)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3).astype(np.float32)


# ---------------------------------------------------------------- background


def _soft_region(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W, 1) alpha in [0, 1] covering a random smooth region, with soft or hard edges."""
    t = _smooth_noise(rng, h, w, rng.uniform(30, 120))
    # soft boundaries: the sharp edges of an image should belong to its objects (and to the
    # distractor strokes), or "the tight box of the object" is ill-posed for a small model
    sharpness = rng.uniform(4, 12)
    return (1 / (1 + np.exp(-sharpness * (t - rng.uniform(0.35, 0.65)))))[..., None].astype(np.float32)


def _draw_distractors(rng: np.random.Generator, img: Image.Image) -> None:
    """Unannotated clutter: strokes, small spots and translucent blotches."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(0, 6)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        n = int(rng.integers(2, 5))
        pts = np.cumsum(rng.normal(0, max(w, h) / 6, (n, 2)), axis=0) + rng.uniform(0, 1, 2) * (w, h)
        draw.line([tuple(p) for p in pts], fill=colour, width=int(rng.integers(1, 4)))
    for _ in range(rng.integers(0, 8)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 4)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    for _ in range(rng.integers(0, 3)):  # translucent blotch: looks unlike a solid object
        overlay = Image.new("L", (w, h), 0)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(5, w / 3), rng.uniform(5, h / 3)
        ImageDraw.Draw(overlay).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(rng.integers(30, 100)))
        tint = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
        img.paste(tint, (0, 0), overlay)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W, 3) float32 cluttered background."""
    out = _texture(rng, h, w, _random_colour(rng), rng.uniform(10, 60))
    for _ in range(rng.integers(1, 3)):  # blend in more textures through smooth regions
        alpha = _soft_region(rng, h, w)
        out = out * (1 - alpha) + _texture(rng, h, w, _random_colour(rng), rng.uniform(10, 60)) * alpha
    if rng.random() < 0.5:  # washed-out region: low contrast for anything drawn there
        alpha = _soft_region(rng, h, w) * rng.uniform(0.5, 0.9)
        out = out * (1 - alpha) + out.mean(axis=(0, 1), keepdims=True) * alpha
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    _draw_distractors(rng, img)
    return np.asarray(img, dtype=np.float32)


# ---------------------------------------------------------------- shapes


def _outline(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Closed outline of a shape in local units (radius about 1), before rotation."""
    aspect = rng.uniform(0.3, 1.0)
    if kind in ("rect", "rotated_rect"):
        return np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]], float)
    if kind == "thin":
        a = rng.uniform(0.03, 0.15)
        return np.array([[-1, -a], [1, -a], [1, a], [-1, a]], float)
    if kind in ("ellipse", "ring"):
        ang = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        return np.stack([np.cos(ang), aspect * np.sin(ang)], axis=1)
    if kind == "convex":  # points on an ellipse at sorted angles: always convex
        ang = np.sort(rng.uniform(0, 2 * math.pi, rng.integers(3, 10)))
        return np.stack([np.cos(ang), aspect * np.sin(ang)], axis=1)
    if kind == "star":
        n = int(rng.integers(4, 10))
        ang = np.linspace(0, 2 * math.pi, 2 * n, endpoint=False) + rng.uniform(-0.1, 0.1, 2 * n)
        radius = np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.3, 0.7))
        return np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=1)
    if kind == "concave":
        ang = np.sort(rng.uniform(0, 2 * math.pi, rng.integers(5, 13)))
        radius = rng.uniform(0.3, 1.0, len(ang))
        return np.stack([radius * np.cos(ang), aspect * radius * np.sin(ang)], axis=1)
    if kind == "blob":  # smoothed random radial function
        ang = np.linspace(0, 2 * math.pi, 90, endpoint=False)
        radius = np.ones_like(ang)
        for k in range(2, 6):
            radius += rng.uniform(0, 0.35) / k * np.cos(k * ang + rng.uniform(0, 2 * math.pi))
        return np.stack([radius * np.cos(ang), aspect * radius * np.sin(ang)], axis=1)
    raise ValueError(f"unknown shape {kind!r}")


def _place(points: np.ndarray, cx: float, cy: float, radius: float, theta: float) -> list[tuple[float, float]]:
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    pts = points @ rot.T * radius + (cx, cy)
    return [tuple(p) for p in pts]


def _shape_mask(rng: np.random.Generator, kind: str, h: int, w: int, cx: float, cy: float, size: float) -> np.ndarray:
    """(H, W) bool mask of one shape of extent about `size`; PIL clips what lies outside."""
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    radius = size / 2
    theta = 0.0 if kind == "rect" else rng.uniform(0, math.pi)
    if kind == "stroke":  # bent thick line; curve joints leave no gaps at the bends
        n = int(rng.integers(2, 5))
        step = size / (n - 1)
        heading = np.cumsum(np.r_[theta, rng.uniform(-0.8, 0.8, n - 2)])
        pts = np.r_[[[0.0, 0.0]], np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * step, axis=0)]
        pts += (cx, cy) - pts.mean(axis=0)
        width = max(2, int(size * rng.uniform(0.03, 0.12)))
        draw.line([tuple(p) for p in pts], fill=255, width=width, joint="curve")
    else:
        outline = _outline(rng, kind)
        draw.polygon(_place(outline, cx, cy, radius, theta), fill=255)
        if kind == "ring":  # punch a hole: what lies underneath shows through
            draw.polygon(_place(outline * rng.uniform(0.35, 0.75), cx, cy, radius, theta), fill=0)
    return np.asarray(canvas) > 0


def _edge(mask: np.ndarray, width: int) -> np.ndarray:
    """The mask's inner boundary band; the image border does not count as an edge."""
    inner = mask.copy()
    for _ in range(width):
        p = np.pad(inner, 1, mode="edge")
        inner = inner & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def _object_pixels(
    rng: np.random.Generator, canvas: np.ndarray, m: np.ndarray, cx: float, cy: float, size: float
) -> np.ndarray:
    """(h, w, 3) appearance of one object over the crop `canvas`, `m`; only pixels under `m` are used.

    `cx`, `cy` are the object's centre in crop coordinates.
    """
    h, w = m.shape
    under = canvas[m].mean(axis=0)
    if rng.random() < LOW_CONTRAST_FRACTION:  # colour close to what lies underneath, but not invisible
        direction = rng.normal(0, 1, 3)
        base = under + direction / np.linalg.norm(direction) * rng.uniform(MIN_CONTRAST, 2 * MIN_CONTRAST)
        contrast = rng.uniform(3, 20)
    else:
        base, contrast = _random_colour(rng), rng.uniform(0, MAX_OBJECT_TEXTURE_CONTRAST)
        for _ in range(10):  # a random colour can land on the background's by chance
            if np.linalg.norm(base - under) >= 2 * MIN_CONTRAST:
                break
            base = _random_colour(rng)
    tex = _texture(rng, h, w, base.astype(np.float32), contrast)
    if rng.random() < 0.35:  # shading ramp across the object
        yy, xx = _grid(h, w)
        theta = rng.uniform(0, 2 * math.pi)
        ramp = ((xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)) / max(size, 1.0)
        tex = tex * (1 + rng.uniform(0.2, 0.8) * np.clip(ramp, -0.5, 0.5))[..., None]
    if rng.random() < 0.25:  # outline inside the mask, so the box stays on the mask
        band = _edge(m, int(rng.integers(1, 3)))
        tex[band] = base * rng.uniform(0.2, 0.6) if rng.random() < 0.7 else _random_colour(rng)
    return tex


def _draw_object(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray, label: int) -> tuple[str, int]:
    """Draw object `label` over `canvas` and `mask` in place; returns (shape, in-image pixel count)."""
    h, w = mask.shape
    # uniform in sqrt(size): small objects stay common (about 1 in 12 under 16 px) without
    # dominating as they would under a log-uniform draw
    size = rng.uniform(math.sqrt(MIN_OBJECT_SIZE), math.sqrt(0.95 * max(h, w))) ** 2
    # centres may fall outside the image by up to a quarter of the size: cut objects
    cx = rng.uniform(-0.25 * size, w + 0.25 * size)
    cy = rng.uniform(-0.25 * size, h + 0.25 * size)
    kind = SHAPES[rng.choice(len(SHAPES), p=SHAPE_WEIGHTS)]
    m = _shape_mask(rng, kind, h, w, cx, cy, size)
    drawn = int(m.sum())
    if drawn:
        # Texture only the object's bounding crop (most objects are small), grown by one
        # pixel so that the outline sees the shape's edge wherever it is not the image border.
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        y0, x0 = max(int(rows[0]) - 1, 0), max(int(cols[0]) - 1, 0)
        crop = np.s_[y0 : rows[-1] + 2, x0 : cols[-1] + 2]
        mc = m[crop]
        pixels = _object_pixels(rng, canvas[crop], mc, cx - x0, cy - y0, size)
        canvas[crop][mc] = pixels[mc]
        mask[m] = label
    return kind, drawn


# ---------------------------------------------------------------- ground truth


def _visible_box(mask: np.ndarray, label: int) -> tuple[list[int], int] | None:
    """Tight COCO box [x, y, w, h] and area of the pixels labelled `label`, or None."""
    m = mask == label
    cols, rows = np.flatnonzero(m.any(axis=0)), np.flatnonzero(m.any(axis=1))
    if cols.size == 0:
        return None
    xyxy = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])  # pixel i spans [i, i + 1)
    return xyxy_to_xywh(xyxy).tolist(), int(m.sum())


def _annotate(mask: np.ndarray, kinds: list[str], drawn: list[int]) -> tuple[list, list, list, list]:
    boxes, labels, areas, shapes = [], [], [], []
    for label, (kind, n_drawn) in enumerate(zip(kinds, drawn), start=1):
        found = _visible_box(mask, label)
        if found is None:
            continue
        box, area = found
        if area < MIN_VISIBLE_AREA or min(box[2], box[3]) < MIN_BOX_SIDE or area < MIN_VISIBLE_FRACTION * n_drawn:
            continue
        boxes.append(box)
        labels.append(label)
        areas.append(area)
        shapes.append(kind)
    return boxes, labels, areas, shapes


# ---------------------------------------------------------------- public API


def render_image(
    seed: int,
    index: int,
    *,
    min_side: int = 160,
    max_side: int = 320,
    jpeg_quality_range: tuple[int, int] = (60, 95),
) -> Rendered:
    """Render image `index` of the dataset with `seed`: pixels, label mask and boxes.

    Depends only on (seed, index) and the keyword arguments, never on other images.
    """
    rng = np.random.default_rng([seed, index])
    w, h = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
    quality = int(rng.integers(jpeg_quality_range[0], jpeg_quality_range[1] + 1))
    canvas = _background(rng, h, w)
    mask = np.zeros((h, w), np.int32)
    kinds, drawn = [], []
    n_objects = int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1))
    # An image without a single annotated object teaches nothing: add objects on top until
    # one is annotated (bounded, so generation always ends).
    while len(kinds) < n_objects + 6:
        kind, n_drawn = _draw_object(rng, canvas, mask, len(kinds) + 1)
        kinds.append(kind)
        drawn.append(n_drawn)
        if len(kinds) >= n_objects and _annotate(mask, kinds, drawn)[0]:
            break
    boxes, labels, areas, shapes = _annotate(mask, kinds, drawn)
    noise = rng.uniform(0, 4)  # sensor noise: per pixel, so it moves no edge
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * noise
    image = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB")
    return Rendered(image, mask, boxes, labels, areas, shapes, quality)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes with fixed settings, so the same image always gives the same bytes."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False, subsampling=2)
    return buf.getvalue()


def make_synthetic(
    out_dir: str | Path,
    n_images: int,
    seed: int,
    *,
    min_side: int = 160,
    max_side: int = 320,
    jpeg_quality_range: tuple[int, int] = (60, 95),
    progress: bool = True,
) -> dict:
    """Write a synthetic COCO instances dataset and return ``{"images", "boxes", "out"}``.

    Writes ``out_dir/images/NNNNNN.jpg`` (``file_name`` in the JSON is relative to
    ``out_dir/images``, as in COCO) and ``out_dir/annotations.json`` with ``images``
    ``[{id, file_name, width, height}]``, ``annotations`` ``[{id, image_id,
    category_id, bbox [x, y, w, h] in pixels, area (visible pixels), iscrowd: 0,
    shape}]`` and one category ``{"id": 1, "name": "object"}``. Image ``i`` has id
    ``i + 1`` and is :func:`render_image` ``(seed, i)`` saved as JPEG at its drawn quality.
    Objects that end up mostly hidden or tiny are drawn but not annotated (see the
    module docstring). Same arguments give byte-identical files.
    """
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not 16 <= min_side <= max_side:
        raise ValueError(f"need 16 <= min_side <= max_side, got {min_side}, {max_side}")
    lo, hi = jpeg_quality_range
    if not 1 <= lo <= hi <= 100:
        raise ValueError(f"need 1 <= low <= high <= 100 for jpeg_quality_range, got {jpeg_quality_range}")

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in progress_bar(range(n_images), desc="synth", unit="img", disable=not progress):
        r = render_image(seed, i, min_side=min_side, max_side=max_side, jpeg_quality_range=(lo, hi))
        file_name = f"{i:06d}.jpg"
        (out / "images" / file_name).write_bytes(encode_jpeg(r.image, r.quality))
        images.append({"id": i + 1, "file_name": file_name, "width": r.image.width, "height": r.image.height})
        for box, area, shape in zip(r.boxes, r.areas, r.shapes):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": CATEGORY["id"],
                    "bbox": box,
                    "area": area,
                    "iscrowd": 0,
                    "shape": shape,
                }
            )
    coco = {
        "info": {
            "description": "bbadj synthetic boxes",
            "seed": seed,
            "min_side": min_side,
            "max_side": max_side,
            "jpeg_quality_range": [lo, hi],
        },
        "images": images,
        "annotations": annotations,
        "categories": [CATEGORY],
    }
    write_text(out / "annotations.json", json.dumps(coco) + "\n")  # last: a complete file marks a complete set
    return {"images": n_images, "boxes": len(annotations), "out": str(out)}

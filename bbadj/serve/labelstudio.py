"""Label Studio's side of ``bbadj serve``: its rectangles, in its coordinates, in and out.

A rectangle of Label Studio (a ``rectanglelabels`` or ``rectangle`` result item) is ``value``
``{x, y, width, height, rotation}``: the top-left corner, width and height in percent of the
image's width and height, turned by ``rotation`` degrees clockwise about that corner. The image
is the one the browser shows: EXIF orientation applied, as ``bbadj.data.images`` decodes it. The
item's ``image_rotation`` is the editor's view of the image (its rotate buttons turn the whole
canvas); it does not change ``value``'s frame, so it is carried back as it came.

bbadj snaps upright boxes: a rectangle turned by a multiple of 90 degrees is an upright box and
comes back with rotation 0; one turned by any other angle is refused (``TaskError``), named.
"""

from __future__ import annotations

import math
import uuid
import xml.etree.ElementTree as ET

from ..core.box_ops import EDGES
from ..util.errors import DataError

RECT_TYPES = ("rectanglelabels", "rectangle")
GEOMETRY = ("x", "y", "width", "height", "rotation")


class TaskError(DataError):
    """What is wrong with one task (its image, a rectangle of it), named by the task's id."""

    def __init__(self, task_id, message: str):
        super().__init__(f"task {task_id}: {message}")
        self.task_id = task_id


def _tags(label_config: str) -> list[ET.Element]:
    try:
        root = ET.fromstring(label_config or "")
    except ET.ParseError as e:
        raise DataError(f"the labeling config is not valid XML: {e}") from None
    return list(root.iter())


def rectangle_controls(label_config: str) -> list[tuple[str, str]]:
    """(control name, image name) of each ``<RectangleLabels>`` or ``<Rectangle>`` on an
    ``<Image>`` of a labeling config: what bbadj can snap."""
    tags = _tags(label_config)
    images = {t.get("name") for t in tags if t.tag.lower() == "image"}
    return [(t.get("name"), t.get("toName")) for t in tags if t.tag.lower() in RECT_TYPES and t.get("toName") in images]


def image_field(label_config: str, to_name: str, task: dict) -> str:
    """The image URL of ``task``: the data field that ``<Image name=to_name value="$field">`` reads."""
    tid = task.get("id")
    for t in _tags(label_config):
        if t.tag.lower() == "image" and t.get("name") == to_name:
            value = t.get("value") or ""
            if not value.startswith("$"):
                raise TaskError(tid, f'<Image name="{to_name}"> reads value="{value}", not a task field ($name)')
            key = value[1:]
            data = task.get("data") or {}
            if not isinstance(data.get(key), str) or not data[key]:
                raise TaskError(tid, f"no image URL in the task's data field {key!r} (it has {sorted(data)})")
            return data[key]
    raise TaskError(tid, f'the labeling config has no <Image name="{to_name}">')


def is_rectangle(item: dict) -> bool:
    return isinstance(item, dict) and item.get("type") in RECT_TYPES and isinstance(item.get("value"), dict)


def drawn_now(task: dict, context_result: list[dict]) -> list[dict]:
    """The rectangles the person has just drawn, out of an interactive request's context.

    Label Studio's editor sends every rectangle of the same label on the image, not only the new
    one. A rectangle already saved in the task (its annotations, drafts or predictions), or
    accepted from a suggestion (origin ``prediction``, ``prediction-changed``), is not new; when
    nothing is left, the last one (the editor lists regions in the order they were made)."""
    rects = [r for r in context_result or [] if is_rectangle(r)]
    saved = {
        r.get("id")
        for key in ("annotations", "drafts", "predictions")
        for a in task.get(key) or []
        if isinstance(a, dict)
        for r in a.get("result") or []
        if isinstance(r, dict)
    }
    new = [r for r in rects if r.get("id") not in saved and not str(r.get("origin", "")).startswith("prediction")]
    return new or rects[-1:]


def annotation_rectangles(task: dict) -> list[tuple[dict, object]]:
    """(rectangle, annotation id) of every rectangle of the task's annotations, cancelled
    (skipped) ones left out: what a bulk request snaps."""
    out = []
    for ann in task.get("annotations") or []:
        if not isinstance(ann, dict) or ann.get("was_cancelled"):
            continue
        out += [(r, ann.get("id")) for r in ann.get("result") or [] if is_rectangle(r)]
    return out


def to_pixels(value: dict, width: int, height: int) -> list[float]:
    """A rectangle's ``value`` -> x0, y0, x1, y1 in pixels of a ``width`` x ``height`` image. A
    rectangle turned by a multiple of 90 degrees is the upright box it covers; any other angle is
    a ``ValueError``."""
    try:
        x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
        w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
        rotation = float(value.get("rotation") or 0)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"not a rectangle's value (x, y, width, height in percent): {value}") from None
    if not all(map(math.isfinite, (x, y, w, h, rotation))) or w <= 0 or h <= 0:
        raise ValueError(f"not a rectangle of positive width and height: {value}")
    quarter = rotation / 90
    if abs(quarter - round(quarter)) > 1e-6:
        raise ValueError(f"turned by {rotation:g} degrees: bbadj snaps upright boxes only")
    # the corner opposite (x, y), turned clockwise about it in the image's frame (y downwards)
    cos, sin = ((1, 0), (0, 1), (-1, 0), (0, -1))[round(quarter) % 4]
    ox, oy = x + w * cos - h * sin, y + w * sin + h * cos
    return [min(x, ox), min(y, oy), max(x, ox), max(y, oy)]


def to_value(box, width: int, height: int) -> dict:
    """x0, y0, x1, y1 in pixels -> Label Studio's upright ``value`` in percent."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return {
        "x": 100 * x0 / width,
        "y": 100 * y0 / height,
        "width": 100 * (x1 - x0) / width,
        "height": 100 * (y1 - y0) / height,
        "rotation": 0,
    }


def region(item: dict, box, width: int, height: int, meta: dict, score: float) -> dict:
    """The result item that shows ``box`` (pixels) in place of the rectangle ``item``: a new id,
    the same control, image and labels, ``image_rotation`` as it came, ``meta`` (shown by the
    editor's region panel: its ``text``) and ``score``."""
    labels = {k: v for k, v in item["value"].items() if k not in GEOMETRY}
    out = {
        "id": uuid.uuid4().hex[:10],
        "from_name": item.get("from_name"),
        "to_name": item.get("to_name"),
        "type": item.get("type"),
        "value": {**to_value(box, width, height), **labels},
        "original_width": width,
        "original_height": height,
        "image_rotation": item.get("image_rotation", 0),
        "score": score,
        "meta": meta,
    }
    return out


def describe(status: str, drawn_px, err_px, reason: str | None = None, held: list[str] | None = None) -> str:
    """The line the editor shows with a snapped rectangle: its per-edge err_px, the drawn box, and
    the edges held where they were drawn (``bbadj.snap.hold``)."""
    errs = ", ".join(f"{e} {float(v):.1f}" for e, v in zip(EDGES, err_px))
    drawn = ", ".join(f"{float(v):.1f}" for v in drawn_px)
    text = f"bbadj {status}: err_px {errs}; drawn x0, y0, x1, y1 = {drawn} px"
    if held:
        text += f"; held as drawn: {', '.join(held)}"
    return text + (f"; kept as drawn: {reason}" if reason else "")

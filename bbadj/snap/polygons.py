"""A COCO ``segmentation`` as ``bbadj snap`` reads it: no mask, a real mask (polygon or RLE), or a
polygon that is exactly its box's rectangle, which follows the box when the box is snapped.

Tools write a box as a polygon too: V7's darwin-py exports a bounding box as its 4 corners, sahi
and YOLO-to-COCO converters (their box-to-segmentation option) likewise; VGG Image Annotator writes
a polygon as one flat list ``[x1, y1, x2, y2, ...]`` without COCO's outer list. Such a rectangle
is a box, not a mask: snapping it and keeping the old polygon would leave the file saying two
things. A real mask (any other polygon, several rings, RLE) is kept as it is by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.coco import is_json_number

# How far (px) a polygon's corner may be from its box's corner and still be that corner: tools
# round the polygon and the box separately (to 2 decimals, to whole pixels), never by half a pixel.
RECTANGLE_TOLERANCE_PX = 0.5


def rings(seg) -> tuple[list[list], bool] | None:
    """(the polygon's rings, whether written flat) of a ``segmentation`` list: COCO's ``[[x1, y1,
    ...], ...]``, or VIA's single ring ``[x1, y1, ...]`` without the outer list; None for anything
    else (no key, null, RLE, the empty list rectangle exporters write)."""
    if not isinstance(seg, list) or not seg:
        return None
    if all(is_json_number(v) for v in seg):
        return [seg], True
    return seg, False


def is_polygon(seg) -> bool:
    """A polygon mask: a ring of at least 3 points (6 numbers), nested or flat."""
    found = rings(seg)
    return found is not None and any(isinstance(r, list) and len(r) >= 6 for r in found[0])


@dataclass(frozen=True)
class Rectangle:
    """A polygon that is its box's rectangle: each point's corner (0 or 1 for x0/x1, 0 or 1 for
    y0/y1), in the polygon's own order (a closing point repeating the first included), and whether
    it was written flat (VIA) or nested (COCO)."""

    corners: tuple[tuple[int, int], ...]
    flat: bool

    def follow(self, bbox) -> list:
        """The polygon of the box ``bbox`` ([x, y, w, h]): the same points in the same order and
        form, at the new box's corners."""
        x, y, w, h = bbox
        xs, ys = (x, round(x + w, 3)), (y, round(y + h, 3))
        ring = [v for cx, cy in self.corners for v in (xs[cx], ys[cy])]
        return ring if self.flat else [ring]


def rectangle(seg, bbox, tol: float = RECTANGLE_TOLERANCE_PX) -> Rectangle | None:
    """``seg`` as a ``Rectangle`` when it is one ring of 4 points (or 5, the last repeating the
    first) at the 4 corners of ``bbox`` ([x, y, w, h]), each within ``tol`` px, going round the
    rectangle in either direction from any corner; else None (a real mask, or no polygon)."""
    found = rings(seg)
    if found is None or len(found[0]) != 1 or not isinstance(found[0][0], list):
        return None
    ring = found[0][0]
    if len(ring) not in (8, 10) or not all(is_json_number(v) for v in ring):
        return None
    x, y, w, h = (float(v) for v in bbox)
    if not (w > 0 and h > 0):  # one corner twice (a zero-size box is skipped as such in any case)
        return None
    xs, ys = (x, x + w), (y, y + h)
    corners = []  # each point's nearest corner (on a box thinner than the tolerance, the nearer side)
    for px, py in zip(ring[0::2], ring[1::2]):
        cx, cy = int(abs(px - xs[1]) < abs(px - xs[0])), int(abs(py - ys[1]) < abs(py - ys[0]))
        if abs(px - xs[cx]) > tol or abs(py - ys[cy]) > tol:
            return None
        corners.append((cx, cy))
    if len(corners) == 5 and corners.pop() != corners[0]:
        return None  # a fifth point that does not close the ring
    if len(set(corners)) != 4:
        return None
    # round the rectangle, not across it: each step changes x or y, never both (a bow tie does)
    if any((a[0] != b[0]) + (a[1] != b[1]) != 1 for a, b in zip(corners, corners[1:] + corners[:1])):
        return None
    if len(ring) == 10:
        corners.append(corners[0])
    return Rectangle(tuple(corners), found[1])

"""What the snap notebook shows of one rough box: for each row, a close-up of the box with the
snapped box drawn edge by edge, each edge coloured by the review rule (``review.ReviewRule``, on
the model's expected error in pixels, ``err_px``) and labelled with its ``err_px``, and the same
numbers as a table. The crop-unit ``confidence`` is not shown: it does not rank pixel accuracy
(the report finds it at chance)."""

from __future__ import annotations

import html

from PIL import Image, ImageDraw, ImageFont

from ..core.box_ops import EDGES
from ..snap.review import ReviewRule, reason

SURE, UNSURE = (0, 200, 0), (230, 0, 0)  # an edge the review rule passes, and one it fails
ROUGH = (255, 255, 255)
PANEL = 320  # px, the longer side of each close-up
CONTEXT = 1.6  # the close-up shows the rough box scaled about its centre by this


def _font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow >= 10.1 with FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def close_up_window(rough, width: int, height: int) -> tuple[float, float, float, float]:
    """The region of the image a close-up shows: the rough box and some context, in the image."""
    x0, y0, x1, y1 = rough
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, CONTEXT * max(x1 - x0, y1 - y0, 8) / 2
    return max(cx - half, 0), max(cy - half, 0), min(cx + half, width), min(cy + half, height)


def as_rule(rule) -> ReviewRule:
    """A ``ReviewRule``, or a number of pixels for ``ReviewRule(max_err_px=...)``."""
    return rule if isinstance(rule, ReviewRule) else ReviewRule(max_err_px=float(rule))


def _xywh(box) -> list[float]:
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def render(image: Image.Image, rough, snaps: dict[str, dict], rule) -> Image.Image:
    """Close-ups side by side, one per row of ``snaps`` (name -> ``{"box", "err_px", ...}``, boxes
    x0 y0 x1 y1 in image pixels): the rough box thin white, the snapped box's edges green where
    ``rule`` (a ``ReviewRule``, or a number of pixels) passes them and red where it fails them,
    each labelled ``±err_px px``."""
    rule = as_rule(rule)
    win = close_up_window(rough, *image.size)
    scale = PANEL / max(win[2] - win[0], win[3] - win[1])
    size = (max(1, round((win[2] - win[0]) * scale)), max(1, round((win[3] - win[1]) * scale)))
    crop = image.crop(tuple(round(v) for v in win)).resize(size, Image.BILINEAR)
    font, title_h = _font(), 20
    sheet = Image.new("RGB", (len(snaps) * (size[0] + 8) + 8, size[1] + title_h + 8), (40, 40, 40))
    to_panel = lambda x, y: ((x - win[0]) * scale, (y - win[1]) * scale)  # noqa: E731
    for k, (name, s) in enumerate(snaps.items()):
        panel = crop.copy()
        d = ImageDraw.Draw(panel)
        d.rectangle([*to_panel(*rough[:2]), *to_panel(*rough[2:])], outline=ROUGH, width=1)
        x0, y0 = to_panel(*s["box"][:2])
        x1, y1 = to_panel(*s["box"][2:])
        edges = {
            "top": ((x0, y0), (x1, y0)),
            "bottom": ((x0, y1), (x1, y1)),
            "left": ((x0, y0), (x0, y1)),
            "right": ((x1, y0), (x1, y1)),
        }
        for e, err, ok in zip(EDGES, s["err_px"], rule.edge_ok(_xywh(s["box"]), s["err_px"])):
            colour = SURE if ok else UNSURE
            d.line(edges[e], fill=colour, width=3)
            (ax, ay), (bx, by) = edges[e]
            _label(d, ((ax + bx) / 2, (ay + by) / 2), f"±{err:.1f}px", colour, panel.size, font)
        left = 8 + k * (size[0] + 8)
        sheet.paste(panel, (left, title_h + 4))
        ImageDraw.Draw(sheet).text(
            (left, 3), f"{name}: {verdict(s, rule, short=True)}", fill=(255, 255, 255), font=font
        )
    return sheet


def _label(d: ImageDraw.ImageDraw, at, text: str, colour, size, font) -> None:
    """``text`` on a dark box at ``at``, kept inside the panel."""
    left, t, r, b = d.textbbox((0, 0), text, font=font)
    w, h = r - left + 4, b - t + 4
    x = min(max(at[0] - w / 2, 0), size[0] - w)
    y = min(max(at[1] - h / 2, 0), size[1] - h)
    d.rectangle([x, y, x + w, y + h], fill=(0, 0, 0))
    d.text((x + 2, y + 2 - t), text, fill=colour, font=font)


def verdict(snap: dict, rule, short: bool = False) -> str:
    """``snapped``, or ``unsure`` with the failed edges and why (``review.reason``)."""
    failed = as_rule(rule).failures(_xywh(snap["box"]), snap["err_px"])
    if not failed:
        return "snapped"
    if short:
        return "unsure: " + ", ".join(dict.fromkeys(f["edge"] for f in failed))
    return f"unsure ({reason(failed)})"


def table_html(rough, snaps: dict[str, dict], rule) -> str:
    """A line per row of the study: the verdict, the snapped box, then err_px per edge and, beside
    it, err_px as a fraction of the box's side along the edge's axis (what ``--max-err-frac``
    reads). The CSS class ``bbadj-snap-table`` lets a browser test find it."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ["row", "verdict", "box x0, y0, x1, y1"] + [f"±px {e}" for e in EDGES] + [f"±/side {e}" for e in EDGES]
    )
    rows = [f"<tr><td>rough</td><td></td><td>{_box(rough)}</td>" + "<td></td>" * 8 + "</tr>"]
    for name, s in snaps.items():
        x, y, w, h = _xywh(s["box"])
        sides = [h, h, w, w]
        cells = [name, verdict(s, rule), _box(s["box"])]
        cells += [f"{v:.1f}" for v in s["err_px"]] + [
            f"{v / side:.3f}" if side > 0 else "-" for v, side in zip(s["err_px"], sides)
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f'<table class="bbadj-snap-table"><tr>{head}</tr>{"".join(rows)}</table>'


def _box(b) -> str:
    return ", ".join(f"{v:.1f}" for v in b)

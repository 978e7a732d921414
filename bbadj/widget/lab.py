"""The snap notebook (notebooks/snap.ipynb): pick a photograph, draw rough boxes with
jupyter-bbox-widget, see each chosen row's snapped box with its per-edge expected error in pixels
(``err_px``), coloured by the review rule ``bbadj snap`` uses (``review.ReviewRule``), accept one
or undo.

``trained_models`` finds the study's models; ``SnapSession`` (the image, decoded once, and the
models, loaded once) snaps a box; ``History`` accepts and undoes on the widget's list of boxes;
``SnapLab`` wires them to the widgets. The first three hold no widget and are tested as they are.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from ..core.box_ops import clip_to_image, xywh_to_xyxy
from ..core.params import Params
from ..core.tiers import LONG, folders
from .draw import as_rule, render, table_html
from ..snap.review import ReviewRule
from ..snap.shipped import SHIPPED

MIN_SIDE = 2  # px: a click without a drag makes a box of 0 x 0; nothing to snap
# The notebook's rule: an edge expected off by more than 5% of the box's side is red. err_px grows
# with the box, so a fixed number of pixels would colour every large box red whatever the model
# does; this is the rule `bbadj snap --max-err-frac 0.05` applies.
DEFAULT_RULE = ReviewRule(max_err_frac=0.05)
SHIPPED_NAME = "shipped"  # the model shipped with bbadj (bbadj/snap/weights/MODEL_CARD.md), offered last


def no_models_message(params_path, runs_dir: str = "runs") -> str:
    baseline = Params.load(params_path).report.baseline
    return (
        f"No trained model in {runs_dir}/ yet. `dvc repro` (= `make repro`) trains the study's models into "
        f"{runs_dir}/<name>/seed<k>/model.pt; `dvc repro train@{baseline}` trains the default row ({baseline}) "
        f"alone. Or give any checkpoint: models = {{'mine': 'path/to/model.pt'}}; the model shipped with bbadj "
        f"is {SHIPPED}."
    )


def trained_models(params_path="params.yaml", runs_dir: str = "runs", names=None) -> dict[str, Path]:
    """name -> the model of every trained row (or of ``names``): a row's model is its seed 0's,
    ``runs_dir/<name>/seed0/model.pt`` (``<name>/seed<k>``, asked for in ``names``, another seed's);
    the long tier's as ``long/<name>`` (``runs_dir/long/<name>/seed0/model.pt``): the long tier's
    default row (``study.baseline``) first, the model that works, then the default tier's, then the
    rest in ``params_path``'s order, then any other; last, as ``shipped``, the model shipped with bbadj
    (the long tier's default row: ``bbadj.snap.shipped``), so that a fresh clone snaps before it trains."""
    params = Params.load(params_path)
    trained = [params.report.baseline] + params.names("trained")
    order = [f"{LONG}/{trained[0]}"] + trained + [f"{LONG}/{n}" for n in trained]
    found = {p.parent.parent.name: p for p in sorted(Path(runs_dir).glob("*/seed0/model.pt"))}
    found.update({f"{LONG}/{p.parent.parent.name}": p for p in sorted(Path(runs_dir, LONG).glob("*/seed0/model.pt"))})
    ranked = [n for n in dict.fromkeys(order) if n in found] + [n for n in found if n not in order]
    if SHIPPED.is_file():
        found[SHIPPED_NAME] = SHIPPED
        ranked.append(SHIPPED_NAME)
    if names is None:
        return {n: found[n] for n in ranked}
    asked = {n: SHIPPED if n == SHIPPED_NAME else _seed_model(runs_dir, n) for n in names}
    missing = [n for n, p in asked.items() if not p.exists()]
    if missing:
        row = missing[0].removeprefix(f"{LONG}/").split("/")[0]
        raise FileNotFoundError(
            f"not trained: {', '.join(str(asked[n]) for n in missing)} (`dvc repro train@{row}` trains it)"
        )
    return {n: asked[n] for n in [n for n in ranked if n in asked] + [n for n in names if n not in ranked]}


def _seed_model(runs_dir, name: str) -> Path:
    """The model file of ``name``: ``row``, ``row/seed<k>``, ``long/row``, ``long/row/seed<k>``."""
    parts = name.split("/")
    if parts[-1].startswith("seed") and parts[-1][4:].isdigit():
        return Path(runs_dir, *parts, "model.pt")
    return Path(runs_dir, *parts, "seed0", "model.pt")


def fitted_err_scale(path: str | Path, runs_dir: str | Path = "runs") -> float | None:
    """The err_px scale the study's evaluation fitted for the model at ``path`` (a tier's
    ``runs_dir/[long/]<row>/seed<k>/model.pt``) on held-out photographs, from the per-box folder's
    ``calibration.json`` (``bbadj.study.evaluate_stage``); None for any other model, or a tier
    without calibration."""
    import json

    try:
        rel = Path(path).relative_to(Path(runs_dir))
    except ValueError:
        return None
    tier = LONG if rel.parts[0] == LONG else "default"
    parts = rel.parts[1:] if tier == LONG else rel.parts
    if len(parts) != 3 or not parts[1].startswith("seed"):
        return None
    fits = Path(runs_dir).parent / folders(tier).reports / "per_box" / parts[0] / "calibration.json"
    fit = json.loads(fits.read_text()).get(parts[1]) if fits.exists() else None
    return float(fit["err_scale"]) if fit else None


def photos(annotations="data/coco128/annotations/val.json", images="data/coco128/images") -> list[Path]:
    """The photographs of a COCO file (default: coco128's val split, which no model trained on)."""
    from ..data.coco import read_instances

    return [Path(images) / im["file_name"] for im in read_instances(annotations)["images"]]


class SnapSession:
    """One photograph, decoded once (what an annotation tool holds while boxes are drawn), and the
    models, each loaded the first time it is asked for."""

    def __init__(self, models: dict[str, str | Path], rule=DEFAULT_RULE, device: str = "cpu", runs_dir="runs"):
        self.paths, self.rule, self.device, self.runs_dir = dict(models), as_rule(rule), device, runs_dir
        self._models: dict = {}
        self.image = self.pil = None

    def set_image(self, path: str | Path) -> None:
        from PIL import Image

        from ..data.images import read_rgb

        self.image = read_rgb(path)
        self.pil = Image.fromarray(self.image.permute(1, 2, 0).numpy())

    def model(self, name: str):
        """The model ``name``, its err_px scaled as the study's evaluation fitted it where it did
        (``fitted_err_scale``: the long tier's models; the model's own otherwise)."""
        if name not in self._models:
            from ..model.checkpoint import load_model

            model = load_model(self.paths[name], self.device)
            scale = fitted_err_scale(self.paths[name], self.runs_dir)
            if scale is not None:
                model.err_scale = scale
            self._models[name] = model
        return self._models[name]

    def rough_box(self, wbox: dict) -> list[float] | None:
        """A widget box (x, y, width, height) as x0 y0 x1 y1 clipped to the image; None if too small."""
        box = clip_to_image(
            xywh_to_xyxy([[wbox["x"], wbox["y"], wbox["width"], wbox["height"]]]),
            self.image.shape[2],
            self.image.shape[1],
        )[0].tolist()
        return box if min(box[2] - box[0], box[3] - box[1]) >= MIN_SIDE else None

    def snap(self, rough, names) -> dict[str, dict]:
        """name -> ``{"box": x0 y0 x1 y1, "err_px": 4, "confidence": 4}`` (EDGES order; the notebook
        shows err_px)."""
        from ..snap.adjust import adjust

        out = {}
        for name in names:
            r = adjust(self.image, [rough], self.model(name))
            out[name] = {
                k: r[key][0].tolist()
                for k, key in (("box", "boxes"), ("err_px", "err_px"), ("confidence", "confidence"))
            }
        return out


class History:
    """Accept replaces a widget box with a snapped one (marked ``snapped_by``, the rough box kept
    in ``rough``); undo puts the last replaced box back."""

    def __init__(self):
        self.done: list[tuple[dict, dict]] = []  # (the box before, the box after)

    def accept(self, boxes: list[dict], index: int, box, name: str) -> list[dict]:
        old = boxes[index]
        x0, y0, x1, y1 = box
        new = {
            **old,
            "x": x0,
            "y": y0,
            "width": x1 - x0,
            "height": y1 - y0,
            "snapped_by": name,
            "rough": [old["x"], old["y"], old["width"], old["height"]],
        }
        self.done.append((old, new))
        return [new if k == index else b for k, b in enumerate(boxes)]

    def undo(self, boxes: list[dict]) -> list[dict] | None:
        """The boxes with the last accepted one back as it was; None when there is nothing to undo
        (or that box was moved or deleted since)."""
        if not self.done:
            return None
        old, new = self.done.pop()
        key = lambda b: tuple(b.get(k) for k in ("x", "y", "width", "height", "snapped_by"))  # noqa: E731
        for k, b in enumerate(boxes):
            if key(b) == key(new):
                return [old if j == k else c for j, c in enumerate(boxes)]
        return None


class SnapLab:
    """The widgets: photo, rows, the drawing widget, the close-ups and table, accept and undo."""

    def __init__(
        self,
        models: dict[str, str | Path],
        image: str | Path,
        photos=(),
        rule=DEFAULT_RULE,
        device: str = "cpu",
        chosen=None,
    ):
        import ipywidgets as w
        from jupyter_bbox_widget import BBoxWidget

        self.session, self.history = SnapSession(models, rule, device), History()
        self.current = None  # (index, rough box, snaps) of the box shown
        names = list(models)
        options = list(dict.fromkeys([str(image)] + [str(p) for p in photos]))
        self.photo = w.Dropdown(options=options, value=str(image), description="photo", layout=w.Layout(width="60%"))
        self.rows = w.SelectMultiple(
            options=names, value=tuple(chosen or names[:1]), description="rows", rows=min(len(names), 6)
        )
        self.draw = BBoxWidget(classes=["object"], hide_buttons=True)
        self.draw.add_class("bbadj-draw")
        self.preview = w.Image(format="png")
        self.preview.add_class("bbadj-preview")
        self.table = w.HTML()
        self.accept_as = w.Dropdown(options=names, value=names[0], description="accept")
        self.accept_button = w.Button(description="Accept", button_style="success", icon="check")
        self.undo_button = w.Button(description="Undo", icon="undo")
        self.status = w.HTML("Draw a rough box around an object: drag on the photograph.")
        self.status.add_class("bbadj-status")

        self.photo.observe(lambda _: self.set_image(self.photo.value), names="value")
        self.rows.observe(lambda _: self.show(force=True), names="value")
        self.draw.observe(lambda _: self.show(), names=["bboxes", "selected_index"])
        self.accept_button.on_click(lambda _: self.accept())
        self.undo_button.on_click(lambda _: self.undo())
        self.widget = w.VBox(
            [
                w.HBox([self.photo]),
                self.rows,
                self.draw,
                self.status,
                w.HBox([self.accept_as, self.accept_button, self.undo_button]),
                w.HBox([self.preview]),
                self.table,
            ]
        )
        self.widget.add_class("bbadj-lab")
        self.set_image(image)

    def set_image(self, path) -> None:
        self.session.set_image(path)
        self.draw.image = str(path)
        self.draw.bboxes = []
        self.history, self.current = History(), None
        self.preview.value, self.table.value = b"", ""

    def show(self, force: bool = False) -> None:
        """Snap the selected box (or the last drawn one) with every chosen row and draw them."""
        boxes, sel = self.draw.bboxes, self.draw.selected_index
        if not boxes:
            return
        index = sel if 0 <= sel < len(boxes) else len(boxes) - 1
        box = boxes[index]
        if box.get("snapped_by"):
            self.status.value = f"Box {index + 1}: accepted from <b>{box['snapped_by']}</b> (Undo puts it back)."
            return
        rough = self.session.rough_box(box)
        if rough is None or not self.rows.value:
            return
        if not force and self.current and self.current[:2] == (index, rough):
            return
        snaps = self.session.snap(rough, self.rows.value)
        self.current = (index, rough, snaps)
        sheet, buf = render(self.session.pil, rough, snaps, self.session.rule), io.BytesIO()
        sheet.save(buf, format="png")
        # shown at its own size: stretched to the notebook's width, a close-up blurs
        self.preview.width, self.preview.height = str(sheet.width), str(sheet.height)
        self.preview.value = buf.getvalue()
        self.table.value = table_html(rough, snaps, self.session.rule)
        self.accept_as.options = list(snaps)
        self.status.value = (
            f"Box {index + 1} snapped by {', '.join(snaps)}: red edges fail the review rule "
            f"({html.escape(self.session.rule.describe())}), green ones pass it; each edge is "
            f"labelled with its expected error in pixels. Accept one, or redraw."
        )

    def accept(self) -> None:
        if self.current is None:
            self.status.value = "Nothing to accept: draw a box first."
            return
        index, _, snaps = self.current
        name = self.accept_as.value
        self.current = None
        self.draw.bboxes = self.history.accept(self.draw.bboxes, index, snaps[name]["box"], name)
        self.status.value = f"Box {index + 1}: accepted from <b>{name}</b>."

    def undo(self) -> None:
        boxes = self.history.undo(self.draw.bboxes)
        if boxes is None:
            self.status.value = "Nothing to undo."
            return
        self.draw.bboxes = boxes
        self.status.value = "Undone: the rough box is back."

    def accepted(self) -> list[dict]:
        """The boxes accepted so far: x, y, width, height (the snapped box), the row and the rough box."""
        return [b for b in self.draw.bboxes if b.get("snapped_by")]

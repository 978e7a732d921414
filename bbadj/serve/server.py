"""``bbadj serve``: a trained model as a Label Studio ML backend (docs/labelstudio.md).

Label Studio calls (its ``ml/api_connector.py``, 1.23):

- ``GET /health`` (and ``/``): up, with the model's version, checkpoint and err_px scale;
- ``POST /setup``: when the model is connected and before predictions; it gives Label Studio's
  address and a token (``fetch.LabelStudioImages``), and the labeling config, which must have a
  ``<RectangleLabels>`` (or ``<Rectangle>``) on an ``<Image>``, else the connection is refused,
  named;
- ``POST /predict``: with ``params.context.result`` (interactive pre-annotation: the rectangle the
  person has just drawn with a smart tool), that rectangle comes back snapped, as a suggestion;
  without (bulk: "Retrieve Predictions", or a task opened with predictions on), one prediction per
  task, a snapped copy of every rectangle of its annotations. Predictions only: no annotation is
  ever changed;
- ``POST /webhook`` (annotation events; ignored), ``GET /versions``; ``POST /train``: 501.

Each box is snapped as ``bbadj snap`` snaps it (``SnapSettings``: the crop, the decoding, the
review rule; the box clipped to the image first; ``adjust.adjust`` on the decoded image), with the
err_px scale stored in the checkpoint, and each edge moved by no more than ``hold`` x its err_px
left where it was drawn (``bbadj.snap.hold``). A snapped rectangle carries in its ``meta`` the drawn
one (its id, value and pixels), the per-edge ``err_px`` and ``confidence``, the status (``changed``,
with the edges ``held``, or ``kept`` as drawn where the review rule fails an edge, with the
reason) and the model, and as
its ``score`` the probability that its least sure edge is within ``within_px`` pixels
(``review.p_within``); a prediction's score is its least sure rectangle's, so Label Studio's data
manager sorts the tasks to review first.

Errors: one task's unreadable image (or other fault) is named by the task's id: an interactive
request answers 422 with the message as the HTTP reason (Label Studio shows only the status
line), a bulk request leaves that task without a prediction and lists the message in the answer's
``errors``; both go to the log (standard error). Nothing is skipped without a word: a rectangle
turned by an angle that is not a multiple of 90 degrees, or too small, is an error (interactive)
or listed in ``skipped`` (bulk).

On the standard library's ``http.server``, not label-studio-ml's Flask app: that package's last
release on the package registry (1.0.9) pins Flask 1.1.2, Werkzeug 2.0.2 and Jinja2 3.0.3, older
than this environment's, for five JSON endpoints.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ..core.box_ops import EDGES, clip_to_image, xyxy_to_xywh
from ..data.images import CorruptImage, decode_rgb
from ..util.errors import ConfigError, DataError
from ..snap.adjust import adjust
from .fetch import LabelStudioImages
from ..snap.file import SnapSettings, weights_sha256
from .labelstudio import (
    TaskError,
    annotation_rectangles,
    describe,
    drawn_now,
    image_field,
    rectangle_controls,
    region,
    to_pixels,
)
from ..snap.hold import describe as describe_hold
from ..snap.hold import held_names, hold_edges
from ..snap.review import p_within, reason
from .settings import ServeSettings


class Backend:
    """The model, loaded once, and what Label Studio asks of it (one method per endpoint)."""

    def __init__(self, model, settings: SnapSettings = SnapSettings(), images: LabelStudioImages | None = None):
        self.model, self.settings = model, settings
        self.images = images or LabelStudioImages()
        self.weights = weights_sha256(model)
        self.model_version = f"bbadj-{self.weights[:12]}"
        # one request decodes and snaps at a time: the model is shared, and decoding a JPEG redirects
        # file descriptor 2 (libjpeg's warnings) while it runs, which the log must not write into
        self.lock = threading.RLock()

    def log(self, message: str) -> None:
        with self.lock:
            print(f"bbadj serve: {message}", file=sys.stderr, flush=True)

    def health(self) -> dict:
        m, g = self.model, self.model.geometry
        return {
            "status": "UP",
            "model_class": "bbadj",
            "model_version": self.model_version,
            "checkpoint": str(getattr(m, "checkpoint", None)),
            "err_scale": float(getattr(m, "err_scale", 1.0)),
            "backbone": m.cfg.backbone,
            "crop_size": g.crop_size,
            "buffer_ratio": g.with_buffer_ratio(self.settings.buffer_ratio).buffer_ratio,
            "review_rule": self.settings.rule.describe(),
            "hold_rule": describe_hold(self.settings.hold, self.settings.hold_mode),
            **self.images.describe(),
        }

    def warm_up(self) -> None:
        """One snap on a blank image: the first call of a process pays for torch's lazy set-up (a
        second or more on a CPU), which the person's first drag should not."""
        import torch

        with self.lock:
            adjust(torch.zeros(3, 64, 64, dtype=torch.uint8), [[8, 8, 56, 56]], self.model)

    def setup(self, payload: dict) -> dict:
        self.images.setup(payload.get("hostname"), payload.get("access_token"))
        schema = payload.get("schema")
        if schema is not None and not rectangle_controls(schema):
            raise DataError(
                "the labeling config has no <RectangleLabels> or <Rectangle> on an <Image>: bbadj snaps "
                "rectangles drawn on images"
            )
        return {"model_version": self.model_version}

    def predict(self, payload: dict) -> dict:
        """Label Studio's /predict: ``{"results": [one prediction, or [], per task], ...}``."""
        t0 = time.perf_counter()
        tasks = payload.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise DataError("/predict needs 'tasks', a list of Label Studio tasks")
        context = (payload.get("params") or {}).get("context")
        interactive = isinstance(context, dict) and isinstance(context.get("result"), list)
        config = payload.get("label_config") or ""
        results, errors, skipped = [], [], []
        for task in tasks:
            if interactive:
                items = [(r, {"source": "interactive"}) for r in drawn_now(task, context["result"])]
            else:
                items = [(r, {"source": "annotation", "annotation_id": a}) for r, a in annotation_rectangles(task)]
            try:
                prediction = self.snap_task(task, items, config, strict=interactive, skipped=skipped)
                # interactive, nothing drawn to snap: an empty suggestion (the editor reads its "result")
                results.append(
                    prediction or ({"result": [], "model_version": self.model_version} if interactive else [])
                )
            except TaskError as e:
                self.log(str(e))
                if interactive:
                    raise
                errors.append(str(e))  # bulk: the other tasks' predictions still count
                results.append([])
        n = sum(len(p["result"]) for p in results if p)
        self.log(
            f"predict, {'interactive' if interactive else 'bulk'}: {len(tasks)} task(s), {n} rectangle(s) "
            f"snapped, {len(skipped)} skipped, {len(errors)} error(s), {1e3 * (time.perf_counter() - t0):.0f} ms"
        )
        for line in skipped:
            self.log(f"skipped {line}")
        return {"results": results, "model_version": self.model_version, "errors": errors, "skipped": skipped}

    def snap_task(
        self, task: dict, items: list[tuple[dict, dict]], config: str, strict: bool, skipped: list[str]
    ) -> dict | list:
        """One task's prediction: its rectangles ``items`` ((rectangle, where it came from)) snapped
        on its image(s); ``[]`` when there is none (Label Studio then stores nothing). A rectangle
        that cannot be snapped raises a ``TaskError`` with ``strict``, else goes to ``skipped``."""
        tid = task.get("id")
        regions = []
        for to_name in dict.fromkeys(r.get("to_name") for r, _ in items):
            group = [(r, s) for r, s in items if r.get("to_name") == to_name]
            url = image_field(config, to_name, task)
            data = self.images.fetch(url, tid)
            with self.lock:
                try:
                    image = decode_rgb(data, url)
                except CorruptImage as e:
                    raise TaskError(tid, str(e)) from None
                regions += self._snap_image(tid, image, group, strict, skipped)
        if not regions:
            return []
        return {"result": regions, "score": min(r["score"] for r in regions), "model_version": self.model_version}

    def _snap_image(self, tid, image, items, strict: bool, skipped: list[str]) -> list[dict]:
        H, W = image.shape[1:]
        boxes, kept_items = [], []
        for item, source in items:
            try:
                boxes.append(self._drawn_box(item, W, H))
                kept_items.append((item, source))
            except ValueError as e:
                message = f"task {tid}: rectangle {item.get('id')!r}: {e}"
                if strict:
                    raise TaskError(tid, f"rectangle {item.get('id')!r}: {e}") from None
                skipped.append(message)
        if not boxes:
            return []
        drawn = np.asarray(boxes, dtype=np.float64)
        s = self.settings
        clipped = clip_to_image(drawn, W, H)
        out = adjust(image, clipped, self.model, buffer_ratio=s.buffer_ratio, decoding=s.decoding)
        # as bbadj snap: an edge the model moved within hold x its err_px stays where it was drawn
        held_boxes, held = hold_edges(clipped, out["boxes"], out["err_px"], s.hold, s.hold_mode)
        regions = []
        for (item, source), rough, box, new, held_row, conf, err in zip(
            kept_items, drawn, out["boxes"], held_boxes, held, out["confidence"], out["err_px"]
        ):
            failed = s.rule.failures(xyxy_to_xywh(box[None])[0].tolist(), err)
            status = "kept" if failed else "changed"
            why = reason(failed) if failed else None
            held_edges = [] if failed else held_names(held_row)
            score = min(p_within(float(e), s.within_px) for e in err)
            meta = {
                "text": [describe(status, rough, err, why, held_edges)],
                "bbadj": {
                    "status": status,
                    **({"reason": why, "failed": failed} if failed else {"held": held_edges}),
                    **source,
                    "drawn": {"id": item.get("id"), "value": item["value"], "box_px": _px(rough)},
                    "box_px": _px(box),
                    "err_px": dict(zip(EDGES, _px(err))),
                    "confidence": dict(zip(EDGES, (round(float(c), 4) for c in conf))),
                    "p_within": {"within_px": s.within_px, "least": round(score, 4)},
                    "model": self.weights[:12],
                },
            }
            regions.append(region(item, rough if failed else new, W, H, meta, round(score, 4)))
        return regions

    def _drawn_box(self, item: dict, W: int, H: int) -> list[float]:
        """A rectangle in pixels of the decoded image; ValueError where it cannot be snapped."""
        ow, oh = item.get("original_width"), item.get("original_height")
        if ow and oh and W != H and (ow, oh) == (H, W):
            raise ValueError(
                f"drawn on a {ow}x{oh} image, and the image reads {W}x{H} upright (EXIF orientation "
                f"applied, as browsers show it): Label Studio showed it turned another way"
            )
        box = to_pixels(item["value"], W, H)
        clipped = clip_to_image(np.asarray([box]), W, H)[0]
        if min(clipped[2] - clipped[0], clipped[3] - clipped[1]) < max(self.settings.min_box_size, 1.0):
            raise ValueError(
                f"{_px(box)} px is under {max(self.settings.min_box_size, 1.0):g} px wide or high on the {W}x{H} image"
            )
        return box


def _px(values) -> list[float]:
    return [round(float(v), 3) for v in values]


def make_server(backend: Backend, host: str, port: int) -> ThreadingHTTPServer:
    """The HTTP server of ``backend`` (port 0: a free one, ``server.server_address[1]``)."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            # Label Studio keeps the status line of an error, not its body: the message goes there too
            message = body.get("error") if code >= 400 else None
            self.send_response(code, _reason_phrase(message) if message else None)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # Label Studio polls /health: one line per request is noise
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/") or "/"
            if path in ("/", "/health"):
                self._send(200, backend.health())
            elif path == "/versions":
                self._send(200, {"versions": [backend.model_version]})
            else:
                self._send(404, {"error": f"no such endpoint: GET {path}"})

        def do_POST(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                self._send(400, {"error": f"POST {path}: the body is not a JSON object: {e}"})
                return
            try:
                if path == "/predict":
                    self._send(200, backend.predict(payload))
                elif path == "/setup":
                    self._send(200, backend.setup(payload))
                elif path == "/webhook":
                    self._send(200, {"status": "ok"})
                elif path == "/train":
                    self._send(501, {"error": "bbadj serve does not train (bbadj train does)"})
                else:
                    self._send(404, {"error": f"no such endpoint: POST {path}"})
            except DataError as e:
                backend.log(f"POST {path}: {e}")
                self._send(422, {"error": str(e)})
            except Exception as e:  # noqa: BLE001 - a bug answers 500 and is logged; the server goes on
                backend.log(f"POST {path}: internal error\n{traceback.format_exc()}")
                self._send(500, {"error": f"bbadj serve: internal error: {type(e).__name__}: {e}"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _reason_phrase(message: str) -> str:
    """An HTTP status line's reason: one line of latin-1, not too long."""
    return " ".join(str(message).split()).encode("ascii", "replace").decode()[:400]


def serve(backend: Backend, settings: ServeSettings = ServeSettings()) -> None:
    """Answer Label Studio until interrupted."""
    try:
        server = make_server(backend, settings.host, settings.port)
    except OSError as e:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {e}") from None
    backend.warm_up()
    h = backend.health()
    backend.log(
        f"model {h['checkpoint']} ({h['model_version']}, err_px scale {h['err_scale']:g}, review rule: "
        f"{h['review_rule']}, hold: {h['hold_rule']}); Label Studio: {h['label_studio_url'] or 'address from /setup'}, token: "
        f"{h['token'] or 'from /setup'}"
    )
    backend.log(
        f"listening on http://{settings.host}:{server.server_address[1]} (Label Studio: Settings > Model > "
        f"Connect Model, this URL)"
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()

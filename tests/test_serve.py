"""`bbadj serve`, the Label Studio ML backend, over HTTP on a local port: its answers to /health,
/setup and /predict (interactive and bulk) as Label Studio 1.23 sends them, with a stand-in for
Label Studio that serves its uploads and local files only with its token (and exchanges a personal
access token), and a second server for plain URLs. The model is the tiny untrained checkpoint of
conftest: these tests hold the geometry and the format (each box exactly as ``bbadj.adjust``
snaps it, in Label Studio's percent), not the quality (tests/test_labelstudio.py, with a trained
model)."""

import copy
import json
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import bbadj
from bbadj.cli.main import main
from bbadj.core.box_ops import EDGES, clip_to_image
from bbadj.data.images import read_rgb
from bbadj.serve.fetch import LabelStudioImages
from bbadj.snap.file import SnapSettings
from bbadj.snap.hold import describe as describe_hold
from bbadj.serve.labelstudio import TaskError, drawn_now, image_field, to_pixels, to_value
from bbadj.serve.server import Backend, make_server

LEGACY, JWT = "0123456789abcdef", "aaa.bbb.ccc"  # Label Studio's two kinds of token
CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image" smart="true"><Label value="object"/></RectangleLabels>
</View>"""
SIZE = {"a.png": (320, 240), "rot6.jpg": (200, 320)}  # as shown (rot6.jpg is stored 320 x 200, EXIF 6)


def rect(box, size, rid, rotation=0.0, **extra):
    """A Label Studio rectangle of a pixel box x0, y0, x1, y1 on an image of ``size`` (as shown)."""
    (w, h), (x0, y0, x1, y1) = size, box
    return {
        "id": rid,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": {
            "x": 100 * x0 / w,
            "y": 100 * y0 / h,
            "width": 100 * (x1 - x0) / w,
            "height": 100 * (y1 - y0) / h,
            "rotation": rotation,
            "rectanglelabels": ["object"],
        },
        **extra,
    }


def task(tid, image, annotations=(), **extra):
    return {
        "id": tid,
        "data": {"image": image},
        "annotations": list(annotations),
        "drafts": [],
        "predictions": [],
        **extra,
    }


# ---------------------------------------------------------------- Label Studio's coordinates


def test_percent_to_pixels_and_back_on_hand_made_rectangles():
    v = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0}
    assert to_pixels(v, 200, 100) == [20, 20, 80, 60]
    assert to_value([20, 20, 80, 60], 200, 100) == v
    # turned clockwise about the top-left corner (100, 10), width 20 px and height 20 px
    turned = {"x": 50, "y": 10, "width": 10, "height": 20}
    assert to_pixels({**turned, "rotation": 90}, 200, 100) == [80, 10, 100, 30]
    assert to_pixels({**turned, "rotation": 180}, 200, 100) == [80, -10, 100, 10]
    assert to_pixels({**turned, "rotation": 270}, 200, 100) == [100, -10, 120, 10]
    assert to_pixels({**turned, "rotation": -90}, 200, 100) == [100, -10, 120, 10]
    with pytest.raises(ValueError, match="turned by 30 degrees"):
        to_pixels({**turned, "rotation": 30}, 200, 100)
    with pytest.raises(ValueError, match="positive width"):
        to_pixels({**turned, "width": 0}, 200, 100)


def test_the_percent_round_trip_is_exact_on_odd_sizes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, h = rng.integers(1, 5000, 2)
        x0, y0 = rng.uniform(0, w - 0.5), rng.uniform(0, h - 0.5)
        box = [x0, y0, rng.uniform(x0 + 0.1, w), rng.uniform(y0 + 0.1, h)]
        np.testing.assert_allclose(to_pixels(to_value(box, w, h), w, h), box, rtol=0, atol=1e-9)


def test_the_drawn_rectangle_is_the_new_one_of_the_context():
    old, new = rect((1, 1, 9, 9), (10, 10), "ann-1"), rect((2, 2, 8, 8), (10, 10), "n1")
    accepted = rect((3, 3, 7, 7), (10, 10), "p1", origin="prediction")
    t = task(1, "x", [{"id": 5, "result": [old]}])
    assert drawn_now(t, [old, accepted, new]) == [new]
    assert drawn_now(t, [old]) == [old], "nothing new: the last one"
    assert drawn_now(t, [{"type": "choices", "value": {}}]) == []


def test_the_image_is_the_field_its_image_tag_reads():
    config = '<View><Image name="left" value="$a"/><Image name="right" value="$b"/></View>'
    assert image_field(config, "right", task(3, "x", data={"a": "/a.png", "b": "/b.png"})) == "/b.png"
    with pytest.raises(TaskError, match=r"task 3: no image URL in the task's data field 'b'"):
        image_field(config, "right", {"id": 3, "data": {"a": "/a.png"}})
    with pytest.raises(TaskError, match='task 3: the labeling config has no <Image name="middle">'):
        image_field(config, "middle", task(3, "x"))


# ---------------------------------------------------------------- a stand-in Label Studio, and the backend


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ls-images")
    im = Image.new("RGB", SIZE["a.png"], (200, 200, 200))
    ImageDraw.Draw(im).rectangle([60, 50, 199, 169], fill=(30, 60, 160))
    im.save(folder / "a.png")
    stored = Image.new("RGB", (320, 200), (220, 220, 220))  # shown turned a quarter clockwise: 200 x 320
    ImageDraw.Draw(stored).rectangle([10, 10, 69, 69], fill=(220, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(folder / "rot6.jpg", quality=95, exif=exif.tobytes())
    (folder / "bad.jpg").write_bytes(b"\xff\xd8 not a JPEG at all")
    shutil.copy(folder / "a.png", folder / "é a.png")
    return folder


class FakeLabelStudio:
    """Label Studio's file serving as the backend meets it: /data/upload/<project>/<name> and
    /data/local-files/?d=<dir>/<name> only with ``Token <legacy>`` or ``Bearer <access>``, the
    access token from /api/token/refresh/ for the personal token; every request's Authorization
    header recorded. ``plain=True``: any file, no token needed (a plain URL's server)."""

    def __init__(self, folder, plain=False):
        self.folder, self.plain, self.access, self.refreshes, self.seen = folder, plain, "access-1", 0, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, body=b"", kind="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                fake.seen.append((self.path, self.headers.get("Authorization")))
                url = urllib.parse.urlsplit(self.path)
                if fake.plain:
                    name = url.path.rsplit("/", 1)[-1]
                elif url.path.startswith("/data/upload/"):
                    name = url.path.rsplit("/", 1)[-1]
                elif url.path == "/data/local-files/":
                    name = urllib.parse.parse_qs(url.query)["d"][0].rsplit("/", 1)[-1]
                else:
                    return self.reply(404)
                if not fake.plain and self.headers.get("Authorization") not in (
                    f"Token {LEGACY}",
                    f"Bearer {fake.access}",
                ):
                    return self.reply(401, b'{"detail": "Authentication credentials were not provided."}')
                path = fake.folder / name
                return self.reply(200, path.read_bytes(), "image/png") if path.is_file() else self.reply(404)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/token/refresh/" and body.get("refresh") == JWT:
                    fake.refreshes += 1
                    return self.reply(200, json.dumps({"access": fake.access}).encode())
                return self.reply(401)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def label_studio(images):
    ls, plain = FakeLabelStudio(images), FakeLabelStudio(images, plain=True)
    yield ls, plain
    ls.stop()
    plain.stop()


@pytest.fixture(scope="module")
def model(checkpoint):
    return bbadj.load_model(checkpoint)


@pytest.fixture(autouse=True)
def no_label_studio_env(monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)


class Running:
    """A backend answering on a free local port."""

    def __init__(self, backend):
        self.backend = backend
        self.httpd = make_server(backend, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def call(self, method, path, payload=None):
        """(status, reason phrase, JSON body)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, r.reason, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.reason, json.loads(e.read())

    def predict(self, tasks, context=None):
        return self.call(
            "POST",
            "/predict",
            {
                "tasks": tasks,
                "project": "1.1",
                "label_config": CONFIG,
                "params": {"login": None, "password": None, "context": context},
            },
        )

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def start():
    running = []

    # hold 0: these tests hold each box to bbadj.adjust's; the hold has its own test below
    def start(model, settings=SnapSettings(hold=0), url=None, token=None):
        running.append(Running(Backend(model, settings, LabelStudioImages(url, token))))
        return running[-1]

    yield start
    for r in running:
        r.stop()


def expected(model, path, *drawn_px):
    """What bbadj.adjust gives for the drawn boxes clipped to the image, on the decoded image, in one
    call (as one task's boxes are snapped: a batch of two differs from two of one in float32's last
    digits)."""
    image = read_rgb(path)
    boxes = clip_to_image(np.asarray(drawn_px, dtype=np.float64), image.shape[2], image.shape[1])
    return bbadj.adjust(image, boxes, model)


def assert_region_is(region, out, size, k=0):
    (w, h), (x0, y0, x1, y1) = size, out["boxes"][k]
    v = region["value"]
    np.testing.assert_allclose(
        [v["x"], v["y"], v["width"], v["height"]],
        [100 * x0 / w, 100 * y0 / h, 100 * (x1 - x0) / w, 100 * (y1 - y0) / h],
        rtol=0,
        atol=1e-9,
    )
    assert v["rotation"] == 0 and v["rectanglelabels"] == ["object"]
    assert (region["original_width"], region["original_height"]) == size
    err = region["meta"]["bbadj"]["err_px"]
    assert list(err) == list(EDGES)
    np.testing.assert_allclose(list(err.values()), out["err_px"][k], atol=1e-3)


# ---------------------------------------------------------------- the endpoints


def test_health_and_versions_name_the_model(model, start, checkpoint):
    server = start(model)
    status, _, body = server.call("GET", "/health")
    assert status == 200 and body["status"] == "UP"
    assert body["model_version"].startswith("bbadj-") and len(body["model_version"]) == len("bbadj-") + 12
    assert body["checkpoint"] == str(checkpoint) and body["err_scale"] == 1.0
    assert server.call("GET", "/")[2] == body
    assert server.call("GET", "/versions")[2] == {"versions": [body["model_version"]]}
    assert server.call("POST", "/webhook", {"action": "ANNOTATION_CREATED"})[:1] == (200,)
    assert server.call("POST", "/train", {})[0] == 501
    assert server.call("GET", "/nothing")[0] == 404


def test_setup_gives_label_studio_address_and_token_and_checks_the_config(model, start, label_studio, images):
    ls, _ = label_studio
    server = start(model)
    drawn = (50, 40, 210, 180)
    t = task(1, "/data/upload/1/a.png")
    status, why, _ = server.predict([t], {"result": [rect(drawn, SIZE["a.png"], "d1")]})
    assert status == 422 and "task 1:" in why and "address is not known" in why
    status, _, body = server.call(
        "POST",
        "/setup",
        {"project": "1.1", "schema": CONFIG, "hostname": ls.url, "access_token": LEGACY, "extra_params": None},
    )
    assert status == 200 and body == {"model_version": server.backend.model_version}
    status, _, body = server.predict([t], {"result": [rect(drawn, SIZE["a.png"], "d1")]})
    assert status == 200 and len(body["results"][0]["result"]) == 1
    assert ls.seen[-1] == ("/data/upload/1/a.png", f"Token {LEGACY}")
    no_rect = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"/></View>'
    status, why, body = server.call("POST", "/setup", {"schema": no_rect})
    assert status == 422 and "no <RectangleLabels> or <Rectangle> on an <Image>" in why == body["error"]


def test_interactive_the_drawn_rectangle_comes_back_snapped_in_percent(model, start, label_studio, images):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    drawn, saved = (48.3, 41.7, 211.2, 178.9), rect((10, 10, 100, 100), SIZE["a.png"], "ann-1")
    new = rect(drawn, SIZE["a.png"], "d1", image_rotation=90)
    t = task(6, "/data/local-files/?d=local/a.png", [{"id": 11, "result": [saved]}])
    status, _, body = server.predict([t], {"result": [saved, new]})
    assert status == 200 and body["model_version"] == server.backend.model_version and body["errors"] == []
    (prediction,) = body["results"]
    (region,) = prediction["result"]  # the new rectangle only: the saved one is not snapped again
    assert_region_is(region, expected(model, images / "a.png", drawn), SIZE["a.png"])
    assert region["id"] != "d1" and (region["from_name"], region["to_name"], region["type"]) == (
        "label",
        "image",
        "rectanglelabels",
    )
    assert region["image_rotation"] == 90, "the editor's view of the image, carried back"
    meta = region["meta"]["bbadj"]
    assert meta["drawn"] == {"id": "d1", "value": new["value"], "box_px": list(drawn)}
    assert meta["status"] == "changed" and meta["source"] == "interactive" and "err_px top" in region["meta"]["text"][0]
    assert 0 <= region["score"] <= 1 and prediction["score"] == region["score"] == meta["p_within"]["least"]


def test_a_file_name_with_a_space_and_an_accent_is_fetched(model, start, label_studio, images):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    drawn = (50, 40, 210, 180)
    status, _, body = server.predict(
        [task(1, "/data/local-files/?d=local/é a.png")], {"result": [rect(drawn, SIZE["a.png"], "d")]}
    )
    assert status == 200, body
    assert_region_is(body["results"][0]["result"][0], expected(model, images / "a.png", drawn), SIZE["a.png"])


def test_interactive_without_a_rectangle_is_an_empty_suggestion(model, start, label_studio):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    keypoint = {"id": "k", "type": "keypointlabels", "from_name": "kp", "to_name": "image", "value": {"x": 5, "y": 5}}
    fetched = len(ls.seen)
    status, _, body = server.predict([task(1, "/data/upload/1/a.png")], {"result": [keypoint]})
    assert status == 200 and body["results"] == [{"result": [], "model_version": server.backend.model_version}]
    assert len(ls.seen) == fetched, "no image fetched for nothing to snap"


def test_the_checkpoints_err_px_scale_is_used(model, start, label_studio, images, checkpoint, tmp_path):
    ls, _ = label_studio
    scaled = tmp_path / "scaled.pt"
    torch.save({**torch.load(checkpoint, weights_only=True), "err_scale": 2.5}, scaled)
    drawn = rect((50, 40, 210, 180), SIZE["a.png"], "d1")
    t = task(1, "/data/upload/1/a.png")
    answers = []
    for m in (model, bbadj.load_model(scaled)):
        server = start(m, url=ls.url, token=LEGACY)
        answers.append(server.predict([t], {"result": [drawn]})[2]["results"][0]["result"][0])
    assert start(bbadj.load_model(scaled)).call("GET", "/health")[2]["err_scale"] == 2.5
    one, scaled = (list(a["meta"]["bbadj"]["err_px"].values()) for a in answers)
    np.testing.assert_allclose(scaled, 2.5 * np.asarray(one), rtol=1e-3)
    assert answers[0]["value"] == answers[1]["value"]


def test_bulk_one_prediction_per_task_for_every_rectangle_of_its_annotations(model, start, label_studio, images):
    ls, plain = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    a = SIZE["a.png"]
    first, second = (55, 45, 205, 175), (100, 100, 150, 140)
    tasks = [
        task(
            1,
            "/data/upload/1/a.png",
            [
                {
                    "id": 21,
                    "result": [
                        rect(first, a, "r1"),
                        rect(second, a, "r2"),
                        {
                            "id": "c",
                            "type": "choices",
                            "from_name": "c",
                            "to_name": "image",
                            "value": {"choices": ["x"]},
                        },
                    ],
                },
                {"id": 22, "was_cancelled": True, "result": [rect(first, a, "r3")]},
            ],
        ),
        task(2, f"{plain.url}/missing.png", [{"id": 23, "result": [rect(first, a, "r4")]}]),
        task(3, f"{plain.url}/a.png"),  # no annotation: nothing to snap
        task(4, f"{plain.url}/a.png", [{"id": 24, "result": [rect(first, a, "r5", rotation=30)]}]),
    ]
    sent = copy.deepcopy(tasks)
    status, _, body = server.predict(tasks)
    assert status == 200 and tasks == sent
    one, missing, empty, turned = body["results"]
    assert [r["meta"]["bbadj"]["drawn"]["id"] for r in one["result"]] == ["r1", "r2"]
    assert {r["meta"]["bbadj"]["annotation_id"] for r in one["result"]} == {21}
    assert all(r["meta"]["bbadj"]["source"] == "annotation" for r in one["result"])
    out = expected(model, images / "a.png", first, second)
    assert_region_is(one["result"][0], out, a, 0)
    assert_region_is(one["result"][1], out, a, 1)
    assert one["score"] == min(r["score"] for r in one["result"])
    assert missing == empty == turned == []
    (error,) = body["errors"]
    assert error.startswith("task 2: cannot read image") and "missing.png" in error and "404" in error
    (skip,) = body["skipped"]
    assert skip.startswith("task 4: rectangle 'r5': turned by 30 degrees")
    # a plain URL on another host gets no token
    assert all(auth is None for _, auth in plain.seen)


@pytest.mark.parametrize(
    "image, says", [("/data/upload/1/nothere.png", "HTTP 404"), ("/data/upload/1/bad.jpg", "cannot decode image")]
)
def test_an_unreadable_image_is_an_error_naming_the_task_and_the_server_goes_on(
    model, start, label_studio, image, says, capfd
):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    status, why, body = server.predict([task(7, image)], {"result": [rect((5, 5, 50, 50), SIZE["a.png"], "d")]})
    assert status == 422 and why == body["error"] and why.startswith("task 7: ") and says in why
    assert image in why
    assert "bbadj serve: task 7: " in capfd.readouterr().err
    assert server.call("GET", "/health")[0] == 200


def test_a_turned_photograph_is_read_as_the_browser_shows_it(model, start, label_studio, images):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    shown, drawn = SIZE["rot6.jpg"], (110, 5, 195, 75)
    t = task(8, "/data/upload/1/rot6.jpg")
    status, _, body = server.predict([t], {"result": [rect(drawn, shown, "d")]})
    assert status == 200
    assert_region_is(body["results"][0]["result"][0], expected(model, images / "rot6.jpg", drawn), shown)
    # drawn on the stored 320 x 200 pixels: Label Studio showed it another way than the browser does
    status, why, _ = server.predict([t], {"result": [rect(drawn, (320, 200), "d")]})
    assert status == 422 and why.startswith("task 8: rectangle 'd': drawn on a 320x200 image")


def test_a_rectangle_turned_a_quarter_is_snapped_as_the_upright_box_it_covers(model, start, label_studio, images):
    ls, _ = label_studio
    server = start(model, url=ls.url, token=LEGACY)
    item = rect((0, 0, 1, 1), SIZE["a.png"], "q")
    # top-left corner at (200, 50), 120 px wide (downwards) and 140 px high (leftwards): x 60..200, y 50..170
    item["value"].update(
        x=100 * 200 / 320, y=100 * 50 / 240, width=100 * 120 / 320, height=100 * 140 / 240, rotation=90
    )
    status, _, body = server.predict([task(9, "/data/upload/1/a.png")], {"result": [item]})
    assert status == 200
    region = body["results"][0]["result"][0]
    assert_region_is(region, expected(model, images / "a.png", (60, 50, 200, 170)), SIZE["a.png"])
    np.testing.assert_allclose(region["meta"]["bbadj"]["drawn"]["box_px"], [60, 50, 200, 170], atol=1e-9)


def test_a_personal_access_token_is_exchanged_and_renewed(model, start, label_studio):
    ls, _ = label_studio
    ls.refreshes = 0
    server = start(model, url=ls.url, token=JWT)

    def ask():
        return server.predict(
            [task(1, "/data/upload/1/a.png")], {"result": [rect((50, 40, 210, 180), SIZE["a.png"], "d")]}
        )

    assert ask()[0] == 200 and ls.refreshes == 1 and ls.seen[-1][1] == "Bearer access-1"
    assert ask()[0] == 200 and ls.refreshes == 1, "the access token is kept"
    ls.access = "access-2"  # expired: refused once, renewed
    assert ask()[0] == 200 and ls.refreshes == 2 and ls.seen[-1][1] == "Bearer access-2"


def test_the_review_rule_keeps_an_unsure_rectangle_as_drawn(model, start, label_studio):
    ls, _ = label_studio
    server = start(model, SnapSettings(max_err_px=1e-6), url=ls.url, token=LEGACY)
    drawn = rect((50.5, 40.25, 210, 180), SIZE["a.png"], "d")
    status, _, body = server.predict([task(1, "/data/upload/1/a.png")], {"result": [drawn]})
    region = body["results"][0]["result"][0]
    for k in ("x", "y", "width", "height"):
        assert region["value"][k] == pytest.approx(drawn["value"][k], abs=1e-9)
    meta = region["meta"]["bbadj"]
    assert meta["status"] == "kept" and "err_px" in meta["reason"] and "kept as drawn" in region["meta"]["text"][0]


def test_the_hold_keeps_an_edge_where_it_was_drawn(model, start, label_studio):
    """As bbadj snap's (bbadj/snap/hold.py): every edge within 1e9 x its err_px stays as drawn,
    none with hold 0; the held edges in the meta and the editor's line; the hold in /health."""
    ls, _ = label_studio
    drawn = rect((50.5, 40.25, 210, 180), SIZE["a.png"], "d")
    for hold, held in ((1e9, list(EDGES)), (0, [])):
        server = start(model, SnapSettings(hold=hold), url=ls.url, token=LEGACY)
        status, _, body = server.predict([task(1, "/data/upload/1/a.png")], {"result": [drawn]})
        region = body["results"][0]["result"][0]
        meta = region["meta"]["bbadj"]
        assert status == 200 and meta["status"] == "changed" and meta["held"] == held
        same = [region["value"][k] == pytest.approx(drawn["value"][k], abs=1e-9) for k in ("x", "y", "width", "height")]
        assert all(same) if held else not all(same)
        assert ("held as drawn: top, bottom, left, right" in region["meta"]["text"][0]) == bool(held)
        assert server.backend.health()["hold_rule"] == describe_hold(hold, SnapSettings.hold_mode)


def test_the_command_line_names_a_missing_checkpoint_and_a_busy_port(checkpoint, tmp_path, capsys):
    assert main(["serve", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ckpt = shutil.copy(checkpoint, tmp_path / "m.pt")
        assert main(["serve", "--checkpoint", str(ckpt), "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err

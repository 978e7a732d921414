"""`bbadj serve` in a real Label Studio (docs/labelstudio.md): Label Studio 1.23, installed from the
package registry into a venv of its own (``.venv-labelstudio``, made by ``make test``: Django and
its own pins, about 1 GB), started on localhost with its own SQLite database,
a project and tasks made through its API (an upload, a local-files storage, a plain URL, a URL
that answers 404), the backend connected as a person connects it (Settings > Model), and:

- bulk: Label Studio's "Retrieve Predictions" stores one prediction per annotated task, each
  rectangle exactly where ``bbadj.adjust`` puts it, in Label Studio's percent; no annotation changes;
  the task whose image is missing gets none, and the backend's log names it;
- interactive: what Label Studio's editor posts after a drag comes back snapped; on the missing
  image, Label Studio's answer names the task;
- in headless Chromium (Selenium, Debian's chromium and chromium-driver): a person's drag on the
  labeling page with Auto-Annotation on shows the snapped rectangle as a suggestion, accepted and
  submitted with its meta (``BBADJ_LS_SCREENSHOT=path.png`` keeps a screenshot: docs/img/);
- with a trained model (``BBADJ_TRAINED_MODEL``, else the study's ``runs/long/l4/seed0/model.pt``
  or ``runs/l4/seed0/model.pt``, else the model shipped with bbadj): coco128 val boxes, perturbed by the
  evaluation's jitter and imported as annotations, come back closer to the truth on most of those
  the model moved (the hold leaves the others as drawn).

Without the venv, Chromium or a trained model, each part skips and says what is missing. The
model elsewhere is the tiny untrained checkpoint of conftest: the format, not the quality.
"""

import functools
import http.server
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import COCO128, COCO128_IMAGES, ROOT
from PIL import Image, ImageDraw

import bbadj
from bbadj.core.box_ops import clip_to_image
from bbadj.snap.file import SnapSettings
from bbadj.snap.hold import hold_edges
from bbadj.snap.shipped import SHIPPED
from bbadj.data.images import read_rgb
from bbadj.serve.labelstudio import to_pixels

LS_VENV = ROOT / ".venv-labelstudio"
LABEL_STUDIO = LS_VENV / "bin" / "label-studio"
USER, PASSWORD, TOKEN = "ci@example.com", "ci-password-1", "bbadj-ci-token-0123456789"
CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image" smart="true">
    <Label value="object" background="#22aa22"/>
  </RectangleLabels>
</View>"""
# synthetic photographs: stored size and the true box (x0, y0, x1, y1)
TRUE_BOXES = {
    "a.png": ((320, 240), (60, 50, 200, 170)),
    "b.jpg": ((400, 300), (120, 40, 330, 260)),
    "c.png": ((256, 256), (30, 90, 220, 180)),
}
PHOTO = "000000000077.jpg"  # a coco128 val photograph (500 x 375) for the browser
TRUSTED = [
    os.environ.get("BBADJ_TRAINED_MODEL"),
    ROOT / "runs" / "long" / "l4" / "seed0" / "model.pt",
    ROOT / "runs" / "l4" / "seed0" / "model.pt",
    SHIPPED,  # trained on coco128's train split and synthetic images: val's photographs are new to it
]
TRAINED = next((Path(p) for p in TRUSTED if p and Path(p).is_file()), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not LABEL_STUDIO.exists(),
        reason=f"no Label Studio to test in: {LABEL_STUDIO} is missing (`make test` installs it: "
        f"make .venv-labelstudio/.installed)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: the process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LabelStudio:
    """Label Studio on a free local port, its data (SQLite database, uploads) under ``root``."""

    def __init__(self, root: Path):
        import requests

        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.files = root / "files"  # LOCAL_FILES_DOCUMENT_ROOT
        self.files.mkdir(parents=True)
        self.log = root / "label-studio.log"
        env = {
            **os.environ,
            "LABEL_STUDIO_BASE_DATA_DIR": str(root / "data"),
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.files),
            # nothing leaves the machine: no Sentry, no version check, no analytics
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            # the backend is on 127.0.0.1, which Label Studio refuses by default (SSRF protection)
            "ML_BLOCK_LOCAL_IP": "false",
            "SSRF_PROTECTION_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                str(LABEL_STUDIO),
                "start",
                "--no-browser",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--username",
                USER,
                "--password",
                PASSWORD,
                "--user-token",
                TOKEN,
                "--enable-legacy-api-token",
            ],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_http(self.url + "/health", 600, self.proc, self.log)
        self.start_s = time.monotonic() - self.started
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {TOKEN}"

    def api(self, method, path, ok=(200, 201, 204), **kw):
        r = self.http.request(method, self.url + path, timeout=120, **kw)
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text[:1000]}"
        return r.json() if r.content else None

    def tasks(self, project: int) -> list[dict]:
        out = self.api("GET", f"/api/tasks?project={project}&page_size=1000")
        return out["tasks"] if isinstance(out, dict) else out


class StaticServer:
    """A folder on localhost: the plain-URL kind of task image. The editor loads images with
    crossOrigin="anonymous", so the header is needed for the browser (not for the backend)."""

    def __init__(self, folder: Path):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def end_headers(self):
                self.send_header("Access-Control-Allow-Origin", "*")
                super().end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class Serve:
    """`bbadj serve` as a person runs it, with no Label Studio address or token of its own: it
    learns both from Label Studio's /setup."""

    def __init__(self, checkpoint: Path, root: Path):
        self.port, self.log = free_port(), root / f"serve-{checkpoint.stem}-{time.monotonic_ns()}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bbadj", "serve", "--checkpoint", str(checkpoint), "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            stdin=subprocess.DEVNULL,
        )
        wait_http(self.url + "/health", 120, self.proc, self.log)
        self.health = json.loads(urllib.request.urlopen(self.url + "/health", timeout=5).read())
        self.model = bbadj.load_model(checkpoint)  # to compute each answer independently


def rect(box, size, rid):
    (w, h), (x0, y0, x1, y1) = size, box
    return {
        "id": rid,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": w,
        "original_height": h,
        "value": {
            "x": 100 * x0 / w,
            "y": 100 * y0 / h,
            "width": 100 * (x1 - x0) / w,
            "height": 100 * (y1 - y0) / h,
            "rotation": 0,
            "rectanglelabels": ["object"],
        },
    }


def snapped_value(model, path: Path, value: dict) -> list[float]:
    """x, y, width, height in percent where bbadj.adjust puts the rectangle ``value`` of ``path``, with
    `bbadj serve`'s default hold (SnapSettings: an edge moved within its err_px stays as drawn)."""
    image = read_rgb(path)
    W, H = image.shape[2], image.shape[1]
    box = clip_to_image(np.asarray([to_pixels(value, W, H)]), W, H)
    out = bbadj.adjust(image, box, model)
    held, _ = hold_edges(box, out["boxes"], out["err_px"], SnapSettings.hold, SnapSettings.hold_mode)
    x0, y0, x1, y1 = held[0]
    return [100 * x0 / W, 100 * y0 / H, 100 * (x1 - x0) / W, 100 * (y1 - y0) / H]


def xywh(value: dict) -> list[float]:
    return [value[k] for k in ("x", "y", "width", "height")]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("labelstudio")


@pytest.fixture(scope="module")
def photos(root):
    folder = root / "images"
    folder.mkdir()
    for name, ((w, h), box) in TRUE_BOXES.items():
        im = Image.new("RGB", (w, h), (200, 200, 200))
        ImageDraw.Draw(im).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(30, 60, 160))
        im.save(folder / name, quality=95)
    shutil.copy(COCO128_IMAGES / PHOTO, folder / PHOTO)
    return folder


@pytest.fixture(scope="module")
def label_studio(root):
    ls = LabelStudio(root)
    print(f"Label Studio up in {ls.start_s:.0f} s")
    yield ls
    stop(ls.proc)


@pytest.fixture(scope="module")
def static(photos):
    server = StaticServer(photos)
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def servers(root):
    """One `bbadj serve` per checkpoint, started on first use."""
    running: dict[Path, Serve] = {}

    def get(checkpoint) -> Serve:
        if Path(checkpoint) not in running:
            running[Path(checkpoint)] = Serve(Path(checkpoint), root)
        return running[Path(checkpoint)]

    yield get
    for s in running.values():
        stop(s.proc)


def new_project(ls: LabelStudio, serve: Serve, title: str) -> tuple[int, int]:
    """(project id, ML backend id): a project with CONFIG, the backend connected as Settings > Model
    > Connect Model does, interactive pre-annotations on."""
    pid = ls.api("POST", "/api/projects", json={"title": title, "label_config": CONFIG})["id"]
    ml = ls.api("POST", "/api/ml", json={"project": pid, "url": serve.url, "title": "bbadj", "is_interactive": True})
    return pid, ml["id"]


def upload(ls: LabelStudio, pid: int, path: Path) -> None:
    with path.open("rb") as f:
        ls.api("POST", f"/api/projects/{pid}/import", files={path.name: (path.name, f)})


@pytest.fixture(scope="module")
def project(label_studio, servers, checkpoint, photos, static):
    """The format project: tasks of every kind, each annotated with a rough box (none on one)."""
    ls, serve = label_studio, servers(checkpoint)
    pid, ml_id = new_project(ls, serve, "bbadj format")
    upload(ls, pid, photos / "a.png")  # an upload: /data/upload/<project>/<name>
    (ls.files / "local").mkdir()
    shutil.copy(photos / "b.jpg", ls.files / "local" / "b.jpg")  # a local-files storage: /data/local-files/?d=
    storage = ls.api(
        "POST",
        "/api/storages/localfiles",
        json={
            "project": pid,
            "title": "local",
            "use_blob_urls": True,
            "path": str(ls.files / "local"),
            "regex_filter": r".*\.jpg",
        },
    )
    ls.api("POST", f"/api/storages/localfiles/{storage['id']}/sync")
    ls.api(
        "POST",
        f"/api/projects/{pid}/import",
        json=[
            {"data": {"image": f"{static.url}/c.png"}},  # a plain URL
            {
                "data": {"image": f"{static.url}/missing.png"},  # a URL that answers 404
                "annotations": [{"result": [rect((10, 10, 50, 50), (320, 240), "missing-1")]}],
            },
            {"data": {"image": f"{static.url}/a.png?unannotated"}},
        ],
    )
    names = {}
    for t in ls.tasks(pid):
        image = t["data"]["image"]
        name = next((n for n in (*TRUE_BOXES, "missing.png") if n in image), None)
        name = names[t["id"]] = "unannotated" if "unannotated" in image else name
        if name in TRUE_BOXES:  # a person's rough box, through the API
            size, (x0, y0, x1, y1) = TRUE_BOXES[name]
            ls.api(
                "POST",
                f"/api/tasks/{t['id']}/annotations",
                json={
                    "result": [rect((x0 - 7, y0 + 4, x1 + 5, y1 + 9), size, f"rough-{t['id']}")],
                    "was_cancelled": False,
                },
            )
    assert sorted(names.values()) == sorted([*TRUE_BOXES, "missing.png", "unannotated"])
    return {"id": pid, "ml": ml_id, "names": names, "serve": serve}


def test_connecting_the_backend_gives_label_studio_its_model_version(label_studio, project):
    ml = label_studio.api("GET", f"/api/ml/{project['ml']}")
    assert ml["state"] == "CO", ml
    assert ml["model_version"] == project["serve"].health["model_version"]


def test_bulk_predictions_snap_every_annotated_rectangle_and_change_no_annotation(label_studio, project, photos):
    ls, pid, serve = label_studio, project["id"], project["serve"]
    before = {tid: ls.api("GET", f"/api/tasks/{tid}/annotations") for tid in project["names"]}
    r = ls.api(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
        json={"selectedItems": {"all": True, "excluded": []}},
    )
    print("retrieve predictions:", r)
    version = serve.health["model_version"]
    for tid, name in project["names"].items():
        assert ls.api("GET", f"/api/tasks/{tid}/annotations") == before[tid], f"task {tid}: an annotation changed"
        predictions = [p for p in ls.api("GET", f"/api/predictions?task={tid}") if p["model_version"] == version]
        if name not in TRUE_BOXES:
            assert predictions == [], f"task {tid} ({name}): nothing to snap, no prediction"
            continue
        (prediction,) = predictions
        (drawn,) = before[tid][0]["result"]
        (region,) = prediction["result"]
        assert region["meta"]["bbadj"]["drawn"]["id"] == drawn["id"]
        assert region["meta"]["bbadj"]["annotation_id"] == before[tid][0]["id"]
        assert (region["original_width"], region["original_height"]) == TRUE_BOXES[name][0]
        np.testing.assert_allclose(
            xywh(region["value"]), snapped_value(serve.model, photos / name, drawn["value"]), atol=1e-4
        )
        assert prediction["score"] == pytest.approx(region["score"])
    missing = next(t for t, n in project["names"].items() if n == "missing.png")
    assert f"task {missing}: cannot read image" in serve.log.read_text()


def test_interactive_a_drawn_rectangle_comes_back_snapped(label_studio, project, photos):
    ls, serve = label_studio, project["serve"]
    for tid, name in project["names"].items():
        if name not in TRUE_BOXES:
            continue
        size, (x0, y0, x1, y1) = TRUE_BOXES[name]
        drawn = rect((x0 - 10, y0 - 6, x1 + 12, y1 + 3), size, "drawn-1")
        r = ls.api(
            "POST",
            f"/api/ml/{project['ml']}/interactive-annotating",
            json={"task": tid, "context": {"result": [drawn]}},
        )
        assert not r.get("errors"), r
        (region,) = r["data"]["result"]
        np.testing.assert_allclose(
            xywh(region["value"]), snapped_value(serve.model, photos / name, drawn["value"]), atol=1e-4
        )
        assert region["meta"]["bbadj"]["drawn"]["value"] == drawn["value"]
        assert set(region["meta"]["bbadj"]["err_px"]) == {"top", "bottom", "left", "right"}
    missing = next(t for t, n in project["names"].items() if n == "missing.png")
    r = ls.api(
        "POST",
        f"/api/ml/{project['ml']}/interactive-annotating",
        json={"task": missing, "context": {"result": [rect((10, 10, 50, 50), (320, 240), "drawn-m")]}},
    )
    (error,) = r["errors"]
    assert f"task {missing}: cannot read image" in error and "missing.png" in error


@pytest.mark.skipif(
    TRAINED is None,
    reason=f"no trained model to judge the snapping by: the shipped {SHIPPED} is missing; set "
    "BBADJ_TRAINED_MODEL or train runs/l4/seed0/model.pt (make repro)",
)
def test_with_a_trained_model_the_snapped_boxes_are_closer_to_the_truth(label_studio, servers, photos):
    """coco128 val photographs, each box perturbed by the evaluation's jitter (draw 0 of seed 1234,
    as tests/test_snap.py), imported with the perturbed boxes as annotations; Label Studio's bulk
    predictions scored against the true boxes."""
    from bbadj.core.config import Config
    from bbadj.data.dataset import draw_eval_jitter, load_boxes
    from bbadj.core.box_ops import paired_iou

    ls, serve = label_studio, servers(TRAINED)
    coco = load_boxes(COCO128 / "annotations" / "val.json", COCO128_IMAGES, Config().data, verbose=False)
    coco.images = coco.images[:8]
    rough = draw_eval_jitter(coco, Config().data, 1234, 0)
    pid, _ = new_project(ls, serve, "bbadj quality")
    for rec in coco.images:
        upload(ls, pid, Path(rec.path))
    truth, drawn, snapped = [], [], []
    tasks = {Path(t["data"]["image"]).name.split("-", 1)[1]: t["id"] for t in ls.tasks(pid)}
    for rec, boxes in zip(coco.images, rough):
        size = (rec.width, rec.height)
        ls.api(
            "POST",
            f"/api/tasks/{tasks[Path(rec.path).name]}/annotations",
            json={"result": [rect(b, size, f"r{k}") for k, b in enumerate(boxes)]},
        )
        truth += rec.boxes.tolist()
        drawn += boxes.tolist()
    ls.api(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
        json={"selectedItems": {"all": True, "excluded": []}},
    )
    for rec, boxes in zip(coco.images, rough):
        (prediction,) = ls.api("GET", f"/api/predictions?task={tasks[Path(rec.path).name]}")
        by_id = {r["meta"]["bbadj"]["drawn"]["id"]: r for r in prediction["result"]}
        snapped += [to_pixels(by_id[f"r{k}"]["value"], rec.width, rec.height) for k in range(len(boxes))]
    import torch

    iou = {
        k: paired_iou(torch.tensor(v, dtype=torch.float64), torch.tensor(truth, dtype=torch.float64)).numpy()
        for k, v in (("drawn", drawn), ("snapped", snapped))
    }
    # the hold leaves a box whose every edge moved within its err_px as drawn: judged are those moved
    moved = np.abs(iou["snapped"] - iou["drawn"]) > 1e-9
    closer = float(np.mean(iou["snapped"][moved] > iou["drawn"][moved]))
    print(
        f"{len(truth)} boxes on {len(coco.images)} photographs, {TRAINED}: mean IoU drawn {iou['drawn'].mean():.3f}, "
        f"snapped {iou['snapped'].mean():.3f}; {moved.sum()} moved, closer on {100 * closer:.0f}% of them"
    )
    assert moved.any() and closer > 0.5 and iou["snapped"].mean() > iou["drawn"].mean()


# ---------------------------------------------------------------- a person's drag, in the browser


def missing_browser() -> list[str]:
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    return missing


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]
# the editor's handles, from the data manager's (window.dataManager): the image tag, and the open annotation
IMAGE = "window.dataManager?.lsf?.lsf?.annotationStore?.selected?.names?.get('image')"
ANNOTATION = "window.dataManager?.lsf?.currentAnnotation"


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def editor_state(driver) -> dict | None:
    """The open annotation's regions and pending suggestions, in Label Studio's result format,
    from the data manager's own handle (window.dataManager)."""
    return driver.execute_script(f"""
        const a = {ANNOTATION};
        if (!a) return null;
        return {{regions: a.serializeAnnotation(),
                 suggestions: Array.from(a.suggestions.values()).map(s => s.serialize ? s.serialize() : s.toJSON())}};""")


@pytest.mark.skipif(
    bool(missing_browser()),
    reason=f"no browser: missing {', '.join(missing_browser())} "
    f"(apt-get install -y chromium chromium-driver, as .ci/run does)",
)
def test_a_drag_in_the_labeling_page_shows_the_snapped_rectangle(label_studio, servers, checkpoint, photos, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    ls, serve = label_studio, servers(TRAINED or checkpoint)
    pid, _ = new_project(ls, serve, "bbadj in the browser")
    upload(ls, pid, photos / PHOTO)
    (tid,) = [t["id"] for t in ls.tasks(pid)]
    wait = WebDriverWait(browser, 120)

    browser.get(ls.url + "/user/login/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[name=email]"))).send_keys(USER)
    browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait.until(lambda d: "/user/login" not in d.current_url)
    browser.get(f"{ls.url}/projects/{pid}/data?task={tid}")
    # the image is drawn on a Konva stage: wait until the editor knows its natural size
    wait.until(
        lambda d: d.execute_script(f"const i = {IMAGE}; return !!(i && i.naturalWidth > 1 && i.containerWidth > 1);")
    )
    time.sleep(1)

    def click(element):  # the toggles are visually hidden behind their styled indicators
        browser.execute_script("arguments[0].click()", element)

    def toggle(testid: str, on: bool) -> None:
        box = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'input[data-testid="{testid}"]')))
        if box.is_selected() != on:
            click(box)
        assert WebDriverWait(browser, 10).until(lambda d: box.is_selected() == on)

    toggle("bottombar-auto-annotation-toggle", True)
    toggle("bottombar-auto-accept-toggle", False)
    # the label, then the smart rectangle tool in the toolbar's Auto-Detect group
    click(browser.find_element(By.XPATH, "//*[contains(@class,'lsf-label') and normalize-space(.)='object']"))
    click(browser.find_element(By.CSS_SELECTOR, ".lsf-toolbar__smart button[aria-label='rectangle-tool']"))
    geo = browser.execute_script(f"""
        const i = {IMAGE}, r = document.querySelector('.konvajs-content').getBoundingClientRect();
        return {{width: r.width, height: r.height, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
                 stageWidth: i.stageWidth, stageHeight: i.stageHeight}};""")
    assert (geo["naturalWidth"], geo["naturalHeight"]) == (500, 375)
    # a rough box around the person on the left (coco128 annotation 67: x 24.8..121.8, y 167.5..332.9)
    x0, y0, x1, y1 = 8, 145, 140, 352
    sx, sy = geo["stageWidth"] / geo["naturalWidth"], geo["stageHeight"] / geo["naturalHeight"]
    at = lambda x, y: (round(x * sx - geo["width"] / 2), round(y * sy - geo["height"] / 2))  # noqa: E731
    stage = browser.find_element(By.CSS_SELECTOR, ".konvajs-content")
    started = time.monotonic()
    ActionChains(browser).move_to_element_with_offset(stage, *at(x0, y0)).click_and_hold().move_by_offset(
        5, 5
    ).move_to_element_with_offset(stage, *at(x1, y1)).release().perform()
    state = WebDriverWait(browser, 60, poll_frequency=0.1).until(
        lambda d: (s := editor_state(d)) and s["suggestions"] and s
    )
    shown_s = time.monotonic() - started
    time.sleep(0.8)  # let Konva paint
    if os.environ.get("BBADJ_LS_SCREENSHOT"):  # the labeling page's editor: the image, its tools, its bottom bar
        out = Path(os.environ["BBADJ_LS_SCREENSHOT"])
        browser.save_screenshot(str(out))
        r = browser.execute_script(
            "const r = document.querySelector('.konvajs-content').getBoundingClientRect();"
            "return [r.left, r.top, r.right, window.innerHeight];"
        )
        with Image.open(out) as page:
            page.crop((int(r[0]) - 15, int(r[1]) - 60, int(r[2]) + 60, int(r[3]))).save(out, optimize=True)
    (suggestion,) = state["suggestions"]
    (drawn,) = [r for r in state["regions"] if r["type"] == "rectanglelabels"]
    print(
        f"drag released -> suggestion shown in {shown_s:.2f} s; drawn {xywh(drawn['value'])}, "
        f"snapped {xywh(suggestion['value'])}"
    )
    np.testing.assert_allclose(
        xywh(suggestion["value"]), snapped_value(serve.model, photos / PHOTO, drawn["value"]), atol=1e-3
    )

    # accepted and submitted: the saved region is the snapped one, with its meta
    click(browser.find_element(By.CSS_SELECTOR, '[data-testid="bottombar-accept-suggestions-button"]'))
    time.sleep(0.8)
    submit = browser.find_elements(By.CSS_SELECTOR, "button[aria-label='submit']") or browser.find_elements(
        By.XPATH, "//button[normalize-space(.)='Submit']"
    )
    click(submit[0])
    saved = WebDriverWait(browser, 30).until(lambda d: ls.api("GET", f"/api/tasks/{tid}/annotations"))
    (region,) = saved[0]["result"]
    np.testing.assert_allclose(xywh(region["value"]), xywh(suggestion["value"]), atol=1e-9)
    assert region["meta"]["bbadj"]["drawn"]["value"] == drawn["value"]
    assert set(region["meta"]["bbadj"]["err_px"]) == {"top", "bottom", "left", "right"}

"""notebooks/snap.ipynb in a real browser: JupyterLab serves it, headless Chromium (Selenium,
Debian's chromium and chromium-driver) runs it, a rough box is drawn on the photograph with the
mouse through jupyter-bbox-widget, and the snapped box must be drawn; then Accept and Undo.

On a machine without the browser the test skips and names what is missing (.ci/run installs it).
``BBADJ_SNAP_SCREENSHOT=path.png`` keeps a screenshot of the notebook in use (docs/snap_notebook.png).
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import yaml
from conftest import COCO128, ROOT

PHOTO = "000000000077.jpg"  # the notebook's default photograph
# the Chromium flags this machine needs: the network is closed, and without them it waits on refused connections
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1600",
]


def missing_browser() -> list[str]:
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    return missing


MISSING = missing_browser()
# decided at collection, so a machine without the browser does not train the model first
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"no browser to test the notebook in: missing {', '.join(MISSING)} "
    f"(apt-get install -y chromium chromium-driver, as .ci/run does)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workspace(tmp_path, snap_model):
    """A copy of the study's layout: params.yaml, data/ (linked), the default row's model in runs/."""
    ws = tmp_path / "ws"
    (ws / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", ws / "params.yaml")
    (ws / "data").symlink_to(ROOT / "data", target_is_directory=True)
    baseline = yaml.safe_load((ROOT / "params.yaml").read_text())["study"]["baseline"]
    (ws / "runs" / baseline / "seed0").mkdir(parents=True)
    shutil.copy(snap_model, ws / "runs" / baseline / "seed0" / "model.pt")
    shutil.copy(ROOT / "notebooks" / "snap.ipynb", ws / "notebooks" / "snap.ipynb")
    return ws


@pytest.fixture
def lab_server(workspace, tmp_path):
    """JupyterLab on a free local port, serving ``workspace``; its URL with the token."""
    port, token = free_port(), "bbadj-test"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jconfig"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "jws"),
        "MPLBACKEND": "Agg",
    }
    # and no pop-up asking whether to fetch Jupyter's news
    (tmp_path / "jconfig" / "labconfig").mkdir(parents=True)
    (tmp_path / "jconfig" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={workspace}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.allow_root=True",  # CI runs as root
            # nothing from the network: no news, no update check, no extension index
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ],
        cwd=workspace,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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


def wait_for(driver, what: str, condition, timeout: float = 180):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: condition(d))
    except Exception as e:
        outputs = driver.execute_script(
            "return [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText).join('\\n---\\n')"
        )
        raise AssertionError(f"timed out waiting for {what}; the notebook's outputs:\n{outputs[-4000:]}") from e


@pytest.mark.slow
def test_the_snap_notebook_snaps_a_box_drawn_in_the_browser(browser, lab_server, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, token = lab_server
    browser.get(f"{base}/lab/tree/notebooks/snap.ipynb?token={token}&reset")

    # JupyterLab's current widget is the focused one (4.6 and Chromium 150 headless give the page no focus
    # until a click), and run-all-cells runs the current notebook: click a cell first, as a person does
    def focused_and_connected(d) -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        try:  # the cells are drawn again while the notebook loads
            for cell in d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[:1]:
                cell.click()
        except StaleElementReferenceException:
            return False
        return d.execute_script(
            "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.connectionStatus === 'connected')"
        )

    wait_for(browser, "the notebook's kernel", focused_and_connected)
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    photo = wait_for(
        browser,
        "the drawing widget's photograph",
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, ".bbadj-draw img") if e.size["width"] > 100), None),
    )

    # a rough box around a true box of the photograph, a little off (as a person draws it)
    doc = json.loads((COCO128 / "annotations" / "val.json").read_text())
    image = next(im for im in doc["images"] if im["file_name"] == PHOTO)
    x, y, w, h = max((a["bbox"] for a in doc["annotations"] if a["image_id"] == image["id"]), key=lambda b: b[2] * b[3])
    scale = photo.size["width"] / image["width"]
    x0, y0 = (x - 0.06 * w) * scale, (y + 0.05 * h) * scale
    dx, dy = 1.08 * w * scale, 0.97 * h * scale
    left, top = photo.size["width"] / 2, photo.size["height"] / 2  # offsets are from the element's centre
    (
        ActionChains(browser)
        .move_to_element_with_offset(photo, round(x0 - left), round(y0 - top))
        .click_and_hold()
        .move_by_offset(round(dx / 2), round(dy / 2))
        .move_by_offset(round(dx / 2), round(dy / 2))
        .release()
        .perform()
    )

    table = wait_for(
        browser,
        "the snapped box's table",
        lambda d: next(
            (
                e
                for e in d.find_elements(By.CSS_SELECTOR, ".bbadj-snap-table")
                if "snapped" in e.text or "unsure" in e.text
            ),
            None,
        ),
    )
    baseline = yaml.safe_load((ROOT / "params.yaml").read_text())["study"]["baseline"]
    assert baseline in table.text and "rough" in table.text
    preview = wait_for(
        browser,
        "the close-up",
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, ".bbadj-preview") if e.size["width"] > 50), None),
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", preview)
    shot = tmp_path / "preview.png"
    shot.write_bytes(preview.screenshot_as_png)
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    green = (abs(rgb - [0, 200, 0]).sum(-1) < 60).sum()
    red = (abs(rgb - [230, 0, 0]).sum(-1) < 60).sum()
    assert green + red > 200, f"the snapped box's edges are drawn (green {green}, red {red} pixels)"
    if os.environ.get("BBADJ_SNAP_SCREENSHOT"):
        browser.execute_script(
            "arguments[0].scrollIntoView({block: 'start'})", browser.find_element(By.CSS_SELECTOR, ".bbadj-lab")
        )
        browser.save_screenshot(os.environ["BBADJ_SNAP_SCREENSHOT"])

    status = lambda d: d.find_element(By.CSS_SELECTOR, ".bbadj-status").text  # noqa: E731
    browser.find_element(By.XPATH, "//button[normalize-space()='Accept']").click()
    wait_for(browser, "the accepted box", lambda d: "accepted from" in status(d))
    browser.find_element(By.XPATH, "//button[normalize-space()='Undo']").click()
    wait_for(browser, "the undone box", lambda d: "Undone" in status(d))

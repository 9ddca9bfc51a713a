"""The web app in a real browser: headless Chromium renders the page (``make browser`` installs it)."""

import functools
import http.server
import shutil
import socketserver
import subprocess
import threading
import urllib.parse

import numpy as np
import pytest
import rerun as rr
from PIL import Image

from app.web.app import TABS, WebApp
from app.web.config import WebConfig
from app.web.viewer import RerunViewer, free_port
from worldmodel.shipped import SHIPPED_CHECKPOINTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (make browser installs it)")


def chromium(*args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root; virtual time lets the page's scripts finish before the dump.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    flags += ["--virtual-time-budget=15000"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser-out")
    web = WebApp(WebConfig(port=free_port(), checkpoints=SHIPPED_CHECKPOINTS, out=out, rerun_port=0))
    yield web.launch(block=False)
    web.close()


def test_web_page_renders_every_tab_in_chromium(url) -> None:
    dom = chromium("--dump-dom", url).stdout
    for label in TABS:
        assert f">{label}<" in dom or f'"{label}"' in dom, f"tab {label} missing from the rendered page"
    assert "Reset from the simulator" in dom  # the first tab's content, not just the shell


def test_web_page_screenshot_is_not_blank(url, tmp_path) -> None:
    shot = tmp_path / "page.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1000", url)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), np.float32)
    assert pixels.shape == (1000, 1280)
    assert pixels.std() > 10 and len(np.unique(pixels)) > 16  # text and widgets, not one colour


def test_inspect_viewer_page_reaches_no_host_but_this_machine(tmp_path) -> None:
    """Rerun's own server gives a page that asks Google Fonts, tel.rerun.io (analytics),
    api.github.com (release check) and app.rerun.io; the app's copy must ask only this machine,
    and still start and open a recording served from another port (Gradio's, in the app)."""
    playwright = pytest.importorskip("playwright.sync_api")
    viewer = RerunViewer(0, cache=tmp_path / "viewer")
    port = viewer.ensure_started()
    rrd = tmp_path / "rollout.rrd"
    rec = rr.RecordingStream("worldfm-test")
    rec.save(rrd)
    rec.log("frames/predicted", rr.Image(np.zeros((8, 8, 3), np.uint8)))
    rec.flush()
    rec.disconnect()
    with socketserver.ThreadingTCPServer(
        ("127.0.0.1", 0), functools.partial(CorsFiles, directory=str(tmp_path))
    ) as files:
        threading.Thread(target=files.serve_forever, daemon=True).start()
        rrd_url = f"http://127.0.0.1:{files.server_address[1]}/rollout.rrd"
        requests, answered = [], []
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfinished", lambda r: answered.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/?url={urllib.parse.quote(rrd_url, safe='')}")
            page.wait_for_selector("#the_canvas_id.visible", timeout=120_000)  # the wasm app started
            page.wait_for_timeout(5_000)  # its analytics flush and release check run by now
            browser.close()
        files.shutdown()
    viewer.close()
    hosts = {urllib.parse.urlsplit(url).hostname for url in requests}
    assert hosts == {"127.0.0.1"}, f"the viewer page reached {sorted(hosts - {'127.0.0.1'})}"
    assert rrd_url in answered  # the recording was fetched across ports despite the CSP


class CorsFiles(http.server.SimpleHTTPRequestHandler):
    """Files from one folder with the CORS header Gradio's file route sends too."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass

"""The web app in a real browser: headless Chromium renders the page (``make browser`` installs it)."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.web.app import TABS, WebApp
from app.web.config import DEFAULT_CHECKPOINTS, WebConfig
from app.web.viewer import free_port

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
    web = WebApp(WebConfig(port=free_port(), checkpoints=DEFAULT_CHECKPOINTS, out=out, rerun_port=0))
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

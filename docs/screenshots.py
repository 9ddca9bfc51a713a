"""Screenshots of every web-app tab after a normal use, as docs/web-<tab>.png.

    pip install playwright==1.63.0   # drives the system Chromium (`make browser`); no download
    python docs/screenshots.py [--out docs]

Launches the app on the shipped checkpoints, then in headless Chromium: Play resets from the
simulator and steps right three times; Generate runs Video2World on a simulator sample; Tokenize
codes a Fetch clip; Curate runs on two clips with the default filters; Inspect shows the last
rollout. Each tab is captured once its result is on screen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from app.web.app import WebApp  # noqa: E402
from app.web.config import WebConfig  # noqa: E402
from app.web.viewer import free_port  # noqa: E402
from curation.video_io import write_video  # noqa: E402
from envs.sim.fetch import FetchSimEnv  # noqa: E402
from worldmodel.shipped import SHIPPED_CHECKPOINTS  # noqa: E402

TIMEOUT_MS = 300_000


def fetch_clips(folder: Path) -> list[Path]:
    """Two short Fetch clips (one still, one moving) to upload."""
    paths = []
    for seed, moving in ((0, True), (1, False)):
        sim = FetchSimEnv(size=128)
        sim.reset(seed=seed)
        frames = [sim.render()]
        for t in range(29):
            action = (
                np.array([0.6 * np.cos(t / 5), 0.6 * np.sin(t / 5), 0, 0], np.float32)
                if moving
                else 0 * sim.action_space.sample()
            )
            sim.step(action)
            frames.append(sim.render())
        sim.close()
        path = folder / f"fetch-{'moving' if moving else 'still'}.mp4"
        write_video(path, np.stack(frames), fps=10)
        paths.append(path)
    return paths


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(500)


def upload(page: Page, paths: list[Path]) -> None:
    """Into the first upload box of the tab on screen."""
    page.locator("[role=tabpanel]:visible input[type=file]").first.set_input_files([str(p) for p in paths])


def wait_idle(page: Page) -> None:
    """Until Gradio shows no pending job (its progress bars and spinners are gone)."""
    page.wait_for_timeout(1000)
    page.wait_for_function(
        "() => !document.querySelector('.progress-text, .eta-bar, .wrap.pending')", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(1000)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="worldfm-shots-"))
    clips = fetch_clips(work)
    web = WebApp(WebConfig(port=free_port(), checkpoints=SHIPPED_CHECKPOINTS, out=work / "out", rerun_port=0))
    url = web.launch(block=False)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url)
            page.wait_for_selector("text=Reset from the simulator", timeout=TIMEOUT_MS)

            page.get_by_role("button", name="Reset from the simulator").click()
            wait_idle(page)
            for _ in range(3):
                page.locator("#play-key-d").click()
                wait_idle(page)
            page.screenshot(path=args.out / "web-play.png", full_page=True)

            open_tab(page, "Generate")
            page.get_by_role("button", name="Generate", exact=True).click()
            wait_idle(page)
            page.screenshot(path=args.out / "web-generate.png", full_page=True)

            open_tab(page, "Tokenize")
            upload(page, [clips[0]])
            wait_idle(page)
            page.get_by_role("button", name="Tokenize", exact=True).click()
            wait_idle(page)
            page.screenshot(path=args.out / "web-tokenize.png", full_page=True)

            open_tab(page, "Curate")
            upload(page, clips)
            wait_idle(page)
            page.get_by_role("button", name="Curate", exact=True).click()
            wait_idle(page)
            page.screenshot(path=args.out / "web-curate.png", full_page=True)

            open_tab(page, "Inspect")
            page.get_by_role("button", name="Show the last rollout").click()
            wait_idle(page)
            page.wait_for_timeout(5000)  # the viewer's wasm loads
            page.screenshot(path=args.out / "web-inspect.png", full_page=True)
            browser.close()
    finally:
        web.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()

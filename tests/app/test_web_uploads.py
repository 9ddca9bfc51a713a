"""Upload budgets (``app.web.media``): an upload's cost is read from its header and refused over
the budget before anything is decoded, and frames are decoded straight to the size asked for."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app.web.config import WebConfig
from app.web.media import UploadBudget, decode_upload, inspect_upload, read_upload
from curation.video_io import write_video

VIDEO = (".mp4",)
IMAGE = (".png",)


def budget(**changes) -> UploadBudget:
    base = {"max_frames": 64, "max_megapixels": 100.0, "max_seconds": 60.0, "max_bytes": 2**20}
    return UploadBudget(**{**base, **changes})


@pytest.fixture(scope="module")
def big_video(tmp_path_factory) -> Path:
    """40 frames of 512x512 at 8 fps (5 s): a few kilobytes that decode to 31 MB of pixels."""
    frames = np.zeros((40, 512, 512, 3), np.uint8)
    for t in range(40):
        frames[t, 200:300, 10 * t : 10 * t + 60] = 255
    path = tmp_path_factory.mktemp("upload") / "big.mp4"
    write_video(path, frames, fps=8, crf=40)
    return path


def test_the_app_default_budget_comes_from_the_server_settings() -> None:
    config = WebConfig(max_upload_megapixels=7, max_frames=9, max_file_size_mb=2)
    assert config.upload_budget() == UploadBudget(
        max_frames=9, max_megapixels=7, max_seconds=WebConfig.max_upload_seconds, max_bytes=2 * 2**20
    )


def test_uploads_over_budget_are_refused_from_the_header(big_video: Path, tmp_path: Path) -> None:
    assert big_video.stat().st_size < 64 * 2**10
    with pytest.raises(gr.Error, match=r"512x512, 40 frames: 10 megapixels.*--max-upload-megapixels"):
        inspect_upload(str(big_video), what="a video", allowed=VIDEO, budget=budget(max_megapixels=5))
    with pytest.raises(gr.Error, match=r"lasts 5 s.*--max-upload-seconds"):
        inspect_upload(str(big_video), what="a video", allowed=VIDEO, budget=budget(max_seconds=2))
    with pytest.raises(gr.Error, match=r"MB, over this server's limit"):
        inspect_upload(str(big_video), what="a video", allowed=VIDEO, budget=budget(max_bytes=1000))
    # A 10000 x 10000 image is a few KB of PNG and 300 MB decoded: refused unread.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10000, 10000)).save(bomb)
    with pytest.raises(gr.Error, match=r"10000x10000, 1 frame: 100 megapixels.*downscale it\."):
        read_upload(str(bomb), what="an image", allowed=IMAGE, budget=budget(max_megapixels=50))


def test_frames_are_decoded_at_the_size_asked_for_in_bounded_memory(big_video: Path) -> None:
    header = inspect_upload(str(big_video), what="a video", allowed=VIDEO, budget=budget())
    assert (header.width, header.height, header.frames) == (512, 512, 40)
    tracemalloc.start()
    frames = decode_upload(header, budget(), size=(32, 32), frames=33)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert frames.shape == (33, 32, 32, 3)
    # Full size would be 33 x 768 KB = 25 MB; one full frame at a time plus the small ones is ~2 MB.
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MB"
    # However many frames the header declares, decoding stops where the pixel budget ends.
    assert len(decode_upload(header, budget(max_megapixels=2.7))) == 10

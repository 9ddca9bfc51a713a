"""The Curate tab's filter thresholds (``app.web.curate``), calling ``CurateTab.curate`` directly.

Two 3 s 64x64 videos at 10 fps: a camera pan across a texture and a still shot of its first
frame. The runs share the session's Ray (``ray_address`` in tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest

from app.web.curate import THRESHOLDS, CurateTab
from app.web.media import Outputs
from curation.video_io import write_video

# No shot splitting (it is not what these tests check) and the page's clip rules: shortest 2 s,
# longest 10 s, height 256, so each video is one clip.
RULES = ("none", 2.0, 10.0, 256)


def no_progress(*args: object, **kwargs: object) -> None:
    pass


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``pan.mp4`` (2 px/frame across a blurred-noise texture) and ``still.mp4`` (its first frame)."""
    folder = tmp_path_factory.mktemp("curate-videos")
    noise = np.random.default_rng(0).normal(0, 1, (64, 160, 3)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2.0)
    texture = np.clip(128 + 60 * texture / texture.std(), 0, 255).astype(np.uint8)
    pan = np.stack([texture[:, 2 * t : 2 * t + 64] for t in range(30)])  # (30, 64, 64, 3)
    write_video(folder / "pan.mp4", pan, fps=10)
    write_video(folder / "still.mp4", np.repeat(pan[:1], 30, axis=0), fps=10)
    return {name: str(folder / f"{name}.mp4") for name in ("pan", "still")}


def rows_by_source(table) -> dict[str, dict]:
    return {row["source"]: row for row in table.to_dict("records")}


def test_ticked_motion_filter_drops_the_still_clip_at_the_default_threshold(
    videos: dict[str, str], tmp_path: Path, ray_address: str
) -> None:
    tab = CurateTab(Outputs(tmp_path))
    uploads = [videos["pan"], videos["still"]]
    table, summary, _ = tab.curate(uploads, ["motion", "quality"], *RULES, progress=no_progress)
    rows = rows_by_source(table)
    assert sorted(rows) == ["pan.mp4"] and rows["pan.mp4"]["motion"].startswith("pan_right")
    motion = THRESHOLDS["motion"].default
    assert motion > 0
    assert f"motion ≥ {motion:g} half-frames/s: dropped 1 clip moving slower" in summary
    assert f"quality ≥ {THRESHOLDS['quality'].default:g}: dropped 0 clips" in summary


def test_motion_threshold_is_editable_and_zero_keeps_the_still_clip(
    videos: dict[str, str], tmp_path: Path, ray_address: str
) -> None:
    tab = CurateTab(Outputs(tmp_path))
    uploads = [videos["pan"], videos["still"]]
    table, summary, _ = tab.curate(uploads, ["motion"], *RULES, min_motion=0.0, progress=no_progress)
    rows = rows_by_source(table)
    assert sorted(rows) == ["pan.mp4", "still.mp4"]
    assert rows["still.mp4"]["motion"].startswith("static")
    assert "motion ≥ 0 half-frames/s: dropped 0 clips moving slower" in summary


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"min_motion": -0.5}, r"the motion threshold must be ≥ 0 half-frames/s .*got -0\.5"),
        ({"min_quality": -0.1}, r"the quality threshold must be in \[0, 1\] .*got -0\.1"),
        ({"min_quality": 1.5}, r"the quality threshold must be in \[0, 1\] .*got 1\.5"),
        ({"text_threshold": 0.0}, r"the text_overlay threshold must be in \(0, 1\], got 0"),
        ({"dedup_threshold": -1.0}, r"the dedup threshold must be in \(0, 1\], got -1"),
        ({"min_motion": None}, r"the motion threshold must be ≥ 0 .*got nothing"),
    ],
)
def test_threshold_out_of_range_is_a_clear_error_and_runs_nothing(
    videos: dict[str, str], tmp_path: Path, setting: dict, message: str
) -> None:
    outputs = tmp_path / "out"
    tab = CurateTab(Outputs(outputs))
    with pytest.raises(gr.Error, match=message):
        tab.curate([videos["pan"]], ["motion", "quality"], *RULES, **setting, progress=no_progress)
    assert list(outputs.iterdir()) == []

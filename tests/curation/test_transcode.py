"""Clips re-encoded as H.264 yuv420p from one decoding pass."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from curation.transcode import TranscodeConfig, output_size, transcode_clips
from curation.video_io import read_video, write_video
from tests.curation.bad_inputs import moving_video
from tests.curation.odd_inputs import encode


def test_output_size_fits_the_cap_keeping_aspect() -> None:
    config = TranscodeConfig(max_height=720, max_width=1280)
    assert output_size(1080, 1920, config) == (720, 1280)
    assert output_size(1920, 1080, config) == (720, 404)
    assert output_size(64, 96, config) == (64, 96)
    assert output_size(33, 47, config) == (33, 47)


def test_clips_are_h264_yuv420p_with_the_source_frames(tmp_path: Path) -> None:
    frames = moving_video(60, 32, 48)
    write_video(tmp_path / "src.mp4", frames, 24.0, crf=10)
    source, _ = read_video(tmp_path / "src.mp4")
    clips = list(
        transcode_clips(
            tmp_path / "src.mp4", [(5, 20), (30, 60)], fps=24.0, size=(32, 48), config=TranscodeConfig()
        )
    )
    assert [(c.index, c.num_frames) for c in clips] == [(0, 15), (1, 30)]
    assert [(c.start_s, c.end_s) for c in clips] == [(5 / 24, 20 / 24), (30 / 24, 60 / 24)]
    for clip, (a, b) in zip(clips, [(5, 20), (30, 60)], strict=True):
        index, data = clip.index, clip.mp4
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        decoded, info = read_video(data)
        assert decoded.shape == (b - a, 32, 48, 3) and info.fps == pytest.approx(24.0), index
        assert np.abs(decoded.astype(int) - source[a:b]).mean() < 4


def test_clips_are_scaled_down_and_odd_sizes_padded(tmp_path: Path) -> None:
    write_video(tmp_path / "src.mp4", moving_video(10, 40, 64), 24.0)
    assert output_size(40, 64, TranscodeConfig(max_height=16, max_width=32)) == (16, 26)
    [clip] = transcode_clips(
        tmp_path / "src.mp4", [(0, 10)], fps=24.0, size=(21, 33), config=TranscodeConfig()
    )
    assert clip.num_frames == 10 and read_video(clip.mp4)[0].shape[1:3] == (22, 34)


def test_overlapping_clips_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-overlapping"):
        list(
            transcode_clips(
                tmp_path / "x.mp4", [(0, 10), (5, 20)], fps=24.0, size=(8, 8), config=TranscodeConfig()
            )
        )


def test_variable_rate_clips_keep_their_frames_times(tmp_path: Path) -> None:
    times = [0.0, 0.04, 0.08, 0.2, 0.25, 0.5, 0.55, 0.6, 0.9, 1.0]
    (tmp_path / "vfr.mp4").write_bytes(encode(moving_video(len(times), 16, 16), times=times))
    clips = list(
        transcode_clips(
            tmp_path / "vfr.mp4",
            [(1, 5), (5, 10)],
            fps=10.0,
            size=(16, 16),
            config=TranscodeConfig(),
            variable=True,
        )
    )
    assert [(c.times, c.end_s) for c in clips] == [
        ((0.04, 0.08, 0.2, 0.25), 0.5),
        ((0.5, 0.55, 0.6, 0.9, 1.0), 1.1),
    ]
    with av.open(io.BytesIO(clips[0].mp4)) as container:
        shown = [round(f.time, 3) for f in container.decode(video=0)]
    assert shown == [0.0, 0.04, 0.16, 0.21]

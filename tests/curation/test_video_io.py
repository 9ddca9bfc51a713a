from pathlib import Path

import numpy as np
import pytest

from curation.video_io import (
    VideoError,
    iter_frames,
    iter_timed_frames,
    iter_windows,
    probe,
    read_video,
    write_video,
)
from tests.curation.odd_inputs import encode, orient


def gradient_video(t: int = 12, h: int = 32, w: int = 48) -> np.ndarray:
    """Smooth content that H.264 keeps nearly lossless, moving one pixel per frame."""
    x = np.linspace(0, 255, w + t)[None, :]
    y = np.linspace(0, 120, h)[:, None]
    frames = [
        np.stack([(x[:, i : i + w] + 0 * y), y + 0 * x[:, :w], 255 - x[:, i : i + w] + 0 * y], -1)
        for i in range(t)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def test_video_round_trip_keeps_frames_and_fps(tmp_path: Path) -> None:
    frames = gradient_video()
    write_video(tmp_path / "clip.mp4", frames, fps=24)
    decoded, info = read_video(tmp_path / "clip.mp4")
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert info.fps == pytest.approx(24) and info.num_frames == 12
    assert (info.width, info.height) == (48, 32)
    assert np.abs(decoded.astype(int) - frames).mean() < 3


def test_read_video_resizes_on_decode_and_reads_ranges(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", gradient_video(), fps=10)
    small, _ = read_video(tmp_path / "clip.mp4", size=(16, 24), start_frame=3, end_frame=7)
    assert small.shape == (4, 16, 24, 3)


def test_windows_stream_every_frame_in_order(tmp_path: Path) -> None:
    frames = gradient_video(t=20)
    write_video(tmp_path / "clip.mp4", frames, fps=10)
    windows = list(iter_windows(tmp_path / "clip.mp4", 8, stride=4))
    assert [s for s, _ in windows] == [0, 4, 8, 12]
    whole, _ = read_video(tmp_path / "clip.mp4")
    for start, w in windows:
        np.testing.assert_array_equal(w, whole[start : start + len(w)])


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", gradient_video(), fps=10)
    with pytest.raises(VideoError):
        write_video(tmp_path / "clip.mp4", np.zeros((0, 8, 8, 3), np.uint8), fps=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert read_video(tmp_path / "clip.mp4")[0].shape[0] == 12


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("this is text, not a video"), "not a readable video"),
        (lambda p: None, "does not exist"),
    ],
    ids=["zero-bytes", "text-named-mp4", "missing"],
)
def test_bad_files_raise_video_error_naming_file_and_reason(tmp_path: Path, make, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(VideoError, match=reason) as info:
        read_video(path)
    assert str(path) in str(info.value)


def test_truncated_video_raises_video_error(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", gradient_video(t=30), fps=10)
    data = (tmp_path / "clip.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError, match="cut.mp4"):
        read_video(tmp_path / "cut.mp4")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for _ in range(4):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoError, match="no video stream"):
        probe(path)


@pytest.mark.parametrize(
    ("rotation", "hflip"), [(90, False), (180, False), (270, False), (-90, False), (90, True)]
)
def test_rotated_video_decodes_as_displayed(tmp_path: Path, rotation: int, hflip: bool) -> None:
    frames = gradient_video(4, 16, 24)
    (tmp_path / "phone.mp4").write_bytes(encode(frames, rotation=rotation, hflip=hflip))
    shown = orient(frames, rotation, hflip)
    info = probe(tmp_path / "phone.mp4")
    assert (info.height, info.width) == shown.shape[1:3]
    assert info.rotation == (-rotation) % 360
    decoded, _ = read_video(tmp_path / "phone.mp4")
    assert decoded.shape == shown.shape
    # The displayed picture, and none of the other seven orientations, matches what decodes.
    errors = {
        (r, f): np.abs(decoded.astype(int) - orient(frames, r, f)).mean()
        for r in (0, 90, 180, 270)
        for f in (False, True)
        if orient(frames, r, f).shape == decoded.shape
    }
    best = min(errors, key=errors.get)
    assert orient(frames, *best).tolist() == shown.tolist() and errors[best] < 6
    assert sorted(errors.values())[1] > 5 * errors[best]
    # Sized on decode in the displayed orientation, as every stage asks for it.
    small = next(iter_frames(tmp_path / "phone.mp4", size=(shown.shape[1] // 2, shown.shape[2] // 2)))
    assert small.shape[:2] == (shown.shape[1] // 2, shown.shape[2] // 2)


def test_frames_carry_their_own_times_at_a_variable_rate(tmp_path: Path) -> None:
    times = [0.0, 0.04, 0.08, 0.2, 0.25, 0.5, 0.55, 0.6]
    (tmp_path / "vfr.mp4").write_bytes(encode(gradient_video(len(times), 16, 16), times=times))
    assert [round(t, 3) for t, _ in iter_timed_frames(tmp_path / "vfr.mp4")] == times

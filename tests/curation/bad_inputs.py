"""One file of every kind of bad input ``worldfm curate`` must quarantine, and a good video."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np

from curation.video_io import encode_video


def moving_video(frames: int, height: int = 32, width: int = 32, seed: int = 0) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` smooth content drifting one pixel per frame (no cuts)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=(3,))
    x = np.linspace(0, 90, width + frames)
    y = np.linspace(0, 60, height)[:, None]
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        ramp = x[None, t : t + width] + y
        out[t] = np.clip(base + ramp[..., None] * np.array([1.0, -0.5, 0.3]), 0, 255).astype(np.uint8)
    return out


def _audio_only() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def _broken_timestamps(good: bytes) -> bytes:
    """Zero every sample duration in the mp4's time-to-sample box: frames repeat and reverse timestamps."""
    data = bytearray(good)
    box = data.find(b"stts")
    for k in range(struct.unpack(">I", data[box + 8 : box + 12])[0]):
        struct.pack_into(">I", data, box + 12 + 8 * k + 4, 0)
    return bytes(data)


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Write the bad files into ``folder``; returns file name -> expected quarantine kind."""
    good = encode_video(moving_video(24), 24.0)
    files = {
        "empty.mp4": (b"", "empty"),
        "notes.mp4": (b"this is a text file, not a video\n" * 20, "not_a_video"),
        "cut_short.mp4": (good[: len(good) // 2], "truncated"),
        "audio_only.mp4": (_audio_only(), "no_video_stream"),
        "broken_time.mp4": (_broken_timestamps(good), "broken_timestamps"),
        "huge.mp4": (encode_video(moving_video(24, 64, 96), 24.0), "resolution_over_cap"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: kind for name, (_, kind) in files.items()}

"""Generated files of the awkward kinds found in the wild: lying headers, rotation, variable frame rate."""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np

from tests.curation.bad_inputs import moving_video


def encode(
    frames: np.ndarray,
    fps: float = 24.0,
    *,
    rotation: int = 0,
    hflip: bool = False,
    times: list[float] | None = None,
    container: str = "mp4",
) -> bytes:
    """``uint8 (T, H, W, 3)`` as H.264; ``rotation`` (counter-clockwise degrees, PyAV's
    convention) / ``hflip`` go into the display matrix, ``times`` (seconds) give each frame
    its own timestamp (a variable frame rate)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10"}
        if rotation or hflip:
            stream.set_display_rotation(rotation, hflip=hflip)
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, frame in enumerate(frames):
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if times is not None:
                image.pts, image.time_base = round(times[i] * 1000), Fraction(1, 1000)
            out.mux(stream.encode(image))
        out.mux(stream.encode())
    return buffer.getvalue()


def _payload(data: bytearray, box: bytes) -> int:
    """Offset of a (version 0) mp4 box's version / flags field."""
    at = data.find(box)
    assert at > 0 and data[at + 4] == 0, f"no version-0 {box!r} box"
    return at + 4


def lying_mp4(seconds: float, frames: int = 48, fps: float = 24.0) -> bytes:
    """An mp4 of ``frames`` real frames whose mvhd / tkhd / mdhd / elst durations and stts sample
    deltas all claim ``seconds``: every frame stretched to ``seconds / frames`` (the file of issue 26)."""
    data = bytearray(encode(moving_video(frames, 16, 16), fps))
    mvhd = _payload(data, b"mvhd")
    movie_scale = struct.unpack(">I", data[mvhd + 12 : mvhd + 16])[0]
    struct.pack_into(">I", data, mvhd + 16, round(seconds * movie_scale))
    struct.pack_into(">I", data, _payload(data, b"tkhd") + 20, round(seconds * movie_scale))
    mdhd = _payload(data, b"mdhd")
    media_scale = struct.unpack(">I", data[mdhd + 12 : mdhd + 16])[0]
    struct.pack_into(">I", data, mdhd + 16, round(seconds * media_scale))
    if b"elst" in data:
        struct.pack_into(">I", data, _payload(data, b"elst") + 8, round(seconds * movie_scale))
    stts = _payload(data, b"stts")
    for k in range(struct.unpack(">I", data[stts + 4 : stts + 8])[0]):
        struct.pack_into(">I", data, stts + 12 + 8 * k, round(seconds * media_scale / frames))
    return bytes(data)


def mkv_claiming(seconds: float, frames: np.ndarray, fps: float = 24.0) -> bytes:
    """A Matroska file of ``frames`` whose segment Duration claims ``seconds`` (its frames are honest)."""
    data = bytearray(encode(frames, fps, container="matroska"))
    at = data.find(b"\x44\x89\x88")  # Duration element, an 8-byte float in milliseconds
    assert at > 0, "no 8-byte Duration element"
    struct.pack_into(">d", data, at + 3, seconds * 1000)
    return bytes(data)


def orient(frames: np.ndarray, rotation: int, hflip: bool = False) -> np.ndarray:
    """What a player shows for ``frames`` stored with ``encode(..., rotation, hflip)``: PyAV's
    rotation turns counter-clockwise (``np.rot90``'s sense); the flip mirrors after it."""
    shown = np.rot90(frames, k=rotation // 90, axes=(1, 2))
    return shown[:, :, ::-1] if hflip else shown

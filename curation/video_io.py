"""Video files in and out, through PyAV (which bundles FFmpeg and libx264).

Frames cross this boundary as ``uint8 (T, H, W, 3)`` RGB arrays. Every failure to
read a file, whatever FFmpeg's own complaint, becomes one ``VideoError`` that names
the file and the reason, so callers (curation's quarantine, the app) can handle
bad input without knowing PyAV's exception zoo.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


class VideoError(Exception):
    """A video could not be read or written; the message names the file and why."""

    def __init__(self, path: PathLike | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream."""

    path: str
    fps: float
    width: int
    height: int
    num_frames: int
    duration_s: float
    codec: str
    # Clockwise degrees the display matrix turns the stored picture by (0, 90, 180, 270);
    # width and height above are the displayed ones, after it.
    rotation: int = 0


def _open(path: PathLike | bytes) -> av.container.InputContainer:
    label = "<bytes>" if isinstance(path, bytes) else str(path)
    if not isinstance(path, bytes):
        p = Path(path)
        if not p.exists():
            raise VideoError(label, "file does not exist")
        if p.is_dir():
            raise VideoError(label, "is a directory, not a video file")
        if p.stat().st_size == 0:
            raise VideoError(label, "file is empty (0 bytes)")
    elif len(path) == 0:
        raise VideoError(label, "video bytes are empty (0 bytes)")
    try:
        container = av.open(io.BytesIO(path) if isinstance(path, bytes) else str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise VideoError(label, f"not a readable video container ({e.__class__.__name__}: {e})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(label, "has no video stream")
    return container


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def probe(path: PathLike | bytes) -> VideoInfo:
    """Read the header of a video: fps, size, frame count and duration.

    The frame count comes from the container when it records one, else from the
    duration times fps (an estimate that ``read_video`` corrects).
    """
    label = "<bytes>" if isinstance(path, bytes) else str(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        num_frames = stream.frames or round(duration * fps)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(label, "video stream has no frame size (broken header)")
        if fps <= 0:
            raise VideoError(label, "video stream has no frame rate (broken timestamps)")
        rotation, ops = _first_frame_orientation(container, stream)
        if "t" in ops:
            width, height = height, width
        return VideoInfo(
            path=label,
            fps=fps,
            width=width,
            height=height,
            num_frames=int(num_frames),
            duration_s=duration if duration > 0 else num_frames / fps,
            codec=stream.codec_context.name,
            rotation=rotation,
        )


def _first_frame_orientation(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[int, str]:
    """``orientation`` of the first frame that decodes (FFmpeg attaches the display matrix to
    frames, not to PyAV's stream); ``(0, "")`` when none decodes (decoding says why later)."""
    try:
        for frame in container.decode(stream):
            return orientation(display_matrix(frame))
    except av.FFmpegError:
        pass
    return 0, ""


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (9 int32, 16.16 fixed point, FFmpeg's layout), if it has one.

    Phones store portrait video sideways and say so here (the mp4 ``tkhd`` matrix, which
    FFmpeg attaches to every decoded frame as side data)."""
    for data in frame.side_data:
        if data.type.name == "DISPLAYMATRIX":
            return struct.unpack("=9i", bytes(data))
    return None


def orientation(matrix: tuple[int, ...] | None) -> tuple[int, str]:
    """``(clockwise degrees, ops)`` that turn a stored picture into the displayed one.

    A port of ffmpeg's autorotate (``fftools/ffmpeg_filter.c``, ``get_rotation``): ``ops``
    is a string of numpy steps applied left to right, ``t`` transpose, ``h`` / ``v``
    horizontal / vertical flip, so the 8 EXIF orientations come out as ffmpeg shows them.
    An odd angle (not a multiple of 90) is left as stored, as no pixel grid holds it.
    """
    if matrix is None:
        return 0, ""
    m = matrix
    scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return 0, ""
    counterclockwise = -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))
    theta = -round(counterclockwise)
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        # transpose=cclock_flip is a plain transpose; transpose=clock is transpose then hflip.
        return 90, "t" if m[3] > 0 else "th"
    if abs(theta - 180) < 1:
        return 180, ("h" if m[0] < 0 else "") + ("v" if m[4] < 0 else "")
    if abs(theta - 270) < 1:
        # transpose=clock_flip: transpose then both flips; transpose=cclock: transpose then vflip.
        return 270, "thv" if m[3] < 0 else "tv"
    if abs(theta) > 1:
        logger.warning("display matrix rotates by %.0f degrees, not a multiple of 90: kept as stored", theta)
        return 0, ""
    return 0, "v" if m[4] < 0 else ""


def _orient(rgb: np.ndarray, ops: str) -> np.ndarray:
    for op in ops:
        rgb = rgb.swapaxes(0, 1) if op == "t" else rgb[:, ::-1] if op == "h" else rgb[::-1]
    return np.ascontiguousarray(rgb) if ops else rgb


def _to_rgb(frame: av.VideoFrame, sizes: Sequence[tuple[int, int] | None]) -> tuple[np.ndarray, ...]:
    """The displayed picture at each of ``sizes`` (``(H, W)`` displayed, or None for the stored
    size): decoded and converted to RGB once, then resized and oriented per size."""
    _, ops = orientation(display_matrix(frame))
    decoded = frame.to_ndarray(format="rgb24")
    out = []
    for size in sizes:
        rgb = decoded
        if size is not None:
            # Resize before orienting (less to move); a transposed picture is resized to (W, H).
            h, w = (size[1], size[0]) if "t" in ops else size
            if (rgb.shape[0], rgb.shape[1]) != (h, w):
                shrinking = h < rgb.shape[0] or w < rgb.shape[1]
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out.append(_orient(rgb, ops))
    return tuple(out)


def iter_frames(
    path: PathLike | bytes,
    *,
    size: tuple[int, int] | None = None,
    start_frame: int = 0,
    end_frame: int | None = None,
) -> Iterator[np.ndarray]:
    """Decode frames one by one as ``uint8 (H, W, 3)``, optionally resized to ``size=(H, W)``.

    Frames ``[start_frame, end_frame)`` in decode order are yielded, as displayed (the
    display matrix applied, ``orientation``); memory stays constant whatever the file's length.
    """
    for _, frame in iter_timed_frames(path, size=size, start_frame=start_frame, end_frame=end_frame):
        yield frame


def iter_timed_frames(
    path: PathLike | bytes,
    *,
    size: tuple[int, int] | None = None,
    start_frame: int = 0,
    end_frame: int | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """``iter_frames`` with each frame's presentation time: ``(seconds, uint8 (H, W, 3))``.

    Seconds count from the first decoded frame and come from the frame's own timestamp,
    so a variable-frame-rate video keeps its real timing; a frame without one is placed
    one container-average interval after the previous frame.
    """
    for seconds, (frame,) in iter_frames_at_sizes(
        path, (size,), start_frame=start_frame, end_frame=end_frame
    ):
        yield seconds, frame


def iter_frames_at_sizes(
    path: PathLike | bytes,
    sizes: Sequence[tuple[int, int] | None],
    *,
    start_frame: int = 0,
    end_frame: int | None = None,
) -> Iterator[tuple[float, tuple[np.ndarray, ...]]]:
    """One decode, several sizes: ``(seconds, (frame at sizes[0], frame at sizes[1], ...))``.

    Each frame is exactly what ``iter_timed_frames(path, size=sizes[i])`` yields, for the
    cost of one decode and RGB conversion (stages that need the same video at two sizes,
    the shot splitter's and the clips', share it).
    """
    label = "<bytes>" if isinstance(path, bytes) else str(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = _stream_fps(stream) or 1.0
        index = 0
        first: float | None = None
        last = 0.0
        try:
            for frame in container.decode(stream):
                if end_frame is not None and index >= end_frame:
                    break
                if frame.time is None:
                    seconds = last + 1 / fps if index else 0.0
                else:
                    first = frame.time if first is None else first
                    seconds = frame.time - first
                last = seconds
                if index >= start_frame:
                    yield seconds, _to_rgb(frame, sizes)
                index += 1
        except av.FFmpegError as e:
            if index == 0:
                raise VideoError(label, f"no frame could be decoded ({e})") from None
            # A truncated tail is common in the wild: keep what decoded, say so.
            logger.warning("%s: decoding stopped after %d frames: %s", label, index, e)
        if index == 0:
            raise VideoError(label, "contains no decodable frames (truncated or empty stream)")


def read_video(
    path: PathLike | bytes,
    *,
    size: tuple[int, int] | None = None,
    start_frame: int = 0,
    end_frame: int | None = None,
) -> tuple[np.ndarray, VideoInfo]:
    """Read a whole video (or a frame range) into memory.

    Args:
        path: a file path, or the encoded bytes of a video (as stored in shards).
        size: optional ``(H, W)`` to resize every frame to on decode.
        start_frame, end_frame: the half-open frame range to keep.

    Returns:
        frames: ``uint8 (T, H, W, 3)``; info: the container's ``VideoInfo`` with
        ``num_frames`` set to the frames actually decoded in the file.
    """
    info = probe(path)
    frames = list(iter_frames(path, size=size, start_frame=start_frame, end_frame=end_frame))
    if not frames:
        raise VideoError(info.path, f"frame range [{start_frame}, {end_frame}) is empty")
    video = np.stack(frames)
    if start_frame == 0 and end_frame is None:
        info = VideoInfo(**{**info.__dict__, "num_frames": len(frames)})
    return video, info


def iter_windows(
    path: PathLike | bytes,
    window: int,
    *,
    stride: int | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Stream a long video as ``(first_frame_index, uint8 (window, H, W, 3))`` windows.

    Only ``window`` frames are held at once, so arbitrarily long files stream in
    constant memory. ``stride`` defaults to ``window`` (no overlap); a short last
    window is yielded as it is.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    stride = window if stride is None else stride
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be in [1, window={window}], got {stride}")
    buffer: list[np.ndarray] = []
    start = 0
    for frame in iter_frames(path, size=size):
        buffer.append(frame)
        if len(buffer) == window:
            yield start, np.stack(buffer)
            buffer = buffer[stride:]
            start += stride
    if buffer and (start == 0 or len(buffer) > window - stride):
        yield start, np.stack(buffer)


def _check_frames(frames: np.ndarray, label: str) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        got = frames.dtype if isinstance(frames, np.ndarray) else type(frames).__name__
        raise VideoError(label, f"frames must be a uint8 numpy array (T, H, W, 3), got {got}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise VideoError(label, f"frames must have shape (T>0, H, W, 3), got {frames.shape}")


def encode_video(frames: np.ndarray, fps: float, *, crf: int = 18, preset: str = "medium") -> bytes:
    """Encode ``uint8 (T, H, W, 3)`` frames as H.264 yuv420p MP4 bytes.

    yuv420p needs even sides, so an odd height or width is padded by one
    replicated row / column (and the json keeps the true size).
    """
    _check_frames(frames, "<encode>")
    if fps <= 0:
        raise VideoError("<encode>", f"fps must be > 0, got {fps}")
    t, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        # One thread keeps encodes reproducible byte for byte and polite on 2 cores.
        stream.codec_context.thread_count = 1
        # cpu-independent: x264's SIMD macroblock-tree propagation (AVX-512 at least) reads
        # uninitialised heap memory on small frames, so identical frames gave different bytes
        # from call to call; this uses the C versions, the same output on every CPU.
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "cpu-independent=1"}
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def write_video(path: PathLike, frames: np.ndarray, fps: float, *, crf: int = 18) -> None:
    """Write ``uint8 (T, H, W, 3)`` frames to ``path`` as H.264 yuv420p MP4, atomically."""
    atomic_write_bytes(path, encode_video(frames, fps, crf=crf))

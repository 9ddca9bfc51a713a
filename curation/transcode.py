"""Clips out of a source video in one decoding pass, each re-encoded as H.264 yuv420p.

The source is decoded once, resized on decode to the output size, and every frame
goes to the encoder of the clip it belongs to, so memory holds one frame and one
encoder, whatever the lengths of the source and its clips. Each clip is timed by its
frames' own timestamps; a variable-frame-rate source keeps them in its clips.
``encode_clips`` does the same from frames decoded already (``curation.stages`` hands
it the frames of the shot splitter's decode).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from curation.video_io import PathLike, iter_timed_frames

PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


@dataclass(frozen=True)
class TranscodeConfig:
    """How clips are encoded.

    Attributes:
        crf: x264 constant rate factor (0 lossless .. 51 worst; 18 is visually lossless).
        preset: x264 speed preset; slower presets give smaller files at the same quality.
        max_height, max_width: clips larger than this are scaled down to fit, keeping
            the aspect ratio; smaller ones keep their size.
    """

    crf: int = 18
    preset: str = "fast"
    max_height: int = 720
    max_width: int = 1280

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {self.preset!r}")
        if self.max_height < 16 or self.max_width < 16:
            raise ValueError(f"max resolution must be at least 16x16, got {self.max_width}x{self.max_height}")


def output_size(height: int, width: int, config: TranscodeConfig) -> tuple[int, int]:
    """``(H, W)`` of the clips of a ``height`` x ``width`` source: scaled down to fit, even sides."""
    scale = min(1.0, config.max_height / height, config.max_width / width)
    if scale == 1.0:
        return height, width
    return max(2, 2 * round(height * scale / 2)), max(2, 2 * round(width * scale / 2))


# Time base of variable-frame-rate clips: MPEG's 90 kHz clock, finer than any frame interval.
VFR_TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True)
class EncodedClip:
    """One clip of ``transcode_clips``: its mp4 and its frames' times in the source.

    Attributes:
        index: the clip's position in the ``clips`` asked for.
        mp4: H.264 yuv420p MP4 bytes.
        times: the source time (seconds from its first frame) of each frame of the clip.
        end_s: when the clip's last frame stops being shown (the next frame's time).
    """

    index: int
    mp4: bytes
    times: tuple[float, ...]
    end_s: float

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def start_s(self) -> float:
        return self.times[0]


class _ClipEncoder:
    """An in-memory H.264 yuv420p MP4 encoder fed one ``uint8 (H, W, 3)`` frame at a time.

    With ``timed`` each frame keeps the time it is given (variable frame rate); otherwise
    frames follow one another at ``fps``.
    """

    def __init__(self, fps: float, height: int, width: int, config: TranscodeConfig, timed: bool) -> None:
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._timed = timed
        if timed:
            self._stream.codec_context.time_base = VFR_TIME_BASE
        # yuv420p needs even sides: odd ones are padded by one replicated row / column.
        self._pad = (height % 2, width % 2)
        self._stream.height, self._stream.width = height + self._pad[0], width + self._pad[1]
        self._stream.pix_fmt = "yuv420p"
        # One thread: reproducible bytes, and the pipeline already runs one clip per core.
        self._stream.codec_context.thread_count = 1
        # cpu-independent: see curation.video_io.encode_video (SIMD x264 is not reproducible).
        self._stream.options = {
            "crf": str(config.crf),
            "preset": config.preset,
            "x264-params": "cpu-independent=1",
        }
        self.times: list[float] = []

    def add(self, seconds: float, frame: np.ndarray) -> None:
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._timed:
            image.pts = round((seconds - (self.times[0] if self.times else seconds)) / VFR_TIME_BASE)
            image.time_base = VFR_TIME_BASE
        self._container.mux(self._stream.encode(image))
        self.times.append(seconds)

    def finish(self) -> bytes:
        self._container.mux(self._stream.encode())
        self._container.close()
        return self._buffer.getvalue()


def transcode_clips(
    path: PathLike,
    clips: Sequence[tuple[int, int]],
    *,
    fps: float,
    size: tuple[int, int],
    config: TranscodeConfig,
    variable: bool = False,
) -> Iterator[EncodedClip]:
    """Encode the frame ranges ``clips`` (sorted, non-overlapping ``[start, end)``) of ``path``.

    Args:
        fps: the source's (mean) frame rate: the clips' rate, and the last frame's duration.
        size: ``(H, W)`` of the clips (``output_size``).
        variable: the source's frame rate varies: clips keep each frame's own time.

    Yields:
        ``EncodedClip`` in clip order. A clip whose frames run past the end of the
        decodable video is cut short there (and skipped if empty).
    """
    _check_clips(clips)
    if not clips:
        return
    # One frame past the last clip: its time is when the clip's last frame ends.
    frames = iter_timed_frames(path, size=size, end_frame=clips[-1][1] + 1)
    yield from encode_clips(frames, clips, fps=fps, size=size, config=config, variable=variable)


def encode_clips(
    frames: Iterable[tuple[float, np.ndarray]],
    clips: Sequence[tuple[int, int]],
    *,
    fps: float,
    size: tuple[int, int],
    config: TranscodeConfig,
    variable: bool = False,
) -> Iterator[EncodedClip]:
    """``transcode_clips`` on frames decoded already: ``(seconds, uint8 (H, W, 3))`` at ``size``,
    from the source's first frame on (as ``iter_timed_frames`` yields them)."""
    _check_clips(clips)
    if not clips:
        return
    k = 0
    encoder: _ClipEncoder | None = None
    # The video's last frame lasts one interval: at a variable rate, the last one seen.
    previous, interval = 0.0, 1 / fps
    for index, (seconds, frame) in enumerate(frames):
        if index > clips[-1][1]:
            break
        if variable and index:
            interval = seconds - previous
        previous = seconds
        if encoder is not None and index == clips[k][1]:
            yield EncodedClip(k, encoder.finish(), tuple(encoder.times), seconds)
            encoder, k = None, k + 1
        if k == len(clips) or index < clips[k][0]:
            continue
        if encoder is None:
            encoder = _ClipEncoder(fps, size[0], size[1], config, timed=variable)
        encoder.add(seconds, frame)
    if encoder is not None:
        yield EncodedClip(k, encoder.finish(), tuple(encoder.times), encoder.times[-1] + interval)


def _check_clips(clips: Sequence[tuple[int, int]]) -> None:
    if any(b <= a for a, b in clips) or any(
        b0 > a1 for (_, b0), (a1, _) in zip(clips, clips[1:], strict=False)
    ):
        raise ValueError(
            f"clips must be sorted, non-empty and non-overlapping [start, end) ranges, got {clips}"
        )

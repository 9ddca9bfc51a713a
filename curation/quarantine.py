"""Why an input cannot be curated: checks, a short kind per failure, and ``quarantine.jsonl``.

A bad input never stops a run: it is recorded with its kind and the full reason
(``{"path", "kind", "reason"}``, one json line per input) and the good inputs go on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import av

from curation.timing import FrameTiming, frame_timing
from curation.video_io import VideoError, VideoInfo
from worldmodel.atomic import atomic_write_bytes

QUARANTINE = "quarantine.jsonl"

EMPTY = "empty"
MISSING = "missing"
NOT_A_VIDEO = "not_a_video"
TRUNCATED = "truncated"
NO_VIDEO_STREAM = "no_video_stream"
BROKEN_TIMESTAMPS = "broken_timestamps"
RESOLUTION_OVER_CAP = "resolution_over_cap"
UNDECODABLE = "undecodable"
IMPLAUSIBLE_TIMING = "implausible_timing"
KINDS = (
    EMPTY,
    MISSING,
    NOT_A_VIDEO,
    TRUNCATED,
    NO_VIDEO_STREAM,
    BROKEN_TIMESTAMPS,
    RESOLUTION_OVER_CAP,
    UNDECODABLE,
    IMPLAUSIBLE_TIMING,
)

# Leading bytes of the containers a truncated video still starts with.
_CONTAINER_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV", b"\x00\x00\x01\xba", b"\x47")


class InputRejectedError(Exception):
    """An input that cannot be curated; ``kind`` is one of ``KINDS``."""

    def __init__(self, path: str, kind: str, reason: str) -> None:
        self.path, self.kind, self.reason = path, kind, reason
        super().__init__(f"{path}: {reason}")


def _looks_like_a_container(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head.startswith(_CONTAINER_MAGIC)


def classify(error: VideoError) -> InputRejectedError:
    """Turn ``video_io``'s error into a rejection with a kind."""
    reason = error.reason
    if "does not exist" in reason:
        kind = MISSING
    elif "empty (0 bytes)" in reason:
        kind = EMPTY
    elif "no video stream" in reason:
        kind = NO_VIDEO_STREAM
    elif "broken timestamps" in reason:
        kind = BROKEN_TIMESTAMPS
    elif "not a readable video container" in reason:
        # A container's header with no index behind it is a file cut short (an mp4
        # whose moov box never got written); anything else is not a video at all.
        kind = TRUNCATED if _looks_like_a_container(error.path) else NOT_A_VIDEO
        if kind == TRUNCATED:
            reason = f"truncated: the container header is there but its index is missing ({reason})"
        else:
            reason = f"not a video file ({reason})"
    elif "no decodable frames" in reason or "no frame could be decoded" in reason:
        kind = TRUNCATED
    else:
        kind = UNDECODABLE
    return InputRejectedError(error.path, kind, reason)


def check_resolution(info: VideoInfo, max_height: int, max_width: int) -> None:
    """Reject inputs over the cap (either orientation fits: a portrait 1080x1920 passes a 1920x1080 cap)."""
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    if long_side > max(max_height, max_width) or short_side > min(max_height, max_width):
        raise InputRejectedError(
            info.path,
            RESOLUTION_OVER_CAP,
            f"resolution {info.width}x{info.height} is over the cap {max_width}x{max_height}; "
            "raise --max-input-resolution to accept it",
        )


def check_timestamps(path: str) -> FrameTiming:
    """Reject a video whose packets lack timestamps or repeat / reverse them (demuxing only, no
    decoding); returns the frames' timing from those timestamps (``curation.timing``)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        last_dts = None
        seen: set[int] = set()
        for index, packet in enumerate(container.demux(stream)):
            # Packets an edit list cuts away are never shown: they are no frames.
            if packet.size == 0 or packet.is_discard:
                continue
            if packet.pts is None:
                raise InputRejectedError(
                    path, BROKEN_TIMESTAMPS, f"broken timestamps: packet {index} has none"
                )
            if packet.pts in seen:
                raise InputRejectedError(
                    path, BROKEN_TIMESTAMPS, f"broken timestamps: packet {index} repeats pts {packet.pts}"
                )
            if packet.dts is not None and last_dts is not None and packet.dts <= last_dts:
                raise InputRejectedError(
                    path,
                    BROKEN_TIMESTAMPS,
                    f"broken timestamps: packet {index} does not advance in time "
                    f"(dts {packet.dts} after {last_dts})",
                )
            seen.add(packet.pts)
            last_dts = packet.dts if packet.dts is not None else last_dts
        if not seen:
            raise InputRejectedError(path, TRUNCATED, "truncated: the video stream holds no frames")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        coded = stream.codec_context.framerate
        return frame_timing(
            list(seen),
            stream.time_base,
            header_fps=float(rate) if rate else 1.0,
            coded_fps=float(coded) if coded else 0.0,
        )


def write_quarantine(out_dir: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write ``quarantine.jsonl`` (``{"path", "kind", "reason"}`` per line) atomically; returns its path."""
    path = Path(out_dir) / QUARANTINE
    lines = [json.dumps({"path": r["path"], "kind": r["kind"], "reason": r["reason"]}) for r in records]
    atomic_write_bytes(path, ("\n".join(lines) + "\n" if lines else "").encode())
    return path

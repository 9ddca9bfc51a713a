"""The clip sample: one WebDataset sample, as ARCHITECTURE.md's contract defines it.

On disk a sample is a group of tar members sharing a key: ``<key>.mp4`` (the clip,
H.264 yuv420p), ``<key>.<view>.mp4`` for the extra views of multi-view clips,
``<key>.json`` (metadata) and ``<key>.<name>.npy`` for per-frame arrays.
``encode_sample`` / ``decode_sample`` convert between that and Python objects and
check the contract, so both writers (curation, simulators) and readers
(training) agree on it in one place.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import numpy as np

from curation.video_io import VideoError, read_video

REQUIRED_META = ("source", "start_s", "end_s", "fps", "width", "height", "num_frames")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
# Per-frame arrays and the number of rows each must have for a T-frame clip.
ARRAY_ROWS = {"actions": -1, "rewards": -1, "camera": 0, "trajectory": 0}


class SampleError(ValueError):
    """A sample breaks the contract; the message names the key, the shard and the fix."""


@dataclass
class ClipSample:
    """A clip ready to be written: encoded video bytes plus metadata and arrays.

    Attributes:
        key: ``<source-id>-<clip-index>``, letters, digits, ``-`` and ``_`` only.
        video: the clip as H.264 MP4 bytes (the primary view).
        meta: the json; must hold ``REQUIRED_META``.
        views: extra view name -> MP4 bytes (``front``, ``left``, ``right`` ...).
        arrays: name -> per-frame array, e.g. ``actions`` ((T-1, A) float32).
    """

    key: str
    video: bytes
    meta: dict
    views: dict[str, bytes] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.meta["end_s"]) - float(self.meta["start_s"])


def _fail(key: str, shard: str | None, problem: str) -> SampleError:
    where = f" in shard {shard}" if shard else ""
    return SampleError(f"sample {key!r}{where}: {problem}")


def validate_sample(sample: ClipSample, shard: str | None = None) -> None:
    """Raise ``SampleError`` if ``sample`` breaks the clip-sample contract."""
    if not KEY_PATTERN.match(sample.key):
        raise _fail(sample.key, shard, "key may only hold letters, digits, '-' and '_' (no dots or slashes)")
    missing = [k for k in REQUIRED_META if k not in sample.meta]
    if missing:
        raise _fail(
            sample.key, shard, f"json lacks required key(s) {missing}; every clip needs {REQUIRED_META}"
        )
    if not sample.video:
        raise _fail(sample.key, shard, "mp4 is empty")
    for view, data in sample.views.items():
        if not KEY_PATTERN.match(view):
            raise _fail(sample.key, shard, f"view name {view!r} may only hold letters, digits, '-' and '_'")
        if not data:
            raise _fail(sample.key, shard, f"{view}.mp4 is empty")
    num_frames = int(sample.meta["num_frames"])
    for name, array in sample.arrays.items():
        if not KEY_PATTERN.match(name):
            raise _fail(sample.key, shard, f"array name {name!r} may only hold letters, digits, '-' and '_'")
        if name in ARRAY_ROWS:
            rows = num_frames + ARRAY_ROWS[name]
            if array.shape[:1] != (rows,):
                raise _fail(
                    sample.key,
                    shard,
                    f"{name}.npy has shape {array.shape} but a {num_frames}-frame clip needs {rows} rows "
                    f"({'one per step between frames' if ARRAY_ROWS[name] else 'one per frame'})",
                )


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def encode_sample(sample: ClipSample) -> dict[str, bytes | str]:
    """The WebDataset dict (``__key__`` plus one bytes value per tar member) of a sample."""
    validate_sample(sample)
    out: dict[str, bytes | str] = {"__key__": sample.key, "mp4": sample.video}
    out["json"] = json.dumps(sample.meta, sort_keys=True).encode()
    for view, data in sample.views.items():
        out[f"{view}.mp4"] = data
    for name, array in sample.arrays.items():
        out[f"{name}.npy"] = _npy_bytes(array)
    return out


def decode_sample(
    raw: dict, *, decode_video: bool = True, size: tuple[int, int] | None = None
) -> dict[str, object]:
    """Turn a raw WebDataset dict (bytes values) into Python objects.

    Returns a dict with ``key``, ``shard``, ``meta`` (the json), ``frames``
    (``uint8 (T, H, W, 3)``, or the mp4 bytes when ``decode_video`` is False),
    ``views`` (view -> frames or bytes) and one entry per ``.npy`` array.
    """
    key = raw.get("__key__", "<no key>")
    shard = raw.get("__url__")
    for member in ("mp4", "json"):
        if member not in raw:
            present = sorted(k for k in raw if not k.startswith("__"))
            raise _fail(
                key,
                shard,
                f"has no '{member}' member (members present: {present}); "
                "it was not written by a worldfm writer or the shard is damaged",
            )
    try:
        meta = json.loads(raw["json"])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _fail(key, shard, f"json member is not valid JSON ({e})") from None
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise _fail(key, shard, f"json lacks required key(s) {missing}")

    def video(data: bytes, member: str) -> np.ndarray | bytes:
        if not decode_video:
            return data
        try:
            frames, _ = read_video(data, size=size)
        except VideoError as e:
            raise _fail(key, shard, f"{member} does not decode: {e.reason}") from None
        if size is None:
            # Odd sides were padded for yuv420p; the json keeps the true size.
            frames = frames[:, : int(meta["height"]), : int(meta["width"])]
        return frames

    out: dict[str, object] = {"key": key, "shard": shard, "meta": meta, "frames": video(raw["mp4"], "mp4")}
    views: dict[str, object] = {}
    for member, value in raw.items():
        if member.startswith("__") or member in ("mp4", "json"):
            continue
        if member.endswith(".mp4"):
            views[member[: -len(".mp4")]] = video(value, member)
        elif member.endswith(".npy"):
            try:
                out[member[: -len(".npy")]] = np.load(io.BytesIO(value), allow_pickle=False)
            except ValueError as e:
                raise _fail(key, shard, f"{member} is not a valid .npy array ({e})") from None
    out["views"] = views
    return out

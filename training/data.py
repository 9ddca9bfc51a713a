"""Clip data for every trainer: decoded clips in memory, random windows as batches.

Our simulator datasets are small (hundreds of short, low-resolution clips), so
``ClipDataset`` decodes every clip once and holds it in memory as uint8; a batch
is then a cheap, pure function of a random generator. ``batches_for`` seeds that
generator from ``(seed, step, micro)``, which gives the trainer the pure
``get_batch(step, micro)`` it needs for exact resume.

Held-out clips are chosen by hashing their keys (``split_by_key``), so the split
is the same in every process and run, and adding clips never moves others.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from curation.sample import ARRAY_ROWS
from curation.shards import read_samples
from curation.video_io import VideoError, read_video

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """The shards cannot give what was asked (too few or too short clips, missing views or arrays,
    undecodable videos): the user's data or settings, said with the fix, not a bug."""


SPLITS = ("train", "heldout", "all")
CROPS = ("center", "random")
GetBatch = Callable[[int, int], dict]


def heldout_score(key: str) -> float:
    """A stable pseudo-random number in [0, 1) for a clip key (sha256, not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def split_by_key(keys: Iterable[str], heldout_fraction: float) -> tuple[list[str], list[str]]:
    """Split clip keys into ``(train, heldout)``; a key is held out iff its score < ``heldout_fraction``.

    Deterministic and stable: a key's side depends on the key alone, so eval
    never sees a training clip, whatever else is added to the data later.
    """
    if not 0 <= heldout_fraction <= 1:
        raise ValueError(f"heldout_fraction must be in [0, 1], got {heldout_fraction}")
    train, heldout = [], []
    for key in keys:
        (heldout if heldout_score(key) < heldout_fraction else train).append(key)
    return train, heldout


@dataclass
class _Clip:
    key: str
    frames: np.ndarray  # uint8 (T, H', W', 3), resized so that (H', W') covers `size`
    caption: str
    arrays: dict[str, np.ndarray]  # name -> (T or T-1, ...) float32
    meta: dict  # the sample's json


def _cover_size(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (H', W') with the clip's aspect ratio that covers ``size`` (resize, then crop)."""
    scale = max(size[0] / height, size[1] / width)
    return max(size[0], round(height * scale)), max(size[1], round(width * scale))


def _resize(frames: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 (T, H, W, 3) -> (T, *shape, 3); INTER_AREA when shrinking (no aliasing), linear when growing."""
    if frames.shape[1:3] == shape:
        return frames
    shrinking = shape[0] < frames.shape[1] or shape[1] < frames.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (shape[1], shape[0]), interpolation=interpolation) for f in frames])


def _to_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float32 (B, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).contiguous()
    return x.float() / 127.5 - 1.0


class ClipDataset:
    """Clips from worldfm shards, decoded into memory, sampled as random ``frames``-long windows.

    Holds every clip of the split as ``uint8`` frames in memory: right for our
    simulator datasets (a few GB at most), wrong for web-scale video, for which
    stream shards with ``curation.shards.read_samples`` instead. Loading refuses,
    before decoding anything, data estimated above ``max_memory_gb``.

    Args:
        source: shards as ``curation.shards.shard_paths`` accepts them: a shard folder,
            a manifest, a ``.tar``, a glob, or a list of these (to mix several datasets).
        frames: T, the window length; clips shorter than T are skipped (and counted in the log).
        size: (H, W) or a square side of the returned frames: each clip is resized
            (cv2.INTER_AREA) to cover it, then cropped.
        image_fraction: share of each batch drawn as single frames, returned under
            ``"image"`` (a batch tensor has one shape, so images cannot sit in ``"video"``).
        views: ``"primary"`` (the clip's ``mp4``), the name of an extra view (``"front"``), or a
            sequence of view names, tiled left to right into one canvas (multi-view world models:
            every frame is ``size`` high and ``len(views)`` times ``size`` wide; centre crop only).
        arrays: per-frame arrays to return (``actions``, ``camera``, ``trajectory``, ...);
            one absent from every clip is left out, one absent from only some is an error.
        split: ``"train"``, ``"heldout"`` (the clips ``split_by_key`` holds out) or ``"all"``.
        heldout_fraction: share of clips held out, by key hash.
        crop: ``"center"`` (cropped once on load) or ``"random"`` (a new crop per draw;
            stored frames keep the covering size, so they take more memory).
        max_memory_gb: refuse to load more than this many GB of decoded frames.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        frames: int,
        size: tuple[int, int] | int,
        image_fraction: float = 0.0,
        views: str | Sequence[str] = "primary",
        arrays: Sequence[str] = ("actions",),
        split: str = "all",
        heldout_fraction: float = 0.1,
        crop: str = "center",
        max_memory_gb: float = 8.0,
    ) -> None:
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        if not 0 <= image_fraction <= 1:
            raise ValueError(f"image_fraction must be in [0, 1], got {image_fraction}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
        self.frames = frames
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.views = (views,) if isinstance(views, str) else tuple(views)
        if not self.views or len(set(self.views)) != len(self.views):
            raise ValueError(f"views must name at least one view, each once, got {list(self.views)}")
        if len(self.views) > 1 and crop != "center":
            raise ValueError("tiled multi-view clips are centre-cropped: pass crop='center'")
        self.image_fraction = image_fraction
        self.crop = crop
        self._requested = tuple(arrays)
        self.clips = self._load(source, split, heldout_fraction, max_memory_gb)
        # Frames of tiled views are one canvas, len(views) view-widths wide.
        self.size = (self.size[0], self.size[1] * len(self.views))
        self.arrays = self._check_arrays()
        # Each window (and each frame, for images) is equally likely, so long clips count for more.
        lengths = np.array([len(c.frames) for c in self.clips], dtype=np.float64)
        self._window_p = (lengths - frames + 1) / (lengths - frames + 1).sum()
        self._frame_p = lengths / lengths.sum()
        logger.info(
            "ClipDataset: %d clips (%s split), %.1f MB of frames, arrays %s",
            len(self.clips),
            split,
            self.nbytes / 2**20,
            sorted(self.arrays),
        )

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.clips]

    @property
    def nbytes(self) -> int:
        """Memory held by the decoded frames."""
        return sum(c.frames.nbytes for c in self.clips)

    def _load(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        split: str,
        heldout_fraction: float,
        max_memory_gb: float,
    ) -> list[_Clip]:
        # Read compressed first: the memory check must come before decoding anything.
        pending, short_lengths = [], []
        for sample in read_samples(source, decode_video=False):
            key, meta = sample["key"], sample["meta"]
            if split != "all" and (heldout_score(key) < heldout_fraction) != (split == "heldout"):
                continue
            if int(meta["num_frames"]) < self.frames:
                short_lengths.append(int(meta["num_frames"]))
                continue
            videos = []
            for view in self.views:
                if view == "primary":
                    videos.append(sample["frames"])
                elif view in sample["views"]:
                    videos.append(sample["views"][view])
                else:
                    raise DataError(
                        f"clip {key!r} has no view {view!r} (it has {sorted(sample['views'])}); "
                        "pass views='primary' or names of those"
                    )
            pending.append((key, meta, videos, sample))
        if short_lengths:
            logger.info("skipped %d clip(s) shorter than frames=%d", len(short_lengths), self.frames)
        if not pending:
            found = sorted(set(short_lengths))
            raise DataError(
                f"no clip in {source} ({split} split) has at least frames={self.frames} frames "
                f"(lengths found: {found or 'none: the split is empty'}); lower frames, "
                "record longer clips, or use another split / heldout_fraction"
            )
        estimate = sum(
            int(meta["num_frames"]) * 3 * len(self.views) * int(np.prod(self._stored_shape(meta)))
            for _, meta, _, _ in pending
        )
        if estimate > max_memory_gb * 2**30:
            raise DataError(
                f"{len(pending)} clips would take about {estimate / 2**30:.1f} GB decoded at {self.size}, "
                f"over max_memory_gb={max_memory_gb}: ClipDataset holds clips in memory and is meant for "
                "small simulator datasets; lower size, select fewer shards, or raise max_memory_gb"
            )
        return [self._decode(key, meta, videos, sample) for key, meta, videos, sample in pending]

    def _stored_shape(self, meta: dict) -> tuple[int, int]:
        if self.crop == "center":
            return self.size
        return _cover_size(int(meta["height"]), int(meta["width"]), self.size)

    def _decode_view(self, key: str, meta: dict, video: bytes, sample: dict) -> np.ndarray:
        try:
            frames, _ = read_video(video)
        except VideoError as e:
            raise DataError(f"clip {key!r} in {sample['shard']} does not decode: {e.reason}") from None
        height, width = int(meta["height"]), int(meta["width"])
        # Odd sides were padded for yuv420p; the json keeps the true size.
        frames = frames[:, :height, :width]
        length = min(len(frames), int(meta["num_frames"]))
        if length != int(meta["num_frames"]):
            logger.warning("clip %r: %d frames decoded, json says %d", key, len(frames), meta["num_frames"])
        frames = _resize(frames[:length], _cover_size(height, width, self.size))
        if self.crop == "center":
            top = (frames.shape[1] - self.size[0]) // 2
            left = (frames.shape[2] - self.size[1]) // 2
            frames = frames[:, top : top + self.size[0], left : left + self.size[1]]
        return frames

    def _decode(self, key: str, meta: dict, videos: list[bytes], sample: dict) -> _Clip:
        views = [self._decode_view(key, meta, video, sample) for video in videos]
        length = min(len(v) for v in views)
        frames = np.concatenate([v[:length] for v in views], axis=2)  # views side by side
        arrays = {}
        for name in self._requested:
            if name not in sample:
                continue
            value = sample[name]
            rows = ARRAY_ROWS.get(name, len(value) - int(meta["num_frames"]) if value.ndim else 1)
            if rows not in (0, -1):
                raise DataError(
                    f"clip {key!r}: {name}.npy has shape {value.shape}, neither one row per frame nor one "
                    f"per step of its {meta['num_frames']} frames"
                )
            arrays[name] = np.asarray(value[: length + rows], dtype=np.float32)
        caption = meta.get("caption")
        caption = caption if isinstance(caption, str) else ""
        return _Clip(key, np.ascontiguousarray(frames), caption, arrays, meta)

    def _check_arrays(self) -> dict[str, int]:
        """Requested array name -> row offset (0 per frame, -1 per step) for those all clips have."""
        found: dict[str, int] = {}
        for name in self._requested:
            having = [c for c in self.clips if name in c.arrays]
            if not having:
                logger.info("no clip has %s.npy; batches leave it out", name)
                continue
            if len(having) < len(self.clips):
                missing = next(c.key for c in self.clips if name not in c.arrays)
                raise DataError(
                    f"{len(having)} of {len(self.clips)} clips have {name}.npy (e.g. {missing!r} lacks it); "
                    f"a batch needs it for every clip: drop {name!r} from arrays or load those sources apart"
                )
            shapes = {c.arrays[name].shape[1:] for c in having}
            if len(shapes) > 1:
                raise DataError(f"{name}.npy has different per-row shapes across clips: {sorted(shapes)}")
            first = having[0]
            found[name] = len(first.arrays[name]) - len(first.frames)
        return found

    def _crop(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random ``size`` crop of (T, H', W', 3) frames (a no-op for centre-cropped clips)."""
        top = int(rng.integers(frames.shape[1] - self.size[0] + 1))
        left = int(rng.integers(frames.shape[2] - self.size[1] + 1))
        return frames[:, top : top + self.size[0], left : left + self.size[1]]

    def sample_batch(self, batch_size: int, rng: np.random.Generator) -> dict:
        """Draw a batch of random windows (and, with ``image_fraction``, single frames).

        Returns, with ``B_img = round(batch_size * image_fraction)`` and ``B = batch_size - B_img``:
            video: float32 (B, 3, T, H, W) in [-1, 1].
            actions: float32 (B, T-1, A), rows t..t+T-2 of ``actions.npy`` for a window starting at
                frame t (row i drives frame t+i to t+i+1), if the clips have actions; likewise every
                requested per-step array, and per-frame ones as (B, T, ...) (camera (B, T, 4, 4),
                trajectory (B, T, 3)).
            caption, key: list[str] of length B.
            image, image_caption, image_key: float32 (B_img, 3, 1, H, W) and lists, only if B_img > 0.
        """
        num_images = round(batch_size * self.image_fraction)
        num_videos = batch_size - num_images
        windows, captions, keys = [], [], []
        arrays: dict[str, list[np.ndarray]] = {name: [] for name in self.arrays}
        for index in rng.choice(len(self.clips), size=num_videos, p=self._window_p):
            clip = self.clips[index]
            start = int(rng.integers(len(clip.frames) - self.frames + 1))
            windows.append(self._crop(clip.frames[start : start + self.frames], rng))
            captions.append(clip.caption)
            keys.append(clip.key)
            for name, rows in self.arrays.items():
                arrays[name].append(clip.arrays[name][start : start + self.frames + rows])
        height, width = self.size
        empty = np.zeros((0, self.frames, height, width, 3), np.uint8)
        batch: dict = {"video": _to_video_tensor(np.stack(windows) if windows else empty)}
        for name, rows in self.arrays.items():
            tail = self.clips[0].arrays[name].shape[1:]
            stacked = np.stack(arrays[name]) if num_videos else np.zeros((0, self.frames + rows, *tail))
            batch[name] = torch.from_numpy(stacked.astype(np.float32))
        batch["caption"], batch["key"] = captions, keys
        if num_images:
            images, captions, keys = [], [], []
            for index in rng.choice(len(self.clips), size=num_images, p=self._frame_p):
                clip = self.clips[index]
                t = int(rng.integers(len(clip.frames)))
                images.append(self._crop(clip.frames[t : t + 1], rng))
                captions.append(clip.caption)
                keys.append(clip.key)
            batch["image"] = _to_video_tensor(np.stack(images))
            batch["image_caption"], batch["image_key"] = captions, keys
        return batch


def batches_for(dataset: ClipDataset, batch_size: int, seed: int) -> GetBatch:
    """The trainer's pure ``get_batch(step, micro)``: ``sample_batch`` seeded from ``(seed, step, micro)``."""

    def get_batch(step: int, micro: int) -> dict:
        return dataset.sample_batch(batch_size, np.random.default_rng([seed, step, micro]))

    return get_batch

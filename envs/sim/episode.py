"""One recorded episode, before it is written as a clip sample.

Every simulator yields ``Episode`` objects; ``envs.record`` turns them into
WebDataset samples following the clip-sample contract in ARCHITECTURE.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Episode:
    """A rendered episode with its aligned per-frame arrays.

    Attributes:
        source: simulator name, e.g. ``"fetch"``; becomes the sample's ``source``.
        episode_id: unique within a run, e.g. ``"fetch-s0-e000003"``; becomes the
            ``<source-id>`` part of ``__key__`` (no dots or slashes).
        fps: frame rate of the rendered frames.
        frames: view name -> ``uint8 (T, H, W, 3)``. ``primary_view`` is written as
            ``mp4``; with more than one view every view is also written as
            ``<view>.mp4``.
        arrays: per-frame arrays: ``actions`` ((T-1, A) float32, row t acts between
            frame t and t+1), ``camera`` ((T, 4, 4) camera-to-world), ``trajectory``
            ((T, 3) x, y, yaw), ``rewards`` ((T-1,) float32), ...
        meta: json-serialisable extras merged into the sample's json (task,
            caption, intrinsics, motion type, success, ...).
        primary_view: which view is the main ``mp4``.
    """

    source: str
    episode_id: str
    fps: float
    frames: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    primary_view: str = "main"

    def __post_init__(self) -> None:
        if self.primary_view not in self.frames:
            raise ValueError(
                f"Episode {self.episode_id!r}: primary_view {self.primary_view!r} is not one of "
                f"its views {sorted(self.frames)}; pass primary_view= one of those."
            )
        if any(c in self.episode_id for c in "./\\ "):
            raise ValueError(
                f"Episode id {self.episode_id!r} contains '.', '/', '\\' or a space; "
                "WebDataset keys cannot, so use letters, digits, '-' and '_'."
            )
        shapes = {v: f.shape for v, f in self.frames.items()}
        first = next(iter(shapes.values()))
        for view, frames in self.frames.items():
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(
                    f"Episode {self.episode_id!r} view {view!r}: frames must be uint8 (T, H, W, 3), "
                    f"got {frames.dtype} {frames.shape}."
                )
            if frames.shape != first:
                raise ValueError(f"Episode {self.episode_id!r}: views differ in shape: {shapes}.")

    @property
    def num_frames(self) -> int:
        return int(self.frames[self.primary_view].shape[0])

    @property
    def height(self) -> int:
        return int(self.frames[self.primary_view].shape[1])

    @property
    def width(self) -> int:
        return int(self.frames[self.primary_view].shape[2])

"""Shots, transitions and the clip rules that turn a video's shots into training clips.

Frame convention (the same as ``labels.json`` of ``worldfm simulate raw``): a
``Transition(start, end)`` joins the shot whose last frame is ``start`` to the shot
whose first frame is ``end``. A hard cut has ``end == start + 1``; a gradual
transition (dissolve, fade) has blended frames strictly between ``start`` and
``end``, and those frames belong to no shot, so they never reach a clip.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

CUT = "cut"
GRADUAL = "gradual"


@dataclass(frozen=True)
class Transition:
    """A boundary between shots: ``start`` is the last frame of one, ``end`` the first of the next."""

    start: int
    end: int
    kind: str = CUT

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"transition needs end > start, got start={self.start}, end={self.end}")
        if self.kind not in (CUT, GRADUAL):
            raise ValueError(f"transition kind must be {CUT!r} or {GRADUAL!r}, got {self.kind!r}")

    @property
    def blended(self) -> int:
        """Frames that belong to neither shot."""
        return self.end - self.start - 1


def transitions_from_runs(positive: Sequence[bool], *, max_cut_frames: int = 2) -> list[Transition]:
    """Transitions from per-frame "this frame is a transition" flags (TransNetV2's reading).

    TransNetV2 marks a hard cut on the last frame of the outgoing shot, so a short run
    ``[a, b]`` (up to ``max_cut_frames``; the network often marks a cut on two frames)
    is a cut from ``a`` to ``b + 1``, as its own ``predictions_to_scenes`` reads it.
    On a gradual transition it marks the blended frames themselves, so a longer run
    ends the previous shot at ``a - 1`` and starts the next at ``b + 1``. A run touching
    either end of the video is not between two shots and is ignored.
    """
    out: list[Transition] = []
    n = len(positive)
    i = 0
    while i < n:
        if not positive[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and positive[j + 1]:
            j += 1
        if i > 0 and j + 1 < n:
            if j - i + 1 <= max_cut_frames:
                out.append(Transition(i, j + 1, CUT))
            else:
                out.append(Transition(i - 1, j + 1, GRADUAL))
        i = j + 1
    return out


def normalise(transitions: Sequence[Transition], num_frames: int, *, gap: int = 0) -> list[Transition]:
    """Sort, clip to the video and merge transitions that overlap or lie within ``gap`` frames."""
    merged: list[Transition] = []
    for t in sorted(transitions, key=lambda t: (t.start, t.end)):
        start, end = max(t.start, 0), min(t.end, num_frames - 1)
        if end <= start:
            continue
        if merged and start < merged[-1].end + gap:
            last = merged.pop()
            end = max(end, last.end)
            kind = GRADUAL if end - last.start > 2 or GRADUAL in (last.kind, t.kind) else CUT
            merged.append(Transition(last.start, end, kind))
        else:
            merged.append(Transition(start, end, t.kind))
    return merged


def shots_between(
    transitions: Sequence[Transition], num_frames: int, *, margin: int = 0
) -> list[tuple[int, int]]:
    """The half-open frame ranges ``[start, end)`` of the shots separated by ``transitions``.

    ``margin`` more frames are trimmed on each side of a gradual transition: where a
    fade or dissolve begins is a matter of degree, and its first faint frames are
    better lost than kept in a clip.
    """
    shots: list[tuple[int, int]] = []
    start = 0
    for t in normalise(transitions, num_frames):
        pad = margin if t.kind == GRADUAL else 0
        shots.append((start, t.start + 1 - pad))
        start = t.end + pad
    shots.append((start, num_frames))
    return [(a, b) for a, b in shots if b > a]


@dataclass(frozen=True)
class ClipRules:
    """How shots become clips.

    Attributes:
        min_seconds: shots (and leftover pieces) shorter than this are dropped.
        max_seconds: longer shots are cut into equal pieces of at most this length.
        gradual_margin_seconds: extra time trimmed on each side of a gradual transition.
    """

    min_seconds: float = 2.0
    max_seconds: float = 60.0
    gradual_margin_seconds: float = 0.125

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"clip rules need 0 < min_seconds <= max_seconds, got min_seconds={self.min_seconds}, "
                f"max_seconds={self.max_seconds}"
            )
        if self.gradual_margin_seconds < 0:
            raise ValueError(f"gradual_margin_seconds must be >= 0, got {self.gradual_margin_seconds}")

    def margin_frames(self, fps: float) -> int:
        return round(self.gradual_margin_seconds * fps)


def plan_clips(
    shots: Sequence[tuple[int, int]],
    fps: float,
    rules: ClipRules,
    *,
    bounds: Sequence[float] | None = None,
) -> tuple[list[tuple[int, int]], int]:
    """Clips ``[start, end)`` (frames) from shots, and how many shots were too short.

    A shot over ``max_seconds`` is cut into ``ceil(len / max)`` equal pieces, so a
    150 s shot at a 60 s maximum gives three 50 s clips rather than 60 + 60 + 30.

    ``bounds`` (``T + 1`` seconds: when each frame starts, then when the last ends) times
    a variable-frame-rate video by its frames: lengths are measured, and pieces cut
    equal, in seconds rather than frames.
    """
    if bounds is not None:
        return _plan_timed(shots, bounds, rules)
    min_frames = math.ceil(rules.min_seconds * fps - 1e-6)
    max_frames = max(1, math.floor(rules.max_seconds * fps + 1e-6))
    clips: list[tuple[int, int]] = []
    too_short = 0
    for start, end in shots:
        length = end - start
        if length < min_frames:
            too_short += 1
            continue
        pieces = math.ceil(length / max_frames)
        edges = [start + round(k * length / pieces) for k in range(pieces + 1)]
        clips.extend(zip(edges[:-1], edges[1:], strict=True))
    return clips, too_short


def _plan_timed(
    shots: Sequence[tuple[int, int]], bounds: Sequence[float], rules: ClipRules
) -> tuple[list[tuple[int, int]], int]:
    clips: list[tuple[int, int]] = []
    too_short = 0
    for start, end in shots:
        seconds = bounds[end] - bounds[start]
        if seconds < rules.min_seconds - 1e-6:
            too_short += 1
            continue
        pieces = math.ceil(seconds / rules.max_seconds - 1e-9)
        # Each inner edge at the frame starting nearest to an equal share of the time.
        edges = [start]
        for k in range(1, pieces):
            target = bounds[start] + k * seconds / pieces
            edge = bisect.bisect_left(bounds, target, lo=start, hi=end)
            if edge > start and target - bounds[edge - 1] < bounds[edge] - target:
                edge -= 1
            edges.append(max(edge, edges[-1] + 1))
        edges.append(end)
        clips.extend((a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a)
    return clips, too_short

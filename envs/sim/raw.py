"""Synthetic "raw footage" with ground truth, for testing curation (shot splitting, overlays).

Each video is a sequence of shots from the simulators (``orbit`` always; ``fetch`` and
``driving`` when their modules import) joined by hard cuts, dissolves and fades
through black, with static stretches, burned-in text and mixed sizes and lengths.

Frame convention of ``labels.json`` (frames are 0-indexed at 24 fps):

* ``shots[k] = {start, end}`` is half-open ``[start, end)`` and holds only that shot's
  own, unblended frames. Shots are sorted and do not overlap; ``shots[0].start == 0``
  and ``shots[-1].end == num_frames``.
* ``transitions[k]`` joins ``shots[k]`` (A) and ``shots[k + 1]`` (B), always with
  ``start = A.end - 1`` (A's last frame) and ``end = B.start`` (B's first frame), both
  inclusive. For a ``cut``, ``end == start + 1``: the cut is between frames ``start``
  and ``start + 1``. For a ``dissolve`` or ``fade``, the frames strictly between are
  blended (dissolve) or darkened to black and back (fade). A boundary predicted
  between frames ``i`` and ``i + 1`` therefore matches transition ``k`` exactly when
  ``start <= i < end``. Shots plus these in-between frames cover the video.
* ``overlays[j] = {start, end, kind, text, box}``: half-open like shots; ``box`` is
  ``[x0, y0, x1, y1]`` pixels (x1, y1 exclusive) containing all the text's pixels.
* ``static`` marks shots whose frames do not change at all, text overlays aside (a
  still camera on a still scene); ``motion`` is the camera motion label (``envs.sim.camera_paths``;
  ``"static"`` for Fetch's fixed camera, ``"forward"`` for driving); ``caption`` is the
  simulator's caption of the shot (for driving it names the manoeuvre).

Fetch and driving shots are centre-cropped and resized to the video's size and
played at 24 fps whatever their native rate (driving's 10 fps runs 2.4x fast).
Which sources exist changes which renderer films a shot (a missing one falls back
to orbit), not the plan's timing.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from curation.video_io import write_video
from envs.sim import orbit
from envs.sim.camera_paths import MOTIONS
from envs.sim.episode import Episode
from envs.sim.text_overlay import KINDS, Overlay, burn_overlays, plan_overlay
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

FPS = 24.0
# (height, width) at size=64; other sizes scale them (64x64, 96x64, 128x72, 160x90 as W x H).
FRAME_SHAPES = ((64, 64), (64, 96), (72, 128), (90, 160))
SOURCE_WEIGHTS = {"orbit": 0.6, "fetch": 0.2, "driving": 0.2}
# Camera motion of the sources whose camera is not driven by a labelled path.
SOURCE_MOTION = {"fetch": "static", "driving": "forward"}
TRANSITION_WEIGHTS = {"cut": 0.6, "dissolve": 0.2, "fade": 0.2}
STATIC_FRACTION = 0.15
LONG_SECONDS = (60.0, 90.0)

EpisodeSource = Callable[..., Iterator[Episode]]


@dataclass(frozen=True)
class ShotPlan:
    """One shot: ``length`` unblended frames, rendered with ``seed``."""

    source: str
    motion: str
    static: bool
    length: int
    seed: int


@dataclass(frozen=True)
class TransitionPlan:
    """A join between two shots; ``frames`` is how many frames each side lends to it."""

    type: str
    frames: int

    @property
    def blended(self) -> int:
        """Frames in the video that belong to neither shot."""
        return {"cut": 0, "dissolve": self.frames, "fade": 2 * self.frames}[self.type]


@dataclass(frozen=True)
class VideoPlan:
    """Everything about one raw video except its pixels."""

    height: int
    width: int
    shots: tuple[ShotPlan, ...]
    transitions: tuple[TransitionPlan, ...]
    overlays: tuple[Overlay, ...]

    @property
    def num_frames(self) -> int:
        return sum(s.length for s in self.shots) + sum(t.blended for t in self.transitions)


def available_sources() -> dict[str, EpisodeSource]:
    """``generate_episodes`` of every simulator that imports; orbit is always there."""
    sources: dict[str, EpisodeSource] = {"orbit": orbit.generate_episodes}
    for name in ("fetch", "driving"):
        try:
            generate = getattr(importlib.import_module(f"envs.sim.{name}"), "generate_episodes", None)
        except ImportError as e:
            generate, reason = None, str(e)
        else:
            reason = "it has no generate_episodes"
        if generate is None:
            logger.warning("raw footage: no %s shots (%s); orbit films them instead", name, reason)
        else:
            sources[name] = generate
    return sources


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _draw_shot(rng: np.random.Generator, shot_seconds: tuple[float, float], sources: set[str]) -> ShotPlan:
    lo, hi = shot_seconds
    seed = int(rng.integers(2**31 - 1))
    if rng.random() < STATIC_FRACTION:
        # Static stretches last several seconds: the upper half of the shot-length range.
        return ShotPlan("orbit", "static", True, round(rng.uniform((lo + hi) / 2, hi) * FPS), seed)
    source = str(rng.choice(list(SOURCE_WEIGHTS), p=list(SOURCE_WEIGHTS.values())))
    motion = str(rng.choice([m for m in MOTIONS if m != "static"]))
    source = source if source in sources else "orbit"
    return ShotPlan(source, SOURCE_MOTION.get(source, motion), False, round(rng.uniform(lo, hi) * FPS), seed)


def _draw_transition(rng: np.random.Generator) -> TransitionPlan:
    kind = str(rng.choice(list(TRANSITION_WEIGHTS), p=list(TRANSITION_WEIGHTS.values())))
    return TransitionPlan(kind, 0 if kind == "cut" else int(rng.integers(6, 17)))


def plan_video(
    rng: np.random.Generator,
    *,
    size: int,
    seconds: float,
    shot_seconds: tuple[float, float],
    sources: set[str],
) -> VideoPlan:
    """Draw a video of exactly ``round(seconds * FPS)`` frames (at least one shot).

    Args:
        size: scale of the frame shapes; 64 gives ``FRAME_SHAPES``.
        shot_seconds: range of a shot's length; the last shot takes what is left.
        sources: simulators that can film shots (others fall back to orbit).
    """
    height, width = (_even(v * size / 64) for v in FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))])
    target = max(round(seconds * FPS), 2)
    min_len = max(2, round(shot_seconds[0] * FPS))
    shots: list[ShotPlan] = []
    transitions: list[TransitionPlan] = []
    remaining = target
    while remaining > 0:
        shot = _draw_shot(rng, shot_seconds, sources)
        if shots:
            transition = _draw_transition(rng)
            if remaining - transition.blended < min_len:
                transition = TransitionPlan("cut", 0)
            transitions.append(transition)
            remaining -= transition.blended
        length = remaining if remaining - shot.length < min_len else shot.length
        shots.append(replace(shot, length=length))
        remaining -= length
    overlays = []
    for _ in range(int(rng.choice(4, p=[0.25, 0.35, 0.25, 0.15]))):
        kind = str(rng.choice(KINDS))
        span = min(target, round(rng.uniform(1.0, 5.0) * FPS))
        if kind == "timestamp" and rng.random() < 0.5:
            span = target
        start = int(rng.integers(0, target - span + 1))
        overlays.append(plan_overlay(kind, start, start + span, height, width, rng))
    return VideoPlan(height, width, tuple(shots), tuple(transitions), tuple(overlays))


def _fit(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop ``frames`` (T, h, w, 3) to the aspect of ``height`` x ``width``, then resize."""
    _, h, w, _ = frames.shape
    if h * width > w * height:
        crop = round(w * height / width)
        frames = frames[:, (h - crop) // 2 : (h - crop) // 2 + crop]
    else:
        crop = round(h * width / height)
        frames = frames[:, :, (w - crop) // 2 : (w - crop) // 2 + crop]
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def _render_shot(
    shot: ShotPlan, num_frames: int, height: int, width: int, sources: dict[str, EpisodeSource]
) -> tuple[np.ndarray, str]:
    """``num_frames`` continuous frames (T, H, W, 3) uint8 of ``shot``, and its episode's caption."""
    if shot.source == "orbit":
        episodes = orbit.generate_episodes(
            1, size=height, width=width, seed=shot.seed, frames_per_episode=num_frames, motions=(shot.motion,)
        )
    else:
        # These simulators render square frames; render at the larger side and crop.
        episodes = sources[shot.source](
            1, size=max(height, width), seed=shot.seed, frames_per_episode=max(num_frames, 2)
        )
    episode = next(iter(episodes))
    frames = _fit(episode.frames[episode.primary_view][:num_frames], height, width)
    return frames, str(episode.meta.get("caption", ""))


def render_video(plan: VideoPlan, sources: dict[str, EpisodeSource]) -> tuple[np.ndarray, list[str]]:
    """Render and join the shots of ``plan``, without overlays.

    Returns:
        frames: (num_frames, H, W, 3) uint8; captions: each shot's simulator caption.
    """
    pieces: list[np.ndarray] = []
    captions: list[str] = []
    tail: np.ndarray | None = None  # the previous shot's frames lent to the coming transition
    for k, shot in enumerate(plan.shots):
        before = plan.transitions[k - 1] if k > 0 else None
        after = plan.transitions[k] if k < len(plan.transitions) else None
        pre = before.frames if before else 0
        post = after.frames if after else 0
        frames, caption = _render_shot(shot, pre + shot.length + post, plan.height, plan.width, sources)
        captions.append(caption)
        if before is not None and tail is not None:
            pieces.append(_blend(before, tail, frames[:pre]))
        pieces.append(frames[pre : pre + shot.length])
        tail = frames[pre + shot.length :]
    return np.concatenate(pieces), captions


def _blend(transition: TransitionPlan, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The in-between frames of a transition from ``a``'s lent frames to ``b``'s (N, H, W, 3)."""
    n = transition.frames
    if transition.type == "cut":
        return a[:0]
    if transition.type == "dissolve":
        alpha = (np.arange(1, n + 1) / (n + 1))[:, None, None, None]
        mixed = (1 - alpha) * a + alpha * b
    else:
        # Fade out to a black frame, then in from one: 2N frames, the middle two black.
        out = 1 - np.arange(1, n + 1) / n
        fade_in = np.arange(n) / n
        mixed = np.concatenate([out[:, None, None, None] * a, fade_in[:, None, None, None] * b])
    return np.round(mixed).astype(np.uint8)


def video_labels(plan: VideoPlan, captions: list[str]) -> dict:
    """Ground truth of one video in the ``labels.json`` format (module docstring).

    Args:
        captions: one per shot, as ``render_video`` returns them.
    """
    shots, transitions = [], []
    start = 0
    for k, shot in enumerate(plan.shots):
        if k > 0:
            transition = plan.transitions[k - 1]
            transitions.append(
                {"type": transition.type, "start": start - 1, "end": start + transition.blended}
            )
            start += transition.blended
        shots.append(
            {
                "start": start,
                "end": start + shot.length,
                "source": shot.source,
                "motion": shot.motion,
                "static": shot.static,
                "caption": captions[k],
            }
        )
        start += shot.length
    overlays = [
        {"start": o.start, "end": o.end, "kind": o.kind, "text": o.text, "box": list(o.box)}
        for o in plan.overlays
    ]
    return {
        "fps": FPS,
        "num_frames": plan.num_frames,
        "width": plan.width,
        "height": plan.height,
        "duration_s": plan.num_frames / FPS,
        "shots": shots,
        "transitions": transitions,
        "overlays": overlays,
    }


def write_raw_footage(
    out_dir: Path,
    num_videos: int,
    *,
    seed: int = 0,
    size: int = 64,
    min_seconds: float = 10.0,
    max_seconds: float = 40.0,
    long_fraction: float = 0.1,
    shot_seconds: tuple[float, float] = (0.5, 8.0),
) -> Path:
    """Write ``raw_%04d.mp4`` videos and their ground truth ``labels.json`` into ``out_dir``.

    Video ``i`` depends only on ``(seed, i)``. ``labels.json`` is rewritten after every
    video, so an interrupted run resumes: videos already listed there for the same
    arguments are kept, not rendered again.

    Args:
        size: frame-shape scale; 64 gives 64x64, 96x64, 128x72 and 160x90 (W x H).
        min_seconds, max_seconds: length range of ordinary videos.
        long_fraction: share of videos 60-90 s long instead.
        shot_seconds: length range of a shot (static stretches use its upper half).

    Returns:
        The path of ``labels.json``: ``{"params": {...}, "videos": {name: labels}}`` with
        per-video labels as the module docstring describes.
    """
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}.")
    if not 0.0 <= long_fraction <= 1.0:
        raise ValueError(f"long_fraction must be in [0, 1], got {long_fraction}.")
    if not 0 < shot_seconds[0] <= shot_seconds[1]:
        raise ValueError(f"shot_seconds must be (lo, hi) with 0 < lo <= hi, got {shot_seconds}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / "labels.json"
    params = {
        "seed": seed,
        "size": size,
        "min_seconds": min_seconds,
        "max_seconds": max_seconds,
        "long_fraction": long_fraction,
        "shot_seconds": list(shot_seconds),
    }
    done: dict[str, dict] = {}
    if labels_path.exists():
        previous = json.loads(labels_path.read_text())
        if previous.get("params") == params:
            done = {n: v for n, v in previous["videos"].items() if (out_dir / n).exists()}
    sources = available_sources()
    videos: dict[str, dict] = {}
    for i in range(num_videos):
        name = f"raw_{i:04d}.mp4"
        if name in done:
            videos[name] = done[name]
            continue
        rng = np.random.default_rng([seed, i])
        seconds = (
            rng.uniform(*LONG_SECONDS)
            if rng.random() < long_fraction
            else rng.uniform(min_seconds, max_seconds)
        )
        plan = plan_video(rng, size=size, seconds=seconds, shot_seconds=shot_seconds, sources=set(sources))
        frames, captions = render_video(plan, sources)
        write_video(out_dir / name, burn_overlays(frames, list(plan.overlays), FPS), FPS)
        videos[name] = video_labels(plan, captions)
        labels = {"params": params, "videos": videos}
        atomic_write_bytes(labels_path, json.dumps(labels, indent=1).encode())
        logger.info(
            "%s: %d frames %dx%d, %d shots, %d overlays",
            name,
            plan.num_frames,
            plan.width,
            plan.height,
            len(plan.shots),
            len(plan.overlays),
        )
    atomic_write_bytes(labels_path, json.dumps({"params": params, "videos": videos}, indent=1).encode())
    return labels_path

"""Labelled single-shot clips for training the curation classifiers (text overlay, video type).

``worldfm simulate raw --labelled-clips`` writes ``clip_%05d.mp4`` and a ``labels.json``
whose ``clips`` entry gives, per clip:

* ``category``: one of ``CATEGORIES``: ``manipulation`` (a Fetch episode), ``driving``
  (an embedded-driving episode), ``camera_motion`` (an orbit scene filmed along a
  moving camera path) or ``other`` (a still camera on a still orbit scene, the
  ``static`` stretches of ``raw`` footage);
* ``text``: whether text is burned in (``overlay``: its kind, box and text), over
  the whole clip, drawn as ``raw`` footage draws it (``envs.sim.text_overlay``);
* ``source``, ``motion`` and the simulator's ``caption``.

Categories take turns (clip ``i`` is ``CATEGORIES[i % 4]``), so every set is balanced;
everything else (frame shape, camera path, scene, whether and which text) is drawn
from ``np.random.default_rng([seed, i])``, so clip ``i`` depends only on ``(seed, i)``.
A run resumes like ``write_raw_footage``: clips already in ``labels.json`` for the same
arguments are kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from curation.video_io import write_video
from envs.sim.camera_paths import MOTIONS
from envs.sim.raw import FPS, FRAME_SHAPES, SOURCE_MOTION, ShotPlan, _even, _render_shot, available_sources
from envs.sim.text_overlay import KINDS, burn_overlays, plan_overlay
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

CATEGORIES = ("manipulation", "driving", "camera_motion", "other")
CATEGORY_SOURCE = {"manipulation": "fetch", "driving": "driving", "camera_motion": "orbit", "other": "orbit"}


def plan_clip(
    index: int, *, seed: int, size: int, frames: int, text_fraction: float
) -> tuple[ShotPlan, dict]:
    """The shot of clip ``index`` and its labels (without the simulator caption)."""
    rng = np.random.default_rng([seed, index])
    category = CATEGORIES[index % len(CATEGORIES)]
    height, width = (_even(v * size / 64) for v in FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))])
    source = CATEGORY_SOURCE[category]
    if category == "other":
        motion = "static"
    else:
        motion = SOURCE_MOTION.get(source, str(rng.choice([m for m in MOTIONS if m != "static"])))
    shot = ShotPlan(source, motion, category == "other", frames, int(rng.integers(2**31 - 1)))
    overlay = None
    if rng.random() < text_fraction:
        overlay = plan_overlay(str(rng.choice(KINDS)), 0, frames, height, width, rng)
    labels = {
        "category": category,
        "source": source,
        "motion": motion,
        "width": width,
        "height": height,
        "num_frames": frames,
        "fps": FPS,
        "text": overlay is not None,
        "overlay": None
        if overlay is None
        else {"kind": overlay.kind, "text": overlay.text, "box": list(overlay.box)},
    }
    return shot, {"overlay_plan": overlay, **labels}


def write_labelled_clips(
    out_dir: Path,
    num_clips: int,
    *,
    seed: int = 0,
    size: int = 64,
    frames: int = 48,
    text_fraction: float = 0.5,
) -> Path:
    """Write ``clip_%05d.mp4`` and ``labels.json`` (module docstring) into ``out_dir``.

    Args:
        size: frame-shape scale as in ``write_raw_footage`` (64: 64x64 up to 160x90).
        frames: frames per clip, at 24 fps.
        text_fraction: share of clips with burned-in text.

    Returns:
        The path of ``labels.json``: ``{"params": {...}, "clips": {name: labels}}``.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if not 0.0 <= text_fraction <= 1.0:
        raise ValueError(f"text_fraction must be in [0, 1], got {text_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / "labels.json"
    params = {"seed": seed, "size": size, "frames": frames, "text_fraction": text_fraction, "kind": "clips"}
    done: dict[str, dict] = {}
    if labels_path.exists():
        previous = json.loads(labels_path.read_text())
        if previous.get("params") == params:
            done = {n: v for n, v in previous.get("clips", {}).items() if (out_dir / n).exists()}
    sources = available_sources()
    missing = sorted({"fetch", "driving"} - set(sources))
    if missing:
        raise RuntimeError(
            f"labelled clips need the {', '.join(missing)} simulator(s), which did not import; "
            "install worldfm's sim extra (MuJoCo, gymnasium-robotics)"
        )
    clips: dict[str, dict] = {}
    for i in range(num_clips):
        name = f"clip_{i:05d}.mp4"
        if name in done:
            clips[name] = done[name]
            continue
        shot, labels = plan_clip(i, seed=seed, size=size, frames=frames, text_fraction=text_fraction)
        overlay = labels.pop("overlay_plan")
        video, caption = _render_shot(shot, frames, labels["height"], labels["width"], sources)
        if overlay is not None:
            video = burn_overlays(video, [overlay], FPS)
        write_video(out_dir / name, video, FPS)
        clips[name] = {**labels, "caption": caption}
        if (i + 1) % 50 == 0:
            logger.info("labelled clips: %d of %d", i + 1, num_clips)
            atomic_write_bytes(labels_path, json.dumps({"params": params, "clips": clips}, indent=1).encode())
    atomic_write_bytes(labels_path, json.dumps({"params": params, "clips": clips}, indent=1).encode())
    return labels_path

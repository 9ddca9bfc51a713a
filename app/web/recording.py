"""Rollouts the app shows, saved as files: a side-by-side mp4 and a Rerun ``.rrd``.

The ``.rrd`` uses the entity names of ``envs.rerun_recorder.RerunRecorder`` (``frames/predicted``,
``frames/true``, ``charts/psnr``, ``charts/action``) on a ``step`` timeline, so a rollout played in
the page and one recorded by ``worldfm eval env`` look alike in the viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rerun as rr

from curation.atomic import atomic_output


def save_rollout_rrd(
    path: Path,
    predicted: np.ndarray,
    *,
    true: np.ndarray | None = None,
    actions: np.ndarray | None = None,
    psnr: list[float] | None = None,
    text: str | None = None,
) -> Path:
    """Write one rollout to ``path`` atomically.

    Args:
        predicted: uint8 (T, H, W, 3), frame 0 being the start frame.
        true: the simulator's frames on the same actions, same shape, or None.
        actions: (T-1, A); row t leads from frame t to frame t+1.
        psnr: one value per frame after the first (predicted vs true).
        text: the prompt, if the rollout was generated from one.
    """
    with atomic_output(path) as tmp:
        rec = rr.RecordingStream("worldfm")
        rec.save(tmp)
        if text:
            rec.log("prompt", rr.TextDocument(text), static=True)
        for t, frame in enumerate(predicted):
            rec.set_time("step", sequence=t)
            rec.log("frames/predicted", rr.Image(frame))
            if true is not None:
                rec.log("frames/true", rr.Image(true[t]))
            if t and actions is not None:
                rec.log("charts/action", rr.Scalars(np.asarray(actions[t - 1], np.float64)))
            if t and psnr is not None and np.isfinite(psnr[t - 1]):
                rec.log("charts/psnr", rr.Scalars(float(psnr[t - 1])))
        rec.flush()
        rec.disconnect()
    return path

"""Rollouts the app shows, saved as files: a side-by-side mp4 and a Rerun ``.rrd``.

The ``.rrd`` uses the entity names of ``envs.rerun_recorder.RerunRecorder`` (``frames/predicted``,
``frames/true``, ``charts/psnr``, ``charts/action``) on a ``step`` timeline, so a rollout played in
the page and one recorded by ``worldfm eval env`` look alike in the viewer. Camera paths and ego
trajectories go under ``world/`` as ``envs.rerun_log`` logs them (``world/camera``,
``world/ego_path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rerun as rr

from worldmodel.atomic import atomic_output


def save_rollout_rrd(
    path: Path,
    predicted: np.ndarray,
    *,
    true: np.ndarray | None = None,
    actions: np.ndarray | None = None,
    psnr: list[float] | None = None,
    text: str | None = None,
    camera: np.ndarray | None = None,
    intrinsics: np.ndarray | None = None,
    trajectory: np.ndarray | None = None,
) -> Path:
    """Write one rollout to ``path`` atomically.

    Args:
        predicted: uint8 (T, H, W, 3), frame 0 being the start frame.
        true: the simulator's frames on the same actions, same shape, or None.
        actions: (T-1, A); row t leads from frame t to frame t+1.
        psnr: one value per frame after the first (predicted vs true).
        text: the prompt, if the rollout was generated from one.
        camera: (T, 4, 4) camera-to-world poses (OpenCV axes) the frames were asked for, with
            ``intrinsics`` (T, 3, 3) in pixels; logged as a moving pinhole camera and its path.
        trajectory: (T, 3) ego poses (x, y, yaw); logged as the path driven so far.
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
            if camera is not None:
                rec.log(
                    "world/camera", rr.Transform3D(translation=camera[t, :3, 3], mat3x3=camera[t, :3, :3])
                )
                if intrinsics is not None:
                    height, width = frame.shape[:2]
                    rec.log(
                        "world/camera",
                        rr.Pinhole(image_from_camera=intrinsics[t], resolution=[width, height]),
                    )
                rec.log("world/camera_path", rr.LineStrips3D([camera[: t + 1, :3, 3]]))
            if trajectory is not None:
                ground = np.c_[trajectory[: t + 1, :2], np.zeros(t + 1)]
                rec.log("world/ego_path", rr.LineStrips3D([ground]))
        rec.flush()
        rec.disconnect()
    return path

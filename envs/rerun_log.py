"""Rerun recordings (``.rrd``) of episodes: frames per view, actions, rewards, poses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rerun as rr

from envs.sim.episode import Episode
from worldmodel.atomic import atomic_output


def log_episode(rec: rr.RecordingStream, episode: Episode) -> None:
    """Log every frame of ``episode`` (and its aligned arrays) on the ``frame`` timeline."""
    caption = episode.meta.get("caption")
    if caption:
        rec.log("caption", rr.TextDocument(str(caption)), static=True)
    actions = episode.arrays.get("actions")
    rewards = episode.arrays.get("rewards")
    trajectory = episode.arrays.get("trajectory")
    camera = episode.arrays.get("camera")
    for t in range(episode.num_frames):
        rec.set_time("frame", sequence=t)
        rec.set_time("time", duration=t / episode.fps)
        for view, frames in episode.frames.items():
            rec.log(f"views/{view}", rr.Image(frames[t]))
        # Row t of actions/rewards acts between frame t and t+1, so it is logged at frame t.
        if actions is not None and t < len(actions):
            rec.log("actions", rr.Scalars(np.asarray(actions[t], np.float64)))
        if rewards is not None and t < len(rewards):
            rec.log("reward", rr.Scalars(float(rewards[t])))
        if trajectory is not None:
            rec.log("world/ego_path", rr.LineStrips3D([np.c_[trajectory[: t + 1, :2], np.zeros(t + 1)]]))
        if camera is not None:
            rec.log("world/camera", rr.Transform3D(translation=camera[t, :3, 3], mat3x3=camera[t, :3, :3]))


def save_episode_rrd(episode: Episode, path: str | os.PathLike, *, application_id: str = "worldfm") -> Path:
    """Write ``episode`` as a Rerun ``.rrd`` file at ``path`` (atomically)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        rec = rr.RecordingStream(application_id, recording_id=episode.episode_id)
        rec.save(tmp)
        log_episode(rec, episode)
        rec.flush()
        rec.disconnect()
    return path

"""``RerunRecorder``: record an image-observation env's episodes to Rerun, beside the real simulator.

Wrapped around a ``WorldModelEnv`` with a ``paired_env`` (its ground-truth simulator), every step
logs the predicted frame, the true frame after the same action and their PSNR, so where a learned
simulator drifts from the real one shows on one ``step`` timeline.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import rerun as rr
from gymnasium import spaces

from envs.world_env import simulator_context
from worldmodel.atomic import atomic_output
from worldmodel.metrics import video_psnr


class RerunRecorder(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Log observations, actions and rewards of every step to a Rerun recording.

    Entities: ``frames/predicted`` (the env's observation), ``charts/action``, ``charts/reward``
    and, with a ``paired_env``, ``frames/true`` and ``charts/psnr``, on the timelines ``step``
    (counted across episodes, so episodes follow one another) and ``episode``.

    Args:
        env: an env with uint8 ``(H, W, 3)`` observations, usually a ``WorldModelEnv``.
        path: write the recording to this ``.rrd`` file, atomically, on ``close()``.
        paired_env: the ground-truth simulator, stepped with the same (clipped) actions. Episodes
            must start from ``env``'s simulator (``info["sim_reset_seed"]``), which ``reset``
            replays on ``paired_env`` with ``simulator_context``. Closed with the recorder.
        spawn: stream to a newly spawned Rerun viewer instead of a file.
        connect_grpc: stream to a running viewer at this gRPC URL instead of a file.
        application_id, recording_id: Rerun's names for the recording.
    """

    def __init__(
        self,
        env: gym.Env[np.ndarray, np.ndarray],
        path: str | os.PathLike | None = None,
        *,
        paired_env: gym.Env | None = None,
        spawn: bool = False,
        connect_grpc: str | None = None,
        application_id: str = "worldfm",
        recording_id: str | None = None,
    ) -> None:
        if (path is not None) + spawn + (connect_grpc is not None) != 1:
            raise ValueError("RerunRecorder needs exactly one sink: path=, spawn=True or connect_grpc=")
        super().__init__(env)
        self.paired_env = paired_env
        self.rec = rr.RecordingStream(application_id, recording_id=recording_id)
        # The file is written beside its target and renamed over it when the stack closes.
        self._output = contextlib.ExitStack()
        if path is not None:
            self.rec.save(self._output.enter_context(atomic_output(path)))
        elif spawn:
            self.rec.spawn()
        else:
            self.rec.connect_grpc(connect_grpc)
        self._step = -1
        self._episode = -1

    def _next_step(self) -> None:
        self._step += 1
        self.rec.set_time("step", sequence=self._step)
        self.rec.set_time("episode", sequence=self._episode)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode += 1
        self._next_step()
        self.rec.log("frames/predicted", rr.Image(obs))
        if self.paired_env is not None:
            if "sim_reset_seed" not in info:
                raise ValueError(
                    "RerunRecorder with a paired_env needs episodes that start from the env's simulator "
                    "(info['sim_reset_seed']), not from options['frames']"
                )
            k = self.env.get_wrapper_attr("context_frames")
            true = simulator_context(self.paired_env, info["sim_reset_seed"], k)[-1]
            self.rec.log("frames/true", rr.Image(true))
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        # The env has validated the action; log and replay what it acted on.
        if isinstance(self.action_space, spaces.Box):
            action = np.clip(np.asarray(action, np.float32), self.action_space.low, self.action_space.high)
        self._next_step()
        self.rec.log("frames/predicted", rr.Image(obs))
        self.rec.log("charts/action", rr.Scalars(np.asarray(action, np.float64)))
        self.rec.log("charts/reward", rr.Scalars(float(reward)))
        if self.paired_env is not None:
            self.paired_env.step(action)
            true = self.paired_env.render()
            self.rec.log("frames/true", rr.Image(true))
            self.rec.log("charts/psnr", rr.Scalars(video_psnr(obs, true)))
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Finish the recording (renaming the ``.rrd`` into place), then close both envs."""
        self.rec.flush()
        self.rec.disconnect()
        self._output.close()
        if self.paired_env is not None:
            self.paired_env.close()
        super().close()

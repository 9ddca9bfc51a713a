"""``DrivingWorldModelEnv``: drive with steer / throttle in a learned multi-view world.

The dynamics are a trajectory-conditioned world model (``worldfm train posttrain --task driving``):
each step moves the ego car by the same kinematic bicycle model as the embedded simulator
(``envs.sim.driving.bicycle_step``), and the model renders the left | front | right canvas that
the car sees after that ego motion. Episodes start from the simulator's frames and ego state,
or from frames, poses and speed a caller passes in ``reset(options=...)``.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from envs.sim.driving import DT, FPS, DrivingSimEnv, VehicleParams, bicycle_step
from worldmodel.conditioning.trajectory import ego_motion
from worldmodel.world import WorldModel

CRUISE_ACTION = np.array([0.0, 0.3], dtype=np.float32)
"""What the simulator drives while it records an episode's context frames."""


class DrivingWorldModelEnv(gym.Env[np.ndarray, np.ndarray]):
    """Steer and throttle through a learned world of three tiled camera views.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: (steer, throttle), as ``worldfm/Driving-v0``.

    ## Observation Space
    ``Box(0, 255, (H, n·W, 3), uint8)``: the model's canvas, views left to right
    (``info["views"]`` has them by name), with ``pose`` (x, y, yaw) and ``speed``.

    ## Rewards
    Metres driven forward during the step (the ego motion's forward component); the learned
    world has no collisions, so episodes end only by truncation (``max_episode_steps``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        render_mode: str | None = None,
        *,
        steps: int | None = None,
        precision: str | None = None,
        device: str = "cpu",
        sim_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r} unsupported; expected None or 'rgb_array'")
        self.world = WorldModel.from_pretrained(checkpoint, device=device, precision=precision)
        if not self.world.uses_trajectory or not self.world.views:
            raise ValueError(
                f"{checkpoint} is not a multi-view driving model (train one with `worldfm train posttrain "
                "--task driving`)"
            )
        self.render_mode = render_mode
        self.steps = steps
        self.params = VehicleParams()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        height, width = self.world.frame_size
        self.observation_space = gym.spaces.Box(0, 255, (height, width, 3), np.uint8)
        self._sim_kwargs = {"size": height, **(sim_kwargs or {})}
        self._sim: DrivingSimEnv | None = None
        self._frames: np.ndarray | None = None
        self._poses: np.ndarray | None = None
        self._state = np.zeros(4)

    def _start_from_simulator(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._sim is None:
            self._sim = DrivingSimEnv(**self._sim_kwargs)
        _, info = self._sim.reset(seed=seed)
        frames, poses = [self.world.tile_views(info["views"])], [info["pose"]]
        for _ in range(self.world.context_frames - 1):
            _, _, _, _, info = self._sim.step(CRUISE_ACTION)
            frames.append(self.world.tile_views(info["views"]))
            poses.append(info["pose"])
        state = np.array([*info["pose"], info["speed"]], dtype=np.float64)
        return np.stack(frames), np.stack(poses).astype(np.float64), state

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``options`` may give ``frames`` (K, H, n·W, 3) or ``views``
        ({view: (K, H, W, 3)}), ``poses`` (K, 3) and ``speed`` (m/s) instead of the simulator's start."""
        super().reset(seed=seed)
        options = options or {}
        k = self.world.context_frames
        if "frames" in options or "views" in options:
            frames = options.get("frames")
            frames = self.world.tile_views(options["views"]) if frames is None else np.asarray(frames)
            poses = np.asarray(options.get("poses", np.zeros((len(frames), 3))), dtype=np.float64)
            if (
                frames.shape[1:] != self.observation_space.shape
                or len(frames) < k
                or poses.shape != (len(frames), 3)
            ):
                raise ValueError(
                    f"reset options need at least {k} frames {self.observation_space.shape} and one "
                    f"(x, y, yaw) pose per frame; got frames {frames.shape} and poses {poses.shape}"
                )
            state = np.array([*poses[-1], float(options.get("speed", 0.0))])
        else:
            frames, poses, state = self._start_from_simulator(int(self.np_random.integers(2**31)))
        self._frames, self._poses, self._state = frames[-k:], poses[-k:], state
        return self._frames[-1], self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._frames is None:
            raise RuntimeError("DrivingWorldModelEnv.step called before reset(); call env.reset() first")
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (2,) or not np.isfinite(action).all():
            raise ValueError(f"action must be finite (steer, throttle) of shape (2,), got {action.shape}")
        self._state = bicycle_step(self._state, np.clip(action, -1.0, 1.0), DT, self.params)
        poses = np.concatenate([self._poses, self._state[None, :3]])
        frame = self.world.predict(
            self._frames,
            trajectory=poses,
            horizon=1,
            seed=int(self.np_random.integers(2**31)),
            steps=self.steps,
        )[0]
        forward = float(ego_motion(torch.from_numpy(poses[-2:]))[0, 0])
        self._frames = np.concatenate([self._frames[1:], frame[None]])
        self._poses = poses[1:]
        return frame, forward, False, False, self._info()

    def _info(self) -> dict:
        return {
            "views": self.world.split_views(self._frames[-1]),
            "pose": self._state[:3].astype(np.float32),
            "speed": float(self._state[3]),
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._frames is None:
            return None
        return self._frames[-1]

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None

"""``DrivingWorldModelEnv``: drive with steer / throttle in a learned multi-view world.

The dynamics are a trajectory-conditioned world model (``worldfm train posttrain --task driving``):
each step moves the ego car by the same kinematic bicycle model as the embedded simulator
(``ego_trajectory`` over ``envs.sim.driving.bicycle_step``), and the model renders the
left | front | right canvas that the car sees after that ego motion. It is built like
``envs.world_env.WorldModelEnv`` (a ``WorldModel`` in, the same seeds, action checks and
``ResetNeeded``); ``make_driving_world_env`` is its entry point from a checkpoint folder.
``ego_trajectory`` and ``simulator_start`` are also what the web app's driving controls use,
so a drive is integrated, and an episode started, in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.actions import check_actions
from envs.sim.driving import DT, FPS, DrivingSimEnv, VehicleParams, bicycle_step
from envs.world_env import check_env_settings, draw_seed
from worldmodel.conditioning.trajectory import ego_motion
from worldmodel.world import WorldModel

CRUISE_ACTION = np.array([0.0, 0.3], dtype=np.float32)
"""What the simulator drives while it records an episode's context frames."""
DrivingSimFactory = Callable[[], gym.Env]
"""Builds the driving simulator that starts episodes (``info`` has views, pose and speed, as Driving-v0's)."""


def ego_trajectory(
    poses: np.ndarray, speed: float, actions: np.ndarray, params: VehicleParams | None = None
) -> tuple[np.ndarray, float]:
    """Drive ``actions`` (T, 2) (steer, throttle) from the last of ``poses`` (K, 3) at ``speed`` m/s.

    Returns the poses followed by one (x, y, yaw) per action, float64 ``(K + T, 3)``, and the speed
    after the last action: one ``bicycle_step`` of ``DT`` per action, as the simulator moves.
    """
    params = params or VehicleParams()
    state = np.array([*poses[-1], speed], dtype=np.float64)
    path = [np.asarray(p, np.float64) for p in poses]
    for action in actions:
        state = bicycle_step(state, action, DT, params)
        path.append(state[:3])
    return np.stack(path), float(state[3])


def simulator_start(
    sim: gym.Env, seed: int, context_frames: int
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Reset the driving simulator ``sim`` with ``seed`` and cruise (``CRUISE_ACTION``) until it has
    rendered ``context_frames`` frames.

    Returns the views ``{view: uint8 (K, h, w, 3)}``, the ego poses float64 ``(K, 3)`` and the speed
    (m/s) at the last frame: how a driving episode starts, in the env and in the web app alike.
    """
    _, info = sim.reset(seed=seed)
    infos = [info]
    for _ in range(context_frames - 1):
        infos.append(sim.step(CRUISE_ACTION)[-1])
    views = {v: np.stack([i["views"][v] for i in infos]) for v in infos[0]["views"]}
    poses = np.stack([i["pose"] for i in infos]).astype(np.float64)
    return views, poses, float(infos[-1]["speed"])


def driving_spaces(world: WorldModel) -> tuple[spaces.Box, spaces.Box]:
    """``(observation_space, action_space)`` of a multi-view driving ``world``: its canvas and
    (steer, throttle) in [-1, 1], the actions of ``worldfm/Driving-v0``."""
    if not world.uses_trajectory or not world.views:
        where = getattr(world, "directory", None) or "this checkpoint"
        raise ValueError(
            f"{where} is not a multi-view driving model (train one with `worldfm train posttrain "
            "--task driving`)"
        )
    if world.frame_size is None:
        raise ValueError(
            "the checkpoint's world_model section has no frame_size; DrivingWorldModelEnv needs it"
        )
    height, width = world.frame_size
    observation_space = spaces.Box(0, 255, (height, width, 3), np.uint8)
    return observation_space, spaces.Box(-1.0, 1.0, (2,), np.float32)


class DrivingWorldModelEnv(gym.Env[np.ndarray, np.ndarray]):
    """Steer and throttle through a learned world of three tiled camera views.

    ## Description
    A world model post-trained on driving episodes predicts the next left | front | right canvas
    from the last ``context_frames`` canvases and the ego trajectory. This env turns each
    (steer, throttle) into the next ego pose with the simulator's bicycle model and asks the model
    for the canvas seen from there.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: (steer, throttle), as ``worldfm/Driving-v0``. Out-of-range
    actions are clipped into the box; a wrong shape or NaN is a ``ValueError``.

    ## Observation Space
    ``Box(0, 255, (H, n·W, 3), uint8)``: the model's canvas, views left to right
    (``info["views"]`` has them by name), with ``pose`` (x, y, yaw) and ``speed``.

    ## Rewards
    Metres driven forward during the step (the ego motion's forward component).

    ## Starting State
    ``reset(options=...)`` may give ``frames`` (K, H, n·W, 3) or ``views`` ({view: (K, H, W, 3)}),
    ``poses`` (K, 3) and ``speed`` (m/s); otherwise ``sim_factory``'s driving simulator is reset
    with a seed drawn from ``np_random`` (``info["sim_reset_seed"]``) and cruises for the context.

    ## Episode End
    The learned world has no collisions, so episodes end only by truncation: ``gym.make`` adds
    ``TimeLimit`` from the registered ``max_episode_steps`` (50 for ``worldfm/Driving-WM-v0``).

    ## Arguments
    - ``world``: a trajectory-conditioned multi-view ``WorldModel``.
    - ``sim_factory``: builds the driving simulator, at the model's view size, that starts
      episodes when ``reset`` is given no frames.
    - ``sampler_steps``: diffusion sampler steps per predicted frame; None uses the checkpoint's.
    - ``render_mode``: ``"rgb_array"`` (``render()`` returns the current canvas) or ``None``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        world: WorldModel,
        *,
        sim_factory: DrivingSimFactory | None = None,
        sampler_steps: int | None = None,
        render_mode: str | None = "rgb_array",
    ) -> None:
        check_env_settings(render_mode, self.metadata["render_modes"], sampler_steps)
        self.observation_space, self.action_space = driving_spaces(world)
        self.world = world
        self.context_frames = world.context_frames
        self.sampler_steps = sampler_steps
        self.render_mode = render_mode
        self.params = VehicleParams()
        self.sim_factory = sim_factory
        self._sim: gym.Env | None = None
        self._frames: np.ndarray | None = None  # (K, H, n·W, 3): the canvases the next step is conditioned on
        self._poses: np.ndarray | None = None  # (K, 3): their ego poses
        self._speed = 0.0

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        k = self.context_frames
        info: dict[str, Any] = {}
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
            speed = float(options.get("speed", 0.0))
        else:
            if self.sim_factory is None:
                raise ValueError(
                    "a driving episode starts from real frames: pass reset(options={'frames': ..., "
                    "'poses': ..., 'speed': ...}) or build the env with sim_factory= (the driving simulator)"
                )
            if self._sim is None:
                self._sim = self.sim_factory()
            seed = draw_seed(self.np_random)
            views, poses, speed = simulator_start(self._sim, seed, k)
            frames = self.world.tile_views(views)
            info["sim_reset_seed"] = seed
        self._frames, self._poses, self._speed = frames[-k:], poses[-k:], speed
        return self._frames[-1].copy(), {**self._info(), **info}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._frames is None:
            raise ResetNeeded(
                "DrivingWorldModelEnv: call reset() before step(); an episode needs start frames"
            )
        a = check_actions(action, self.action_space)
        poses, self._speed = ego_trajectory(self._poses, self._speed, a[None], self.params)  # (K + 1, 3)
        frame = self.world.predict(
            self._frames,
            trajectory=poses,
            horizon=1,
            seed=draw_seed(self.np_random),
            steps=self.sampler_steps,
        )[0]  # (H, n·W, 3)
        forward = float(ego_motion(torch.from_numpy(poses[-2:]))[0, 0])
        self._frames = np.concatenate([self._frames[1:], frame[None]])
        self._poses = poses[1:]
        return frame, forward, False, False, self._info()

    def _info(self) -> dict[str, Any]:
        return {
            "views": self.world.split_views(self._frames[-1]),
            "pose": self._poses[-1].astype(np.float32),
            "speed": self._speed,
        }

    def render(self) -> np.ndarray | None:
        """The current canvas, uint8 ``(H, n·W, 3)`` (``None`` when ``render_mode`` is ``None``)."""
        if self.render_mode is None:
            return None
        if self._frames is None:
            raise ResetNeeded("DrivingWorldModelEnv: call reset() before render()")
        return self._frames[-1].copy()

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None


def make_driving_world_env(
    checkpoint: str | os.PathLike,
    *,
    device: str = "cpu",
    precision: str | None = None,
    sim_factory: DrivingSimFactory | None = None,
    sim_kwargs: Mapping[str, Any] | None = None,
    sampler_steps: int | None = None,
    render_mode: str | None = "rgb_array",
) -> DrivingWorldModelEnv:
    """Gymnasium entry point: a ``DrivingWorldModelEnv`` on the driving checkpoint ``checkpoint``.

    Without a ``sim_factory`` episodes start in the embedded driving simulator at the model's view
    size (``DrivingSimEnv(size=H, **sim_kwargs)``); ``precision`` ("fp32" / "bf16", default the
    checkpoint's) is ``WorldModel``'s; the rest are ``DrivingWorldModelEnv``'s arguments.
    """
    world = WorldModel.from_pretrained(checkpoint, device=device, precision=precision)
    if sim_factory is None and world.frame_size is not None:
        sim_factory = partial(DrivingSimEnv, **{"size": world.frame_size[0], **dict(sim_kwargs or {})})
    return DrivingWorldModelEnv(
        world, sim_factory=sim_factory, sampler_steps=sampler_steps, render_mode=render_mode
    )

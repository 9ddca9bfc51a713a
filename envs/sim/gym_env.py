"""Any Gymnasium environment as a worldfm simulator: square pixel frames, recorded into shards.

Robot teams have their own Gymnasium envs. ``PixelGymEnv`` wraps one that renders ``rgb_array``
(or observes pixels) so it observes ``uint8 (size, size, 3)`` frames, the shape a world model
trains on and its learned env observes; it is registered as ``worldfm/GymPixels-v0`` (the inner
env's id is a keyword), which is how a learned env starts its episodes in the env it learned.
``generate_episodes`` drives it with a random or user policy and yields ``Episode`` objects for
``envs.record.record_episodes`` (``worldfm simulate gym``).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.actions import finite_actions
from envs.sim.episode import Episode

logger = logging.getLogger(__name__)

GYM_PIXELS_ID = "worldfm/GymPixels-v0"
MIN_SIZE = 16
Policy = Callable[[Any], Any]
"""``policy(observation) -> action``: the inner env's observation, an action of its action space."""


def square_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> (size, size, 3): the centred square crop, resized (INTER_AREA when shrinking).

    A world model trains on square frames; cropping keeps the aspect ratio, so nothing is stretched.
    """
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(frame[top : top + side, left : left + side, :3], dtype=np.uint8)
    if side == size:
        return square
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def _is_pixel_space(space: spaces.Space) -> bool:
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] in (3, 4)
    )


class PixelGymEnv(gym.Env[np.ndarray, np.ndarray]):
    """A registered Gymnasium env seen through square frames.

    ## Description
    ``gym.make(env_id, render_mode="rgb_array", **env_kwargs)``, observed through its renders
    (or, for an env that cannot render ``rgb_array``, its own uint8 image observations), centre-
    cropped to a square and resized to ``size`` pixels.

    ## Spaces
    - Action: the inner env's, which must be a ``Box`` (a world model's actions are vectors).
    - Observation: ``Box(0, 255, (size, size, 3), uint8)``. The inner observation is
      ``info["state"]``, for policies and evaluation.

    ## Rewards, Episode End
    The inner env's rewards, ``terminated`` and ``truncated``; ``info`` is the inner env's too.

    Actions with NaN / infinite values are a ``ValueError``; a step before ``reset`` is
    ``ResetNeeded``.

    Args:
        env_id: a registered Gymnasium id, e.g. ``"Pendulum-v1"``; ``"module:Id"`` imports
            ``module`` first (Gymnasium's own syntax, for envs registered on import).
        env_kwargs: keyword arguments of ``gym.make``.
        size: side of the square frames, at least 16.
        render_mode: only ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        size: int = 64,
        render_mode: str = "rgb_array",
    ) -> None:
        if size < MIN_SIZE:
            raise ValueError(f"PixelGymEnv size must be at least {MIN_SIZE} pixels, got {size}")
        if render_mode != "rgb_array":
            raise ValueError(f"PixelGymEnv render_mode must be 'rgb_array', got {render_mode!r}")
        kwargs = {k: v for k, v in dict(env_kwargs or {}).items() if k != "render_mode"}
        try:
            spec = gym.spec(env_id)
        except gym.error.Error as e:
            raise ValueError(f"--env {env_id!r}: {e}; pass a registered Gymnasium id") from None
        modes = _entry_point_render_modes(spec)
        self._renders = modes is None or "rgb_array" in modes
        self._env = gym.make(env_id, **({"render_mode": "rgb_array"} if self._renders else {}), **kwargs)
        if not self._renders and not _is_pixel_space(self._env.observation_space):
            self._env.close()
            raise ValueError(
                f"{env_id} neither renders rgb_array nor observes uint8 images "
                f"(its observation space is {self._env.observation_space}); worldfm records frames"
            )
        if not isinstance(self._env.action_space, spaces.Box):
            space = self._env.action_space
            self._env.close()
            raise ValueError(
                f"{env_id} has action space {space}; a world model is conditioned on action vectors, "
                "so only Box action spaces can be recorded (wrap a discrete env to take a Box)"
            )
        self.env_id = env_id
        self.size = size
        self.render_mode = render_mode
        self.action_space = self._env.action_space
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        fps = self._env.metadata.get("render_fps") or self.metadata["render_fps"]
        self.metadata = {**self.metadata, "render_fps": fps}
        self._frame: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        # The inner env's reset draws from a seed taken from self.np_random, so a seed fixes both.
        state, info = self._env.reset(seed=int(self.np_random.integers(2**31 - 1)), options=options)
        self.action_space.seed(int(self.np_random.integers(2**31 - 1)))
        return self._observe(state, info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._frame is None:
            raise ResetNeeded(f"PixelGymEnv({self.env_id}): call reset() before step()")
        action = finite_actions(action, self.action_space).astype(self.action_space.dtype)
        state, reward, terminated, truncated, info = self._env.step(action)
        obs, info = self._observe(state, info)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def _observe(self, state: Any, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        frame = self._env.render() if self._renders else state
        self._frame = square_frame(np.asarray(frame), self.size)
        return self._frame.copy(), {**info, "state": state}

    def render(self) -> np.ndarray:
        """The current frame, uint8 ``(size, size, 3)``."""
        if self._frame is None:
            raise ResetNeeded(f"PixelGymEnv({self.env_id}): call reset() before render()")
        return self._frame.copy()

    def close(self) -> None:
        self._env.close()


def _entry_point_render_modes(spec: gym.envs.registration.EnvSpec) -> list[str] | None:
    """The ``metadata["render_modes"]`` of the class an id makes, when it is a class (else None)."""
    entry = spec.entry_point
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None
    return getattr(entry, "metadata", {}).get("render_modes")


def load_policy(name: str) -> Policy | None:
    """``"random"`` (None: sample the action space) or ``"module:callable"``, imported."""
    if name == "random":
        return None
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"--policy must be 'random' or 'module:callable', got {name!r}")
    try:
        policy = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--policy {name}: cannot import it ({e})") from None
    if not callable(policy):
        raise ValueError(f"--policy {name} is not callable; it must be policy(observation) -> action")
    return policy


def _array_name(key: str) -> str:
    """A shard array name for an info key: ``info_`` and the key's letters, digits, '-' and '_'."""
    return "info_" + re.sub(r"[^A-Za-z0-9_-]", "_", key)


def _numeric(value: Any) -> np.ndarray | None:
    a = np.asarray(value)
    if a.dtype.kind in "biuf" and a.size <= 64:
        return a
    return None


def _info_arrays(infos: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The numeric ``info`` entries every step reported with one shape, as arrays, one row per entry
    of ``infos``; ``state`` (the observation) and anything else is left out."""
    out = {}
    for key in infos[0]:
        if key == "state":
            continue
        values = [_numeric(info.get(key)) for info in infos]
        if any(v is None for v in values) or len({v.shape for v in values}) != 1:
            continue
        stacked = np.stack(values)
        out[_array_name(key)] = stacked.astype(bool if stacked.dtype == bool else np.float32)
    return out


def _bounds(space: spaces.Box) -> dict[str, list[float]] | None:
    """The Box as ``{"low", "high"}`` when finite (an unbounded dimension has no box to declare)."""
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        return None
    return {"low": low.ravel().tolist(), "high": high.ravel().tolist()}


def generate_episodes(
    num_episodes: int,
    *,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    policy: str = "random",
    size: int = 64,
    seed: int = 0,
    frames_per_episode: int = 50,
) -> Iterator[Episode]:
    """Roll out ``policy`` in ``PixelGymEnv(env_id)`` and yield the rendered episodes.

    Episode ``i`` is reset with a seed drawn from ``np.random.default_rng([seed, i])`` (its random
    actions too), so it depends only on ``(seed, i)``. An episode ends when the env terminates or
    truncates, or at ``frames_per_episode`` frames; one that ends before two frames is skipped.

    Yields:
        ``Episode`` with ``source="gym"``, ``fps`` the env's ``render_fps``, ``frames["main"]``
        uint8 (T, size, size, 3) and ``arrays``: ``actions`` (T-1, A) float32 (row t acts between
        frame t and t+1), ``rewards`` (T-1,) float32, ``terminated`` (T-1,) bool, and each numeric
        ``info`` entry the env reports on every step as ``info_<key>`` (T-1, ...) (for heads and
        evaluation, never model inputs). ``meta`` has ``task`` (the env id), ``caption``,
        ``policy``, ``action_space`` (the env's bounds, when finite: the learned env's action
        space), ``sim_env`` (``worldfm/GymPixels-v0`` with this env: where the learned env starts
        its episodes), ``terminated``, ``seed``, ``episode_index`` and ``reset_seed``.
    """
    if num_episodes < 0:
        raise ValueError(f"num_episodes must be >= 0, got {num_episodes}")
    if frames_per_episode < 2:
        raise ValueError(f"frames_per_episode must be at least 2 (one action), got {frames_per_episode}")
    act = load_policy(policy)
    kwargs = dict(env_kwargs or {})
    env = PixelGymEnv(env_id, env_kwargs=kwargs, size=size)
    space = env.action_space
    meta = {
        "task": env_id,
        "caption": f"An episode of the Gymnasium environment {env_id}.",
        "policy": policy,
        "sim_env": {"id": GYM_PIXELS_ID, "kwargs": {"env_id": env_id, "env_kwargs": kwargs, "size": size}},
    }
    bounds = _bounds(space)
    if bounds is not None:
        meta["action_space"] = bounds
    try:
        for i in range(num_episodes):
            reset_seed = int(np.random.default_rng([seed, i]).integers(2**31 - 1))
            frame, info = env.reset(seed=reset_seed)
            frames, actions, rewards, dones, infos = [frame], [], [], [], []
            ended = False
            while len(frames) < frames_per_episode and not ended:
                action = env.action_space.sample() if act is None else act(info["state"])
                action = finite_actions(action, space)
                frame, reward, terminated, truncated, info = env.step(action)
                frames.append(frame)
                actions.append(action)
                rewards.append(reward)
                dones.append(terminated)
                infos.append(info)
                ended = terminated or truncated
            if len(frames) < 2:
                continue
            yield Episode(
                source="gym",
                episode_id=f"gym-{re.sub(r'[^A-Za-z0-9_-]', '_', env_id)}-s{seed}-e{i:06d}",
                fps=float(env.metadata["render_fps"]),
                frames={"main": np.stack(frames)},
                arrays={
                    "actions": np.stack(actions).astype(np.float32),
                    "rewards": np.asarray(rewards, np.float32),
                    "terminated": np.asarray(dones, bool),
                    **_info_arrays(infos),
                },
                meta={
                    **meta,
                    "terminated": bool(dones[-1]),
                    "seed": seed,
                    "episode_index": i,
                    "reset_seed": reset_seed,
                },
            )
    finally:
        env.close()

"""Stable-Baselines3 on the learned env's batched vector env: one model call steps every env.

SB3 takes a Gymnasium env through ``DummyVecEnv`` (one model call per env and step) but refuses a
Gymnasium ``VectorEnv``. ``SB3VecEnv`` is SB3's ``VecEnv`` over ``WorldModelVectorEnv``: SB3's
auto-reset is Gymnasium's ``SAME_STEP`` mode (the ending step returns the next episode's first
observation, the last one in ``infos[i]["terminal_observation"]``), so the native env runs in that
mode. Needs the ``rl`` extra (``pip install worldfm[rl]``: stable-baselines3); SB3 is imported
when this module is.

    from stable_baselines3 import PPO
    from envs.sb3 import make_sb3_vec_env
    venv = make_sb3_vec_env("worldfm/FetchPush-WM-v0", num_envs=8)
    PPO("MlpPolicy", venv, n_steps=64).learn(512)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from envs.world_env import WorldModelVectorEnv


class SB3VecEnv(VecEnv):
    """SB3's ``VecEnv`` over a ``WorldModelVectorEnv`` built with ``autoreset_mode=SAME_STEP``.

    ``step_wait`` returns ``(obs, rewards, dones, infos)`` as SB3 expects: ``dones`` is
    terminated or truncated, ``infos[i]["TimeLimit.truncated"]`` tells a truncation (so PPO
    bootstraps its value), ``infos[i]["terminal_observation"]`` the ended episode's last observation.
    ``seed(s)`` seeds the next ``reset``; ``get_attr`` / ``env_method`` reach the native vector env
    (one object for all indices).
    """

    def __init__(self, env: WorldModelVectorEnv) -> None:
        if env.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3VecEnv needs the vector env's autoreset_mode=AutoresetMode.SAME_STEP (SB3 resets in "
                f"the step that ends an episode), got {env.autoreset_mode.name}"
            )
        self.env = env
        self.render_mode = env.render_mode
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if "is_success" in info:  # SB3's callbacks read a per-env "is_success" (Fetch's twins report it)
            for i in range(self.num_envs):
                infos[i]["is_success"] = bool(info["is_success"][i])
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.env.render()
        return list(frames) if frames is not None else [None] * self.num_envs

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.env, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def make_sb3_vec_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> SB3VecEnv:
    """``SB3VecEnv`` over ``gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point",
    autoreset_mode=SAME_STEP, **kwargs)`` of a registered learned env."""
    env = gym.make_vec(
        env_id,
        num_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        **kwargs,
    )
    if not isinstance(env, WorldModelVectorEnv):
        raise ValueError(f"{env_id} makes a {type(env).__name__}, not a WorldModelVectorEnv")
    return SB3VecEnv(env)

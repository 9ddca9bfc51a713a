"""The simulators answer bad actions as the learned env does, and every env declares render_fps."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import envs  # noqa: F401 - registers the ids
from envs.world_env import DEFAULT_RENDER_FPS, WorldModelEnv

SIMULATORS = [
    ("worldfm/FetchPush-v0", {"size": 32}),
    ("worldfm/Orbit-v0", {"height": 32}),
    ("worldfm/Driving-v0", {"size": 32}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), SIMULATORS)
def test_simulator_step_before_reset_raises_reset_needed(env_id: str, kwargs: dict) -> None:
    env = gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped
    try:
        with pytest.raises(ResetNeeded, match="reset"):
            env.step(np.zeros(env.action_space.shape, np.float32))
    finally:
        env.close()


@pytest.mark.parametrize(("env_id", "kwargs"), SIMULATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_simulator_refuses_nan_and_infinite_actions(env_id: str, kwargs: dict, bad: float) -> None:
    env = gym.make(env_id, **kwargs)
    try:
        env.reset(seed=0)
        action = np.zeros(env.action_space.shape, np.float32)
        action[0] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            env.step(action)
    finally:
        env.close()


@pytest.mark.parametrize(("env_id", "kwargs"), SIMULATORS)
def test_every_simulator_declares_render_fps(env_id: str, kwargs: dict) -> None:
    assert gym.spec(env_id) and gym.make(env_id, **kwargs).metadata["render_fps"] > 0


def test_learned_envs_declare_render_fps_by_default() -> None:
    assert WorldModelEnv.metadata["render_fps"] == DEFAULT_RENDER_FPS

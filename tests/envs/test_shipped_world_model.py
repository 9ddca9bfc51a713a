"""The shipped action-conditioned Fetch world model as a Gymnasium env, straight after install."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.registration import register_world_model_envs
from worldmodel.shipped import SHIPPED_CHECKPOINTS

SHIPPED = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit"
pytestmark = pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped checkpoint")


def test_shipped_fetch_world_model_is_a_registered_gymnasium_env() -> None:
    register_world_model_envs()  # idempotent; another test may have popped the id
    env = gym.make("worldfm/FetchPush-WM-v0")
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        # Pushing the gripper down, the predicted frame changes, and differently than pushing up.
        down, *_ = env.step(np.array([0, 0, -1, 0], np.float32))
        env.reset(seed=0)
        up, *_ = env.step(np.array([0, 0, 1, 0], np.float32))
        assert np.abs(down.astype(int) - up.astype(int)).mean() > 1.0
    finally:
        env.close()


def test_shipped_autoregressive_model_is_its_own_registered_env() -> None:
    """The AR checkpoint behind the same WorldModel API gets its own id, leaving the DiT's alone."""
    if not (SHIPPED_CHECKPOINTS / "fetchpush-wm-ar" / "config.json").exists():
        pytest.skip("no shipped autoregressive checkpoint")
    ids = register_world_model_envs()
    assert {"worldfm/FetchPush-WM-v0", "worldfm/FetchPush-WM-AR-v0"} <= set(ids)
    assert gym.spec("worldfm/FetchPush-WM-v0").kwargs["checkpoint"].endswith("fetchpush-wm-dit")
    env = gym.make("worldfm/FetchPush-WM-AR-v0")
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        frame, *_ = env.step(np.array([0, 0, -1, 0], np.float32))
        assert frame.shape == (64, 64, 3)
    finally:
        env.close()

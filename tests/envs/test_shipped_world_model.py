"""The shipped action-conditioned Fetch and driving world models as Gymnasium envs, straight after install."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

from envs.driving_world_env import DrivingWorldModelEnv
from envs.registration import register_envs, register_world_model_envs
from worldmodel.shipped import SHIPPED_CHECKPOINTS

SHIPPED = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit"
pytestmark = pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped checkpoint")


def test_shipped_fetch_world_model_is_a_registered_gymnasium_env() -> None:
    register_envs()  # idempotent; another test may have popped the id
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


def test_shipped_driving_model_is_a_registered_env_shaped_like_world_model_env() -> None:
    if not (SHIPPED_CHECKPOINTS / "driving-wm-dit" / "config.json").exists():
        pytest.skip("no shipped driving checkpoint")
    register_envs()
    env = gym.make("worldfm/Driving-WM-v0", sampler_steps=1)
    try:
        assert isinstance(env.unwrapped, DrivingWorldModelEnv)
        with pytest.raises(ResetNeeded):
            env.unwrapped.step(np.zeros(2, np.float32))
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=0)
        assert obs.shape == (64, 192, 3) and set(info["views"]) == {"left", "front", "right"}
        again, again_info = env.reset(seed=0)
        np.testing.assert_array_equal(obs, again)
        assert again_info["sim_reset_seed"] == info["sim_reset_seed"]
        speed = info["speed"]
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], np.float32))
        assert obs.shape == (64, 192, 3) and info["speed"] > speed and reward > 0
        assert not terminated and not truncated
        with pytest.raises(ValueError, match=r"action must have shape \(2,\)"):
            env.step(np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="NaN or infinite"):
            env.step(np.array([np.nan, 0.0], np.float32))
    finally:
        env.close()


def test_shipped_fetch_world_model_in_latent_mode_passes_check_env_and_renders_pixels() -> None:
    register_envs()
    env = gym.make("worldfm/FetchPush-WM-v0", obs_mode="latent", sampler_steps=2)
    try:
        with warnings.catch_warnings():
            # Latents are unbounded by design: the model's samples have no hard range.
            warnings.filterwarnings("ignore", message=".*Box observation space m.* value is .*infinity")
            check_env(env.unwrapped, skip_render_check=True)
        obs, _ = env.reset(seed=0)
        world = env.unwrapped.world
        assert obs.shape == world.latent_shape == (16, 8, 8) and obs.dtype == np.float32
        latent, reward, *_ = env.step(np.array([0, 0, -1, 0], np.float32))
        assert latent in env.observation_space and np.isfinite(reward)
        frame = env.render()
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 10
    finally:
        env.close()


def test_shipped_reward_head_scores_latents_as_it_scores_their_frames() -> None:
    from envs.learned_reward import LearnedReward
    from worldmodel.world import WorldModel

    world = WorldModel.from_pretrained(SHIPPED)
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    pixels = LearnedReward.from_checkpoint(SHIPPED, world)
    latents = LearnedReward.from_checkpoint(SHIPPED, world, obs_mode="latent")
    expected = pixels.score(frames)
    got = latents.score(world.encode(frames[:, None])[:, :, 0].numpy())
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_shipped_fetch_latent_vector_env_steps_a_batch() -> None:
    register_envs()
    envs = gym.make_vec(
        "worldfm/FetchPush-WM-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        obs_mode="latent",
        sampler_steps=2,
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 16, 8, 8) and obs.dtype == np.float32
        obs, rewards, terminated, truncated, _ = envs.step(np.zeros((2, 4), np.float32))
        assert obs.shape == (2, 16, 8, 8) and rewards.shape == (2,) and np.isfinite(rewards).all()
    finally:
        envs.close()


def test_simulator_in_pixel_mode_has_the_learned_envs_spaces_and_runs_its_policy() -> None:
    register_envs()
    learned = gym.make("worldfm/FetchPush-WM-v0")
    sim = gym.make("worldfm/FetchPush-v0", obs_mode="pixels")
    assert learned.observation_space == sim.observation_space  # Box(0, 255, (64, 64, 3), uint8)
    assert learned.action_space == sim.action_space

    def policy(frame: np.ndarray) -> np.ndarray:
        # An image policy as one would write it for the learned env: it reads pixels only.
        return np.array([frame[..., 0].mean() / 255 - 0.5, 0.5, -0.5, 0.0], np.float32)

    try:
        for env in (learned, sim):
            obs, _ = env.reset(seed=0)
            for _ in range(2):
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                assert obs in env.observation_space and -1.0 <= reward <= 0.0
    finally:
        learned.close()
        sim.close()

"""Fetch simulator: env contract, recorded episodes, determinism and the scripted policies."""

import re
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.sim.episode import Episode
from envs.sim.fetch import POLICIES, TASKS, FetchSimEnv, generate_episodes, make_policy, push_progress
from envs.sim.fetch_policies import PickAndPlaceExpert, PushExpert, SmoothRandomPolicy

TABLE_BLOCK_Z = 0.425  # block centre resting on the table


def _run(env: FetchSimEnv, policy, seed: int, steps: int) -> tuple[list[dict], list[np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    policy.reset()
    states, actions = [obs], []
    for _ in range(steps):
        action = policy(obs)
        obs, *_ = env.step(action)
        states.append(obs)
        actions.append(action)
    return states, actions


@pytest.mark.parametrize("task", sorted(TASKS))
def test_fetch_env_passes_gymnasium_check_env(task: str) -> None:
    env = FetchSimEnv(task, size=32)
    with warnings.catch_warnings():
        # Fetch's own observation space is unbounded; that is upstream's choice, not ours.
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("size", [32, 48])
def test_render_is_uint8_square_of_requested_size(size: int) -> None:
    env = FetchSimEnv("push", size=size)
    env.reset(seed=0)
    frame = env.render()
    env.close()
    assert frame.shape == (size, size, 3)
    assert frame.dtype == np.uint8
    assert frame.std() > 10  # a scene, not a blank buffer


def test_reset_same_seed_same_obs_and_info_has_success() -> None:
    env = FetchSimEnv("pickandplace", size=32)
    first, info = env.reset(seed=5)
    env.step(env.action_space.sample())
    second, _ = env.reset(seed=5)
    env.close()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert "is_success" in info


def test_step_truncates_at_max_episode_steps_and_never_terminates() -> None:
    env = FetchSimEnv("push", size=32, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(4, np.float32))[2:4] for _ in range(3)]
    env.close()
    assert flags == [(False, False), (False, False), (False, True)]


def test_generated_episodes_have_aligned_shapes_and_dtypes() -> None:
    episodes = list(generate_episodes(2, size=32, seed=0, task="push", frames_per_episode=8))
    assert len(episodes) == 2
    for i, ep in enumerate(episodes):
        assert isinstance(ep, Episode)
        assert ep.source == "fetch"
        assert ep.episode_id == f"fetch-push-s0-e{i:06d}"
        assert ep.fps == pytest.approx(25.0)
        frames = ep.frames["main"]
        assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
        a = ep.arrays
        assert a["actions"].shape == (7, 4) and a["actions"].dtype == np.float32
        assert np.abs(a["actions"]).max() <= 1.0
        assert a["rewards"].shape == (7,) and a["rewards"].dtype == np.float32
        assert a["success"].shape == (8,) and a["success"].dtype == bool
        for key in ("gripper_pos", "object_pos", "goal_pos"):
            assert a[key].shape == (8, 3) and a[key].dtype == np.float32
        # The progress label training reads is recorded from those positions, not recomputed later.
        assert a["progress"].shape == (8,) and a["progress"].dtype == np.float32
        positions = (a["gripper_pos"], a["object_pos"], a["goal_pos"])
        np.testing.assert_array_equal(a["progress"], push_progress(*positions))
        assert ep.meta["task"] == "push"
        assert ep.meta["policy"] in POLICIES
        assert ep.meta["success"] == bool(a["success"][-1])
        assert "block" in ep.meta["caption"]
        # Resets that start solved are redrawn, so no episode begins with the block on the goal.
        assert not a["success"][0]


def test_replaying_recorded_actions_reproduces_frames() -> None:
    """Row t of ``actions`` takes frame t to frame t+1: replaying them from the reset seed re-renders
    the episode exactly (what running a learned env on the same actions relies on)."""
    (ep,) = generate_episodes(1, size=32, seed=1, frames_per_episode=6, policy_mix={"noisy_expert": 1.0})
    env = FetchSimEnv("push", size=32)
    env.reset(seed=ep.meta["reset_seed"])
    replay = [env.render()]
    for action in ep.arrays["actions"]:
        env.step(action)
        replay.append(env.render())
    env.close()
    np.testing.assert_array_equal(np.stack(replay), ep.frames["main"])
    assert np.abs(np.diff(ep.frames["main"].astype(np.int16), axis=0)).max() > 0  # the arm moved


def test_same_seed_gives_identical_episodes() -> None:
    a = list(generate_episodes(2, size=32, seed=3, frames_per_episode=6))
    b = list(generate_episodes(2, size=32, seed=3, frames_per_episode=6))
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ea.frames["main"], eb.frames["main"])
        np.testing.assert_array_equal(ea.arrays["actions"], eb.arrays["actions"])
        assert ea.meta == eb.meta


def test_different_seeds_give_different_frames() -> None:
    (a,) = generate_episodes(1, size=32, seed=0, frames_per_episode=4)
    (b,) = generate_episodes(1, size=32, seed=1, frames_per_episode=4)
    assert not np.array_equal(a.frames["main"], b.frames["main"])


def test_policy_mix_restricts_policies() -> None:
    kinds = {
        ep.meta["policy"]
        for ep in generate_episodes(3, size=16, seed=0, frames_per_episode=2, policy_mix={"random": 1.0})
    }
    assert kinds == {"random"}


def test_push_expert_brings_block_to_goal() -> None:
    env = FetchSimEnv("push", size=32)
    wins, moved = 0, 0
    for seed in range(4):
        states, _ = _run(env, PushExpert(np.random.default_rng(seed)), seed=100 + seed, steps=50)
        start, end = states[0]["achieved_goal"], states[-1]["achieved_goal"]
        moved += np.linalg.norm(end - start) > 0.02
        wins += np.linalg.norm(end - states[-1]["desired_goal"]) < 0.05
    env.close()
    assert moved == 4
    assert wins >= 3


def test_pickandplace_expert_lifts_block_and_places_it() -> None:
    env = FetchSimEnv("pickandplace", size=32)
    wins, lifted = 0, 0
    for seed in range(3):
        states, _ = _run(env, PickAndPlaceExpert(np.random.default_rng(seed)), seed=200 + seed, steps=50)
        block_z = np.array([s["achieved_goal"][2] for s in states])
        lifted += block_z.max() > TABLE_BLOCK_Z + 0.03
        wins += np.linalg.norm(states[-1]["achieved_goal"] - states[-1]["desired_goal"]) < 0.05
    env.close()
    assert lifted >= 2
    assert wins >= 2


def test_random_policy_is_smooth_not_jitter() -> None:
    env = FetchSimEnv("push", size=32)
    _, actions = _run(env, SmoothRandomPolicy(np.random.default_rng(0)), seed=0, steps=60)
    env.close()
    a = np.stack(actions)
    step_change = np.abs(np.diff(a, axis=0)).mean()
    shuffled_change = np.abs(a - np.random.default_rng(1).permutation(a)).mean()
    assert a.std() > 0.1  # it does move
    assert step_change < 0.5 * shuffled_change


def test_unknown_task_raises_naming_allowed_values() -> None:
    with pytest.raises(ValueError, match=re.escape(str(sorted(TASKS)))):
        FetchSimEnv("stack")
    with pytest.raises(ValueError, match="pickandplace"):
        next(generate_episodes(1, task="reach"))


def test_too_small_size_raises() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        FetchSimEnv("push", size=8)


def test_bad_policy_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown policies"):
        next(generate_episodes(1, policy_mix={"expert": 1.0, "oracle": 1.0}))
    with pytest.raises(ValueError, match="positive sum"):
        next(generate_episodes(1, policy_mix={"expert": 0.0}))
    with pytest.raises(ValueError, match="policy must be one of"):
        make_policy("push", "oracle", np.random.default_rng(0))


def test_push_progress_is_minus_block_to_goal_plus_half_gripper_to_block() -> None:
    from envs.sim.fetch import push_progress

    goal = np.array([[1.0, 1.0, 0.4]] * 3)
    block = np.array([[1.0, 1.0, 0.4], [1.1, 1.0, 0.4], [1.3, 1.0, 0.4]])
    gripper = np.array([[1.0, 1.0, 0.4], [1.1, 1.2, 0.4], [1.3, 1.0, 0.4]])
    np.testing.assert_allclose(push_progress(gripper, block, goal), [0.0, -(0.1 + 0.1), -0.3], atol=1e-9)

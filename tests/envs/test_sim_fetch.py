"""Fetch simulator: env contract, recorded episodes, determinism and the scripted policies."""

import re
import warnings

import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

from envs.sim.episode import Episode
from envs.sim.fetch import (
    COVERAGE_POLICY_MIX,
    POLICIES,
    POLICY_MIXES,
    TASKS,
    FetchSimEnv,
    generate_episodes,
    make_policy,
    push_progress,
)
from envs.sim.fetch_coverage import block_moved, block_moved_off_goal, coverage, reached_goal
from envs.sim.fetch_policies import AnglePush, PickAndPlaceExpert, PushExpert, SmoothRandomPolicy

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


def test_pixel_observations_are_the_rendered_frame_with_the_state_in_info() -> None:
    env = FetchSimEnv("push", size=32, obs_mode="pixels")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.shape == (32, 32, 3) and env.observation_space.dtype == np.uint8
    np.testing.assert_array_equal(obs, env.render())
    obs, reward, _, _, info = env.step(np.array([1.0, 0.0, 0.0, 0.0], np.float32))
    env.close()
    assert obs in env.observation_space and reward in (-1.0, 0.0)
    # The state a scripted expert (or an evaluation) reads is still there, out of the observation.
    assert set(info["state"]) == {"observation", "achieved_goal", "desired_goal"} and "is_success" in info


def test_unknown_obs_mode_raises_naming_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"obs_mode must be one of \['state', 'pixels'\]"):
        FetchSimEnv("push", size=32, obs_mode="latent")


def test_default_mix_draws_the_same_episodes_as_before_the_coverage_kinds() -> None:
    # Recorded before the coverage kinds were added to POLICIES: datasets recorded with the default
    # mix stay reproducible from their seed.
    episodes = list(generate_episodes(6, size=16, seed=0, frames_per_episode=4))
    assert [e.meta["policy"] for e in episodes] == [
        "noisy_expert", "random", "expert", "random", "random", "expert"
    ]  # fmt: skip
    assert [e.meta["reset_seed"] for e in episodes] == [
        1394609702, 136066920, 104969665, 1373057526, 330607529, 1314403341
    ]  # fmt: skip
    sums = [float(e.arrays["actions"].sum()) for e in episodes]
    np.testing.assert_allclose(sums, [0.6613, 2.1639, -0.2793, -0.1653, -2.0037, 4.0781], atol=1e-4)


def test_policy_mix_by_name_and_unknown_names_raise() -> None:
    assert set(POLICY_MIXES) == {"default", "coverage"} and set(COVERAGE_POLICY_MIX) <= set(POLICIES)
    kinds = {
        ep.meta["policy"]
        for ep in generate_episodes(8, size=16, seed=0, frames_per_episode=2, policy_mix="coverage")
    }
    assert kinds <= set(COVERAGE_POLICY_MIX) and len(kinds) >= 3
    with pytest.raises(ValueError, match=r"policy_mix must be one of \['default', 'coverage'\]"):
        next(generate_episodes(1, policy_mix="contact"))


def test_coverage_mix_moves_the_block_in_more_episodes_than_random() -> None:
    common = {"size": 16, "seed": 0, "frames_per_episode": 30}
    covered = coverage(generate_episodes(8, policy_mix="coverage", **common))
    random = coverage(generate_episodes(8, policy_mix={"random": 1.0}, **common))
    assert covered["block_moved"] >= random["block_moved"] + 0.25
    assert covered["reached_goal"] > random["reached_goal"]


def test_angle_push_pushes_the_block_in_many_directions() -> None:
    env = FetchSimEnv("push", size=16)
    directions = []
    for seed in range(6):
        states, _ = _run(env, AnglePush(np.random.default_rng(seed)), seed=300 + seed, steps=30)
        moved = states[-1]["achieved_goal"][:2] - states[0]["achieved_goal"][:2]
        assert np.linalg.norm(moved) > 0.02
        directions.append(np.arctan2(moved[1], moved[0]))
    env.close()
    # The expert pushes along one line per episode; these cover at least three quadrants.
    assert len({int((d + np.pi) // (np.pi / 2)) for d in directions}) >= 3


def test_coverage_flags_on_hand_made_block_paths() -> None:
    still = np.array([[1.3, 0.7, 0.42]] * 4)
    goal = np.array([[1.4, 0.7, 0.42]] * 4)
    toward = still + [[0.0, 0, 0], [0.01, 0, 0], [0.03, 0, 0], [0.02, 0, 0]]
    sideways = still + [[0.0, 0, 0], [0.0, 0.01, 0], [0.0, 0.05, 0], [0.0, 0.01, 0]]
    assert not block_moved(still) and block_moved(toward) and block_moved(sideways)
    assert not block_moved(still + np.array([[0, 0, 0]] * 3 + [[0.015, 0, 0]]))  # under 2 cm
    away = still - [[0.0, 0, 0], [0.01, 0, 0], [0.05, 0, 0], [0.02, 0, 0]]
    assert not block_moved_off_goal(still + [[0.0, 0, 0], [0.02, 0.03, 0], [0.0, 0, 0], [0.0, 0, 0]], goal)
    assert not block_moved_off_goal(toward, goal)
    assert block_moved_off_goal(sideways, goal) and block_moved_off_goal(away, goal)
    assert reached_goal(np.array([False, True, False])) and not reached_goal(np.zeros(3, bool))


def test_set_state_returns_to_a_state_so_the_same_actions_replay_exactly() -> None:
    env = FetchSimEnv(task="push", size=32)
    env.reset(seed=3)
    actions = np.random.default_rng(0).uniform(-1, 1, (6, 4)).astype(np.float32)
    for a in actions[:2]:
        env.step(a)
    state = env.get_state()
    first = [env.step(a) for a in actions[2:]]
    frame = env.render()
    env.reset(seed=99)  # another episode (another goal) in between
    env.set_state(state)
    again = [env.step(a) for a in actions[2:]]
    for (obs, reward, *_), (obs2, reward2, *_) in zip(first, again, strict=True):
        for key in obs:
            np.testing.assert_allclose(obs[key], obs2[key], atol=1e-9)
        assert reward == reward2
    np.testing.assert_array_equal(env.render(), frame)
    assert env._steps == 6
    with pytest.raises(ResetNeeded):
        FetchSimEnv(task="push", size=32).get_state()

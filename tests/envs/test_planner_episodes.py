"""A planner's MPC episodes recorded as Fetch training episodes (``envs.planner_episodes``)."""

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from envs.evaluate import start_episode
from envs.planner_episodes import RecordEpisodeArrays, planner_episodes
from envs.record import record_episodes
from envs.sim.fetch import FetchSimEnv, episode_arrays, push_progress
from training.data import ClipDataset

SIZE = 32
SIM = partial(FetchSimEnv, "push", size=SIZE, max_episode_steps=None)


class SweepPlanner:
    """A stand-in for ``LatentPlanner`` (what ``mpc_episode`` uses of it): a fixed sweep of actions."""

    context_frames = 2

    def __init__(self) -> None:
        self.t = 0

    def reset(self) -> None:
        self.t = 0

    def act(self, context: np.ndarray, obs: object = None) -> np.ndarray:
        assert context.shape == (self.context_frames, SIZE, SIZE, 3)
        self.t += 1
        return np.array([0.5, -0.5 * self.t, 0.3, 0.0], np.float32)


def test_planner_episodes_hold_the_context_then_one_frame_per_planned_action() -> None:
    (episode,) = planner_episodes(SweepPlanner(), SIM, episodes=1, steps=3, seed=4, round_index=2)
    frames, arrays, meta = episode.frames["main"], episode.arrays, episode.meta
    assert frames.shape == (2 + 3, SIZE, SIZE, 3)
    # The context's zero-action step, then the planner's actions, as applied.
    expected = [[0, 0, 0, 0], [0.5, -0.5, 0.3, 0], [0.5, -1.0, 0.3, 0], [0.5, -1.0, 0.3, 0]]
    np.testing.assert_allclose(arrays["actions"], expected)
    for name in ("gripper_pos", "object_pos", "goal_pos"):
        assert arrays[name].shape == (5, 3)
    assert arrays["rewards"].shape == (4,) and arrays["success"].shape == (5,)
    np.testing.assert_allclose(
        arrays["progress"], push_progress(arrays["gripper_pos"], arrays["object_pos"], arrays["goal_pos"])
    )
    assert meta["policy"] == "planner" and meta["round"] == 2 and meta["episode_index"] == 0
    assert episode.episode_id == "fetch-push-planner-r2-s4-e000000"


def test_recorded_planner_episode_replays_exactly_in_the_simulator() -> None:
    (episode,) = planner_episodes(SweepPlanner(), SIM, episodes=1, steps=3, seed=0, round_index=1)
    sim = SIM()
    obs, _ = sim.reset(seed=episode.meta["reset_seed"])
    frames, states = [sim.render()], [obs]
    rewards, success = [], [False]
    for action in episode.arrays["actions"]:
        obs, reward, _, _, info = sim.step(action)
        frames.append(sim.render())
        states.append(obs)
        rewards.append(reward)
        success.append(bool(info["is_success"]))
    sim.close()
    replay = episode_arrays(frames, states, list(episode.arrays["actions"]), rewards, success)
    np.testing.assert_array_equal(replay.pop("frames"), episode.frames["main"])
    for name, array in replay.items():
        np.testing.assert_array_equal(array, episode.arrays[name], err_msg=name)


def test_recorded_starts_differ_between_rounds_and_from_the_evaluation_starts() -> None:
    def starts(round_index: int) -> list[int]:
        eps = planner_episodes(SweepPlanner(), SIM, episodes=2, steps=1, seed=0, round_index=round_index)
        return [e.meta["reset_seed"] for e in eps]

    sim = SIM()
    # evaluate_planner's episode i starts from default_rng([seed, i]).
    evaluation = [start_episode(sim, np.random.default_rng([0, i]), 2)[2] for i in range(4)]
    sim.close()
    first, second = starts(1), starts(2)
    assert len({*first, *second, *evaluation}) == 8


def test_recorder_refuses_a_second_render_of_one_state() -> None:
    sim = RecordEpisodeArrays(SIM())
    sim.reset(seed=0)
    sim.render()
    with pytest.raises(ValueError, match="render the frame of each state once"):
        sim.render()
    sim.close()


def test_planner_episodes_are_shards_the_trainers_read(tmp_path: Path) -> None:
    episodes = planner_episodes(SweepPlanner(), SIM, episodes=2, steps=2, seed=0, round_index=1)
    manifest = record_episodes(episodes, tmp_path, total=2, progress=False)
    assert manifest["stats"]["policy_counts"] == {"planner": 2}
    arrays = ("actions", "rewards", "success", "progress")
    clips = ClipDataset(tmp_path, frames=3, size=SIZE, arrays=arrays)
    assert len(clips) == 2
    for clip in clips.clips:
        assert clip.frames.shape == (4, SIZE, SIZE, 3)
        assert clip.arrays["actions"].shape == (3, 4) and clip.arrays["progress"].shape == (4,)

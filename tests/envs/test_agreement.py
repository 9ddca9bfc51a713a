"""Reward and termination agreement of the simulator and its learned twin (``envs.agreement``)."""

import gymnasium as gym
import numpy as np
import pytest

from envs.agreement import agreement_table, reward_agreement, summarise
from envs.registration import register_envs
from envs.sim.fetch import FetchSimEnv
from worldmodel.shipped import SHIPPED_CHECKPOINTS


def test_summary_counts_steps_up_to_each_episodes_termination() -> None:
    rewards = np.array([[-1.0, -1.0, 0.0, -2.0], [-1.0, -0.5, -1.0, -1.0]])
    terminated = np.array([[False, False, True, False], [False, False, False, False]])
    success = np.array([[False, False, True, True], [False, False, False, False]])
    row = summarise("model", "random", rewards, terminated, success)
    # Episode 0 ends at step 3: its 4th step (-2) is after the end and does not count.
    assert (row.episodes, row.mean_length, row.termination_rate, row.success_rate) == (2, 3.5, 0.5, 0.5)
    assert row.first_success == 3.0 and (row.reward_min, row.reward_max) == (-1.0, 0.0)
    assert row.reward_mean == pytest.approx((-1 - 1 + 0 - 1 - 0.5 - 1 - 1) / 7)


def test_success_after_the_end_does_not_count() -> None:
    success = np.array([[False, True]])
    row = summarise("model", "expert", np.array([[0.0, 0.0]]), np.array([[True, False]]), success)
    assert row.success_rate == 0.0 and row.mean_length == 1.0 and np.isnan(row.first_success)


@pytest.mark.skipif(
    not (SHIPPED_CHECKPOINTS / "fetchpush-wm-dit" / "config.json").exists(), reason="no shipped checkpoint"
)
def test_shipped_model_and_simulator_are_summarised_side_by_side_within_fetchs_reward_range() -> None:
    register_envs()
    model = gym.make_vec("worldfm/FetchPush-WM-v0", num_envs=2, vectorization_mode="vector_entry_point")
    sim = FetchSimEnv("push", size=64)
    try:
        rows = reward_agreement(model, sim, steps=2, seed=0)
    finally:
        model.close()
        sim.close()
    assert [(r.policy, r.world) for r in rows] == [
        ("random", "simulator"), ("random", "model"), ("expert", "simulator"), ("expert", "model")
    ]  # fmt: skip
    for row in rows:
        assert row.episodes == 2 and -1.0 <= row.reward_min <= row.reward_max <= 0.0
    # The simulator never ends an episode early.
    assert all(r.termination_rate == 0 and r.mean_length == 2 for r in rows if r.world == "simulator")
    assert agreement_table(rows).count("\n") == len(rows) + 1


def test_agreement_needs_the_simulator_state_and_known_policies() -> None:
    class TwoEnvs:
        num_envs = 2

    sim = FetchSimEnv("push", size=16, obs_mode="pixels")
    with pytest.raises(ValueError, match="obs_mode='state'"):
        reward_agreement(TwoEnvs(), sim)
    with pytest.raises(ValueError, match="policies must be from"):
        reward_agreement(TwoEnvs(), sim, policies=["planner"])
    sim.close()

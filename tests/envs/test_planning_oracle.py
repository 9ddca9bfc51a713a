"""The planner with the simulator as its model (``envs.planning_oracle``): its returns are the
simulator's own progress along each candidate, and planning leaves the episode's state alone."""

from pathlib import Path

import numpy as np
import pytest

from app.cli.eval import fetch_world as load_fetch_world
from app.cli.plan import build_planner
from envs.planner_config import PlannerConfig
from envs.planning import evaluate_planner
from envs.planning_oracle import SimulatorPlanner
from envs.sim.fetch import FetchSimEnv, push_progress

CONFIG = PlannerConfig(
    horizon=2, population=6, elites=2, iterations=1, prior_samples=6, action_repeat=2, objective="progress"
)


def _planner(checkpoint: Path, score: str = "progress") -> tuple[SimulatorPlanner, FetchSimEnv]:
    world, sim_factory, _, reward_fn = load_fetch_world(str(checkpoint), "push")
    sim = sim_factory()
    base = build_planner(world, reward_fn, CONFIG, task="push", prior="noisy_expert", seed=0)
    return SimulatorPlanner(base, sim, score), sim


def test_returns_are_the_simulators_progress_summed_along_each_candidate(fetch_world: Path) -> None:
    planner, sim = _planner(fetch_world)
    sim.reset(seed=5)
    sequences = np.random.default_rng(1).uniform(-1, 1, (3, CONFIG.horizon, 4)).astype(np.float32)
    before = sim.get_state()
    returns = planner.returns(None, sequences)
    expected = []
    for sequence in sequences:
        sim.set_state(before)
        total = 0.0
        for action in np.repeat(sequence, CONFIG.action_repeat, axis=0):
            obs = sim.step(action)[0]
            total += float(push_progress(obs["observation"][:3], obs["achieved_goal"], obs["desired_goal"]))
        expected.append(total)
    np.testing.assert_allclose(returns, expected, rtol=1e-9)
    sim.set_state(before)
    planner.returns(None, sequences)
    after = sim.get_state()
    for a, b in zip(before.physics, after.physics, strict=True):
        np.testing.assert_array_equal(a, b)
    assert after.steps == before.steps


@pytest.mark.parametrize("score", ["progress", "head"])
def test_the_simulator_planner_runs_whole_episodes(fetch_world: Path, score: str) -> None:
    planner, sim = _planner(fetch_world, score)
    results = evaluate_planner(planner, lambda: sim, {}, episodes=1, steps=4, seed=0)
    assert 0 <= results["planner"]["success_rate"] <= 1
    assert results["planner"]["seconds_per_action"] > 0


def test_an_unknown_score_is_a_clear_error(fetch_world: Path) -> None:
    with pytest.raises(ValueError, match="score must be one of"):
        _planner(fetch_world, "oracle")

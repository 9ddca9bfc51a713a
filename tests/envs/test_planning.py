"""CEM model-predictive control: its math on an analytic stand-in for a world model (exact
pushed-square dynamics, not a learned model), its batched calls on a tiny trained WorldModel,
and `worldfm plan` on Fetch."""

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import main
from envs.planning import CEMPlanner, evaluate_planner, sequence_returns
from tests.pushed_square import (
    SIZE,
    CornerSim,
    PerfectSquareWorld,
    RandomPolicy,
    corner_reward,
    draw_square,
    square_position,
    write_square_shards,
)
from tests.tiny_worlds import train_tiny_robot_world
from worldmodel import hub
from worldmodel.heads import REWARD_HEAD_DIR
from worldmodel.world import WorldModel


def move_right(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
    return float(square_position(obs)[0] - square_position(prev)[0]), False


def context_at(x: float, y: float) -> np.ndarray:
    return np.stack([draw_square(np.array([x, y]))] * 2)


def test_sequence_returns_treat_the_first_terminated_step_as_absorbing() -> None:
    rewards = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [5.0, 0.0, 0.0, 0.0]])
    terminated = np.array([[False, True, False, True], [False] * 4, [True, False, False, False]])
    np.testing.assert_array_equal(sequence_returns(rewards, terminated), [1 + 2 + 2 + 2, 10, 20])


def test_cem_in_an_analytic_model_picks_rightward_actions_for_a_move_right_reward() -> None:
    planner = CEMPlanner(PerfectSquareWorld(), move_right, horizon=3, population=32, elites=4, iterations=3)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 12, size=(10, 2))
    planned = np.stack([planner.act(context_at(x, y)) for x, y in starts])
    # The squares can move 2 px right; random actions in the box go right half the time.
    random = rng.uniform(-2, 2, size=(10_000, 2))
    assert (planned[:, 0] > 0.5).mean() >= 0.9 > (random[:, 0] > 0.5).mean() + 0.4


def test_cem_mean_converges_to_the_best_action_of_a_quadratic_reward() -> None:
    target = np.array([1.2, -0.7])

    def quadratic(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        return -float(((action - target) ** 2).sum()), False

    planner = CEMPlanner(PerfectSquareWorld(), quadratic, horizon=2, population=64, elites=8, iterations=6)
    plan = planner.plan(context_at(12, 12))
    np.testing.assert_allclose(plan, np.tile(target, (2, 1)), atol=0.15)


def test_act_warm_starts_the_next_plan_from_the_shifted_mean() -> None:
    planner = CEMPlanner(PerfectSquareWorld(), move_right, horizon=3, population=16, elites=4, iterations=1)
    plans: list[np.ndarray] = []
    plan = planner.plan
    planner.plan = lambda context: plans.append(plan(context)) or plans[-1]
    first = planner.act(context_at(4, 4))
    np.testing.assert_array_equal(first, plans[0][0])
    np.testing.assert_array_equal(planner._mean[:-1], plans[0][1:])
    np.testing.assert_array_equal(planner._mean[-1], [0.0, 0.0])  # the box's centre fills the new last step
    planner.reset()
    np.testing.assert_array_equal(planner._mean, np.zeros((3, 2)))


def test_planner_validates_its_sizes() -> None:
    with pytest.raises(ValueError, match="elites must be in"):
        CEMPlanner(PerfectSquareWorld(), move_right, population=4, elites=5)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        CEMPlanner(PerfectSquareWorld(), move_right, horizon=0)


def test_cem_mpc_in_an_analytic_model_reaches_the_corner_where_random_does_not() -> None:
    planner = CEMPlanner(
        PerfectSquareWorld(), corner_reward, horizon=3, population=24, elites=4, iterations=2
    )
    results = evaluate_planner(planner, CornerSim, {"random": RandomPolicy}, episodes=3, steps=14, seed=0)
    assert list(results) == ["cem", "random"]
    assert results["cem"]["success_rate"] == 1.0 > results["random"]["success_rate"]
    assert results["cem"]["mean_return"] > results["random"]["mean_return"]


def test_planner_rolls_the_population_out_with_one_batched_predict_per_iteration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_square_shards(tmp_path / "shards", t=6)
    # 3 training steps: untrained.
    world = WorldModel.from_pretrained(train_tiny_robot_world(tmp_path, tmp_path / "shards"))
    calls: list[dict[str, Any]] = []
    predict = WorldModel.predict

    def recording(self: WorldModel, context: np.ndarray, **kwargs: Any) -> np.ndarray:
        calls.append(
            {"context": context.shape, "actions": kwargs["actions"].shape, "horizon": kwargs["horizon"]}
        )
        return predict(self, context, **kwargs)

    monkeypatch.setattr(WorldModel, "predict", recording)
    planner = CEMPlanner(world, move_right, horizon=3, population=6, elites=2, iterations=2, sampler_steps=1)
    action = planner.act(context_at(8, 8))
    assert action.shape == (2,) and action in planner.action_space
    assert calls == [{"context": (6, 2, SIZE, SIZE, 3), "actions": (6, 3, 2), "horizon": 3}] * 2


def test_plan_cli_reports_cem_beside_random_and_expert_on_fetch(
    fetch_world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", "--wfm", str(fetch_world), "--episodes", "1", "--steps", "2", "--horizon", "2"]
    args += ["--population", "4", "--elites", "2", "--iterations", "1", "--sampler-steps", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for row in ("| CEM MPC in the world model |", "| random (scripted) |", "| expert (scripted) |"):
        assert row in out


def test_reward_head_learns_from_imagined_rollouts_and_plans_on_progress(
    fetch_world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = hub.read_config(fetch_world / REWARD_HEAD_DIR)
    assert saved["kind"] == "head"
    assert saved["config"]["progress"] and saved["imagined_horizon"] == 2
    # Held-out clips are scored on the model's own frames too, beside the majority class.
    metrics = saved["metrics"]
    expected = {"eval/imagined_success_accuracy", "eval/imagined_progress_corr", "eval/progress_corr"}
    assert expected <= set(metrics)
    args = ["plan", "--wfm", str(fetch_world), "--episodes", "1", "--steps", "2", "--horizon", "2"]
    args += ["--population", "4", "--elites", "2", "--iterations", "1", "--sampler-steps", "1"]
    assert main([*args, "--objective", "progress"]) == 0
    assert "| CEM MPC in the world model |" in capsys.readouterr().out


def test_plan_cli_needs_a_reward_head(fetch_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A sibling folder keeps the checkpoint's relative tokenizer path valid.
    headless = fetch_world.parent / "headless"
    shutil.copytree(fetch_world, headless, ignore=shutil.ignore_patterns(REWARD_HEAD_DIR))
    assert main(["plan", "--wfm", str(headless)]) == 2
    assert "no reward head" in capsys.readouterr().err

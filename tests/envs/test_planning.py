"""Latent MPC: the MPPI / CEM math against hand-computed cases, the planner on an exact latent
stand-in for a world model (pushed-square dynamics, not a learned model), its batched calls on a
tiny trained Fetch WorldModel, and `worldfm plan` with its --json report."""

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from app.cli import main
from envs.mpc_updates import cem_update, mppi_update, mppi_weights
from envs.planner_config import PlannerConfig, load_planner_config, save_planner_config
from envs.planning import LatentPlanner, evaluate_planner, sequence_returns
from tests.latent_square import LatentSquareWorld, corner_latent_reward
from tests.pushed_square import CornerSim, RandomPolicy, draw_square
from worldmodel import hub
from worldmodel.heads import REWARD_HEAD_DIR
from worldmodel.world import WorldModel

SMALL = PlannerConfig(horizon=3, population=24, elites=4, iterations=2, prior_samples=0)


def context_at(x: float, y: float) -> np.ndarray:
    return np.stack([draw_square(np.array([x, y]))] * 2)


def zero_reward(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(len(latents)), np.zeros(len(latents), bool)


# --- the math ------------------------------------------------------------------------------


def test_sequence_returns_treat_the_first_terminated_step_as_absorbing() -> None:
    rewards = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [5.0, 0.0, 0.0, 0.0]])
    terminated = np.array([[False, True, False, True], [False] * 4, [True, False, False, False]])
    np.testing.assert_array_equal(sequence_returns(rewards, terminated), [1 + 2 + 2 + 2, 10, 20])


def test_sequence_returns_discount_rewards_and_add_the_discounted_terminal_value() -> None:
    rewards = np.array([[1.0, 2.0, 3.0]])
    returns = sequence_returns(rewards, np.zeros((1, 3), bool), discount=0.5, terminal_values=np.array([8.0]))
    np.testing.assert_allclose(returns, [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 8])


def test_mppi_update_is_the_softmax_weighted_mean_and_std_of_the_elites() -> None:
    sequences = np.array([[[0.0]], [[1.0]], [[2.0]], [[-5.0]]])  # (P=4, H=1, A=1)
    returns = np.array([1.0, 2.0, 3.0, -10.0])
    mean, std = mppi_update(sequences, returns, elites=3, temperature=1.0)
    # By hand: the elites are 2, 1, 0 (returns 3, 2, 1), weighted e^0, e^-1, e^-2.
    w = np.exp([0.0, -1.0, -2.0]) / np.exp([0.0, -1.0, -2.0]).sum()
    expected_mean = w @ np.array([2.0, 1.0, 0.0])
    expected_std = np.sqrt(w @ (np.array([2.0, 1.0, 0.0]) - expected_mean) ** 2)
    np.testing.assert_allclose(mean, [[expected_mean]])
    np.testing.assert_allclose(std, [[expected_std]])
    np.testing.assert_allclose(mppi_weights(np.array([3.0, 2.0, 1.0]), 1.0), w)


def test_mppi_update_tends_to_the_best_sequence_as_temperature_falls_and_floors_the_std() -> None:
    sequences = np.random.default_rng(0).normal(size=(16, 3, 2))
    returns = np.arange(16.0)
    mean, std = mppi_update(sequences, returns, elites=8, temperature=1e-3, min_std=0.05)
    np.testing.assert_allclose(mean, sequences[15], atol=1e-6)
    np.testing.assert_allclose(std, 0.05)


def test_cem_update_fits_mean_and_std_of_the_elites() -> None:
    sequences = np.array([[[0.0]], [[1.0]], [[3.0]], [[9.0]]])
    mean, std = cem_update(sequences, np.array([0.0, 5.0, 4.0, -1.0]), elites=2)
    np.testing.assert_allclose(mean, [[2.0]])
    np.testing.assert_allclose(std, [[1.0]])


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"horizon": 0}, "horizon must be >= 1"),
        ({"population": 4, "elites": 5}, r"elites must be in \[1, population=4\]"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"population": 4, "elites": 2, "prior_samples": 5}, "prior_samples must be in"),
        ({"method": "random"}, "method must be one of"),
        ({"objective": "distance"}, "objective must be one of"),
        ({"action_repeat": 0}, "action_repeat must be >= 1"),
        ({"action_repeat": 2, "replan_every": 3}, r"replan_every must be in \[1, action_repeat=2\]"),
        ({"replan_every": 0}, "replan_every must be in"),
        ({"discount": 0.0}, "discount must be in"),
        ({"sampler_steps": 0}, "sampler_steps must be >= 1"),
    ],
)
def test_bad_planner_settings_are_clear_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PlannerConfig(**changes)


def test_planner_settings_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    shutil.copy(Path("checkpoints/fetchpush-wm-dit/config.json"), tmp_path / "config.json")
    assert load_planner_config(tmp_path) == PlannerConfig()  # nothing saved: the defaults
    config = PlannerConfig(method="cem", horizon=6, objective="progress", sampler_steps=2)
    save_planner_config(tmp_path, config)
    assert load_planner_config(tmp_path) == config
    assert hub.read_config(tmp_path)["world_model"]["context_frames"] == 2  # the rest is kept


# --- the planner in an exact latent world --------------------------------------------------


@pytest.mark.parametrize("method", ["mppi", "cem"])
def test_mpc_in_an_exact_latent_world_reaches_the_corner_where_random_does_not(method: str) -> None:
    planner = LatentPlanner(LatentSquareWorld(), corner_latent_reward, SMALL.replace(method=method))
    results = evaluate_planner(planner, CornerSim, {"random": RandomPolicy}, episodes=3, steps=14, seed=0)
    assert list(results) == ["planner", "random"]
    assert results["planner"]["success_rate"] == 1.0 > results["random"]["success_rate"]
    assert results["planner"]["mean_return"] > results["random"]["mean_return"]
    assert results["planner"]["seconds_per_action"] > 0


def test_planner_rolls_the_population_out_with_one_batched_rollout_per_iteration() -> None:
    world = LatentSquareWorld()
    planner = LatentPlanner(world, corner_latent_reward, SMALL.replace(action_repeat=2))
    planner.act(context_at(8, 8))
    assert [r["batch"] for r in world.rollouts] == [24, 24]
    # Each planned decision is held for two model steps inside the rollout.
    actions = world.rollouts[0]["actions"]
    assert actions.shape == (24, 6, 2)
    np.testing.assert_array_equal(actions[:, ::2], actions[:, 1::2])


def test_action_repeat_holds_each_planned_action_for_that_many_steps() -> None:
    world = LatentSquareWorld()
    planner = LatentPlanner(world, corner_latent_reward, SMALL.replace(action_repeat=3, iterations=1))
    actions = [planner.act(context_at(16, 16)) for _ in range(4)]
    assert len(world.rollouts) == 2  # planned at steps 0 and 3
    np.testing.assert_array_equal(actions[0], actions[1])
    np.testing.assert_array_equal(actions[0], actions[2])


def test_replan_every_step_plans_each_step_while_looking_whole_decisions_ahead() -> None:
    world = LatentSquareWorld()
    config = SMALL.replace(action_repeat=3, replan_every=1, iterations=1)
    planner = LatentPlanner(world, corner_latent_reward, config)
    plans: list[np.ndarray] = []
    plan = planner.plan
    planner.plan = lambda context, obs=None: plans.append(plan(context, obs)) or plans[-1]
    for _ in range(4):
        planner.act(context_at(16, 16))
    assert len(world.rollouts) == 4  # a new plan at every step
    assert world.rollouts[0]["actions"].shape[1] == config.horizon * 3  # each decision still 3 model steps
    # Within a decision the next search starts from the same plan, not one shifted by a decision.
    np.testing.assert_array_equal(planner._mean, plans[-1])


def test_act_warm_starts_the_next_plan_from_the_shifted_mean() -> None:
    planner = LatentPlanner(LatentSquareWorld(), corner_latent_reward, SMALL.replace(iterations=1))
    plans: list[np.ndarray] = []
    plan = planner.plan
    planner.plan = lambda context, obs=None: plans.append(plan(context, obs)) or plans[-1]
    first = planner.act(context_at(4, 4))
    np.testing.assert_array_equal(first, plans[0][0])
    np.testing.assert_array_equal(planner._mean[:-1], plans[0][1:])
    np.testing.assert_array_equal(planner._mean[-1], [0.0, 0.0])  # the box's centre fills the new last step
    planner.reset()
    np.testing.assert_array_equal(planner._mean, np.zeros((3, 2)))


def test_a_terminal_value_alone_steers_the_plan() -> None:
    def leftward_value(latents: np.ndarray) -> np.ndarray:  # a hand-written value: further left is better
        return -latents[:, 0, 0, 0].astype(np.float64)

    config = SMALL.replace(horizon=1, iterations=3)
    planner = LatentPlanner(LatentSquareWorld(), zero_reward, config, terminal_value=leftward_value)
    assert np.round(planner.act(context_at(16, 16)))[0] == -2


def test_an_observation_prior_proposes_its_action_repeated_and_perturbed() -> None:
    calls: list[Any] = []

    def prior(obs: Any) -> np.ndarray:
        calls.append(obs)
        return np.array([-2.0, -2.0], np.float32)

    config = SMALL.replace(prior_samples=5, prior_std=0.3)
    planner = LatentPlanner(LatentSquareWorld(), corner_latent_reward, config, prior=prior)
    z = planner.world.encode(context_at(16, 16)[None])
    proposals = planner.prior_sequences(z, obs="the real observation")
    assert proposals.shape == (5, 3, 2) and calls == ["the real observation"]
    np.testing.assert_array_equal(proposals[0], np.full((3, 2), -2.0))  # the first is exact
    assert 0 < np.abs(proposals[1:] + 2).mean() < 1  # the rest perturbed, clipped into the box
    with pytest.raises(ValueError, match="pass obs="):
        planner.act(context_at(16, 16))


def test_a_good_prior_lets_a_tiny_greedy_search_take_its_action() -> None:
    # One Gaussian sample against the prior's exact proposal: the prior (straight to the corner) wins.
    config = PlannerConfig(
        horizon=1, population=2, elites=2, iterations=1, temperature=1e-3, prior_samples=1, min_std=0.0
    )
    planner = LatentPlanner(
        LatentSquareWorld(), corner_latent_reward, config, prior=lambda obs: np.array([-2.0, -2.0]), seed=3
    )
    np.testing.assert_array_equal(np.round(planner.act(context_at(16, 16), obs={})), [-2, -2])


def test_a_latent_prior_acts_inside_the_imagined_rollout() -> None:
    def toward_corner(latents: np.ndarray) -> np.ndarray:
        return -2.0 * np.sign(latents[:, :, 0, 0])  # (B, 2)

    config = SMALL.replace(prior_samples=2, prior_std=0.0)
    planner = LatentPlanner(LatentSquareWorld(), corner_latent_reward, config, latent_prior=toward_corner)
    z = planner.world.encode(context_at(10, 3)[None])
    proposals = planner.prior_sequences(z, obs=None)
    # (10, 3) -> (8, 1) -> (6, 0): y reaches the wall, so the imagined prior stops pushing up.
    np.testing.assert_array_equal(proposals[0], [[-2, -2], [-2, -2], [-2, 0]])


def test_planner_takes_one_prior() -> None:
    with pytest.raises(ValueError, match="one policy prior"):
        LatentPlanner(LatentSquareWorld(), zero_reward, prior=lambda o: np.zeros(2), latent_prior=lambda z: z)


# --- a trained world model and the command -------------------------------------------------


def test_planner_calls_rollout_latents_once_per_iteration_on_a_trained_world(
    fetch_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envs.learned_reward import load_reward_head
    from envs.planning import head_objective

    world = WorldModel.from_pretrained(fetch_world)
    reward = head_objective(world, load_reward_head(fetch_world, world), "progress")
    calls: list[tuple[int, ...]] = []
    rollout = WorldModel.rollout_latents

    def recording(
        self: WorldModel, context: torch.Tensor, actions: np.ndarray, **kwargs: Any
    ) -> torch.Tensor:
        calls.append(tuple(np.shape(actions)))
        return rollout(self, context, actions, **kwargs)

    monkeypatch.setattr(WorldModel, "rollout_latents", recording)
    config = PlannerConfig(horizon=2, population=6, elites=2, iterations=2, prior_samples=0, sampler_steps=1)
    planner = LatentPlanner(world, reward, config)
    frames = np.zeros((world.context_frames, *world.frame_size, 3), np.uint8)
    action = planner.act(frames)
    assert action.shape == (4,) and action in planner.action_space
    assert calls == [(6, 2, 4)] * 2


PLAN = ["plan", "--episodes", "1", "--steps", "2", "--horizon", "2", "--population", "4"]
PLAN += ["--elites", "2", "--iterations", "1", "--sampler-steps", "1", "--prior-samples", "1"]


def test_plan_cli_writes_success_and_time_beside_random_expert_and_prior(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    assert main([*PLAN, "--wfm", str(fetch_world), "--objective", "progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for row in ("| MPPI MPC in the world model |", "| random (scripted) |", "| expert (scripted) |"):
        assert row in text
    assert "| policy prior alone |" in text
    report = json.loads(out.read_text())
    for key in ("success_rate", "random_success_rate", "expert_success_rate", "prior_success_rate"):
        assert 0.0 <= report[key] <= 1.0
    assert report["seconds_per_action"] > 0
    assert report["planner"]["objective"] == "progress" and report["planner"]["horizon"] == 2
    assert report["terminal_value"] is False  # the value is in reward units, not progress


def test_plan_cli_takes_a_learned_latent_policy_as_prior_and_runs_it_alone(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worldmodel.heads import latent_norm_record
    from worldmodel.policies import LatentPolicy, LatentPolicyConfig
    from worldmodel.world import WorldModel

    world = WorldModel.from_pretrained(fetch_world)
    c, h, w = world.latent_shape
    config = LatentPolicyConfig(latent_channels=c, latent_size=(h, w), action_dim=world.action_dim, hidden=8)
    hub.save(LatentPolicy(config), tmp_path / "bc", extra=latent_norm_record(world))
    out = tmp_path / "plan.json"
    args = [*PLAN, "--wfm", str(fetch_world), "--prior-policy", str(tmp_path / "bc"), "--json", str(out)]
    assert main(args) == 0
    assert "| policy prior alone |" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["prior"] == f"policy:{tmp_path / 'bc'}" and 0.0 <= report["prior_success_rate"] <= 1.0
    # A policy trained on another model's latents is one line, not a traceback.
    hub.save(LatentPolicy(config), tmp_path / "other", extra={"latent_mean": [0.0], "latent_std": [9.0]})
    assert main([*PLAN, "--wfm", str(fetch_world), "--prior-policy", str(tmp_path / "other")]) == 2
    assert "another world model" in capsys.readouterr().err


def test_plan_cli_adds_the_heads_value_as_terminal_value_for_the_reward_objective(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    assert main([*PLAN, "--wfm", str(fetch_world), "--objective", "reward", "--json", str(out)]) == 0
    assert "the head's value as terminal value" in capsys.readouterr().out
    assert json.loads(out.read_text())["terminal_value"] is True


def test_plan_cli_stores_its_settings_as_the_checkpoint_default(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sibling folder keeps the checkpoint's relative tokenizer path valid.
    ckpt = fetch_world.parent / "with-planner"
    shutil.copytree(fetch_world, ckpt)
    args = [*PLAN, "--wfm", str(ckpt), "--method", "cem", "--prior", "none"]
    assert main([*args, "--save-planner"]) == 0
    saved = load_planner_config(ckpt)
    assert saved.method == "cem" and saved.population == 4
    # Read back as the default: no --method given, the stored CEM plans.
    out = tmp_path / "plan.json"
    assert main(["plan", "--wfm", str(ckpt), "--episodes", "1", "--steps", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["planner"] == {**report["planner"], "method": "cem", "population": 4, "horizon": 2}
    assert report["prior_success_rate"] is not None  # the default prior is back: --prior is not stored
    assert "| CEM MPC in the world model |" in capsys.readouterr().out


def test_reward_head_learns_from_imagined_rollouts_with_progress(fetch_world: Path) -> None:
    saved = hub.read_config(fetch_world / REWARD_HEAD_DIR)
    assert saved["kind"] == "head"
    assert saved["config"]["progress"] and saved["imagined_horizon"] == 2
    # Held-out clips are scored on the model's own frames too, beside the majority class.
    expected = {"eval/imagined_success_accuracy", "eval/imagined_progress_corr", "eval/progress_corr"}
    assert expected <= set(saved["metrics"])


def test_plan_cli_needs_a_reward_head(fetch_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    headless = fetch_world.parent / "headless"
    shutil.copytree(fetch_world, headless, ignore=shutil.ignore_patterns(REWARD_HEAD_DIR))
    assert main(["plan", "--wfm", str(headless)]) == 2
    assert "no reward head" in capsys.readouterr().err


def test_plan_cli_reports_bad_settings_as_one_line(
    fetch_world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--wfm", str(fetch_world), "--population", "4", "--elites", "5"]) == 2
    assert "elites must be in [1, population=4]" in capsys.readouterr().err

"""`worldfm eval env`: simulator and world model on the same actions, on a pushed-square toy (an
analytic perfect model and a tiny trained one) and on Fetch through the CLI."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from app.cli import main
from envs.evaluate import evaluate_env, rankdata, spearman, start_episode
from envs.world_env import simulator_context
from tests.pushed_square import (
    SUCCESS_PX,
    CornerSim,
    PerfectSquareWorld,
    RandomPolicy,
    corner_reward,
    square_position,
    write_square_shards,
)
from tests.tiny_worlds import train_tiny_robot_world
from worldmodel.world import WorldModel

RERUN = str(Path(sys.executable).parent / "rerun")


class CornerPolicy:
    """Walks the square toward the corner, read off the frame; ``noise`` adds Gaussian action noise."""

    def __init__(self, rng: np.random.Generator, noise: float) -> None:
        self.rng, self.noise = rng, noise

    def reset(self) -> None:
        pass

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        action = np.clip(-square_position(obs), -2, 2) + self.noise * self.rng.standard_normal(2)
        return action.astype(np.float32)


POLICIES = {
    "random": RandomPolicy,
    "noisy_expert": lambda rng: CornerPolicy(rng, noise=2.0),
    "expert": lambda rng: CornerPolicy(rng, noise=0.0),
}


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> WorldModel:
    """A robot post-trained DiT-tiny on pushed squares, trained for 3 steps (so: barely at all)."""
    root = tmp_path_factory.mktemp("evaluate_square")
    write_square_shards(root / "shards", t=8)
    return WorldModel.from_pretrained(train_tiny_robot_world(root, root / "shards"))


def test_rankdata_gives_ties_their_average_rank() -> None:
    np.testing.assert_array_equal(rankdata(np.array([10, 20, 20, 5])), [2, 3.5, 3.5, 1])


def test_spearman_matches_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, size=12).astype(float)
        y = x + rng.normal(0, 2, size=12)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.ones(4), np.arange(4.0)))
    assert np.isnan(spearman(np.ones(1), np.ones(1)))


def test_start_episode_renders_what_simulator_context_renders() -> None:
    sim = CornerSim()
    context, obs, seed = start_episode(sim, np.random.default_rng(3), 3)
    np.testing.assert_array_equal(context, simulator_context(CornerSim(), seed, 3))
    np.testing.assert_array_equal(obs, context[-1])
    assert np.linalg.norm(square_position(obs)) > SUCCESS_PX  # an unsolved start


def test_perfect_model_agrees_with_the_simulator_on_every_policy() -> None:
    world = PerfectSquareWorld()
    r = evaluate_env(world, CornerSim, POLICIES, episodes=4, horizon=14, seed=0, reward_fn=corner_reward)
    assert r.psnr_per_step == [float("inf")] * 14
    assert all(p < 40 for p in r.copy_last_psnr_per_step)  # the square does move
    for scores in r.policies.values():
        assert scores.model_returns == pytest.approx(scores.sim_returns)
        assert scores.model_success == scores.sim_success
    assert r.return_spearman == pytest.approx(1.0) and r.policy_rank_spearman == pytest.approx(1.0)
    assert r.success_agreement == 1.0
    summary = {name: s.summary for name, s in r.policies.items()}
    assert (
        summary["expert"]["sim_return"]
        > summary["noisy_expert"]["sim_return"]
        > summary["random"]["sim_return"]
    )
    assert summary["expert"]["sim_success"] == 1.0
    # Open loop: every step is one batched predict over all 3 x 4 episodes, on the simulator's actions.
    assert [c["batch"] for c in world.calls] == [12] * 14


def test_model_rollouts_replay_the_simulators_clipped_actions() -> None:
    world = PerfectSquareWorld()
    evaluate_env(world, CornerSim, {"wild": lambda rng: CornerPolicy(rng, noise=50.0)}, episodes=2, horizon=3)
    actions = np.concatenate([c["actions"] for c in world.calls], axis=1)  # (2, 3, 2)
    assert np.abs(actions).max() == 2.0  # clipped into the model's action box


def test_tiny_model_evaluation_writes_a_paired_rerun_recording(
    tiny_world: WorldModel, tmp_path: Path
) -> None:
    path = tmp_path / "paired.rrd"
    r = evaluate_env(
        tiny_world,
        CornerSim,
        POLICIES,
        episodes=2,
        horizon=3,
        sampler_steps=1,
        reward_fn=corner_reward,
        rrd=path,
    )
    assert len(r.psnr_per_step) == 3 and all(np.isfinite(r.psnr_per_step))
    assert set(r.policies) == set(POLICIES) and all(len(s.sim_returns) == 2 for s in r.policies.values())
    assert -1.0 <= r.return_spearman <= 1.0 or np.isnan(r.return_spearman)
    assert r.rrd == path and path.exists()
    subprocess.run([RERUN, "rrd", "verify", str(path)], check=True, capture_output=True)
    printed = subprocess.run([RERUN, "rrd", "print", str(path)], check=True, capture_output=True, text=True)
    assert "frames/true" in printed.stdout and "charts/psnr" in printed.stdout


def test_eval_env_cli_prints_every_fetch_policy_and_writes_the_rrd(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rrd = tmp_path / "fetch.rrd"
    args = [
        "eval",
        "env",
        "--wfm",
        str(fetch_world),
        "--episodes",
        "1",
        "--horizon",
        "2",
        "--sampler-steps",
        "1",
    ]
    assert main([*args, "--rrd", str(rrd)]) == 0
    out = capsys.readouterr().out
    for row in ("| random |", "| noisy_expert |", "| expert |", "rank agreement (Spearman)", "per-step PSNR"):
        assert row in out
    assert rrd.exists()


def test_eval_env_cli_refuses_a_world_model_that_is_not_fetch(
    tiny_world: WorldModel, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = Path(tiny_world.info.data[0]).parent / "robot"
    assert main(["eval", "env", "--wfm", str(checkpoint)]) == 2
    assert "is not a Fetch world model" in capsys.readouterr().err

"""`worldfm eval env`: simulator and world model on the same actions, on a pushed-square toy (an
analytic perfect model and a tiny trained one) and on Fetch through the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from envs.evaluate import EVAL_EXPERT_NOISE, evaluate_env, fetch_policy_ladder, start_episode
from envs.policy_metrics import RankAgreement, mmrv
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
    assert r.return_spearman == pytest.approx(1.0) and r.success_agreement == 1.0
    for agreement in (r.policy_success, r.policy_return):
        assert agreement.pearson == pytest.approx(1.0) and agreement.spearman == pytest.approx(1.0)
        assert agreement.mmrv == 0.0
    summary = {name: s.summary for name, s in r.policies.items()}
    assert (
        summary["expert"]["sim_return"]
        > summary["noisy_expert"]["sim_return"]
        > summary["random"]["sim_return"]
    )
    assert summary["expert"]["sim_success"] == 1.0
    # Open loop: every step is one batched predict over all 3 x 4 episodes, on the simulator's actions.
    assert [c["batch"] for c in world.calls] == [12] * 14


def test_policy_ranking_metrics_score_the_policies_success_rates() -> None:
    """A model whose success test is inverted ranks the policies backwards, and MMRV says by how much."""

    def inverted_success(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        reward, success = corner_reward(prev, action, obs)
        return reward, not success

    r = evaluate_env(
        PerfectSquareWorld(), CornerSim, POLICIES, episodes=4, horizon=14, seed=0, reward_fn=inverted_success
    )
    sim = [s.summary["sim_success"] for s in r.policies.values()]
    model = [s.summary["model_success"] for s in r.policies.values()]
    assert model == pytest.approx([1 - x for x in sim]) and len(set(sim)) > 1
    assert r.policy_success == RankAgreement.of(sim, model)
    assert r.policy_success.pearson == pytest.approx(-1.0) and r.policy_success.spearman == pytest.approx(
        -1.0
    )
    assert r.policy_success.mmrv == pytest.approx(mmrv(sim, model)) and r.policy_success.mmrv > 0
    assert r.success_agreement == 0.0
    # Returns are untouched: still ranked perfectly.
    assert r.policy_return.spearman == pytest.approx(1.0) and r.policy_return.mmrv == 0.0


def test_evaluation_is_json_ready_without_nan_or_infinity() -> None:
    r = evaluate_env(PerfectSquareWorld(), CornerSim, {"random": RandomPolicy}, episodes=2, horizon=3)
    d = json.loads(json.dumps(r.as_dict(), allow_nan=False))
    assert d["psnr_per_step"] == [None] * 3  # exact frames: infinite PSNR
    assert d["over_policies"]["success"]["pearson"] is None  # one policy: nothing to correlate
    assert d["over_policies"]["success"]["mmrv"] == 0.0
    assert d["policies"]["random"]["per_episode"]["sim_returns"] == r.policies["random"].sim_returns


def test_fetch_policy_ladder_runs_from_random_to_the_clean_expert() -> None:
    ladder = fetch_policy_ladder("push")
    assert len(ladder) >= 6
    assert list(ladder) == [
        "random",
        "expert_noise0.8",
        "expert_noise0.4",
        "expert_noise0.3",
        "expert_noise0.2",
        "expert",
    ]
    assert list(fetch_policy_ladder("push", [0.05, 0])) == ["random", "expert_noise0.05", "expert"]
    assert len(EVAL_EXPERT_NOISE) + 1 == len(ladder)


def test_fetch_policy_ladder_builds_the_simulators_policies() -> None:
    """The ladder's levels are make_policy's experts at that noise; its random is make_policy's random."""
    from envs.sim.fetch import EXPERT_NOISE, make_policy

    ladder = fetch_policy_ladder("push", [EXPERT_NOISE["noisy_expert"]])
    rng = np.random.default_rng(0)
    obs = {"observation": rng.uniform(0.4, 1.2, 25), "desired_goal": rng.uniform(0.4, 1.2, 3)}
    pairs = [
        (ladder[f"expert_noise{EXPERT_NOISE['noisy_expert']:g}"], "noisy_expert"),
        (ladder["random"], "random"),
    ]
    for factory, kind in pairs:
        ours, theirs = factory(np.random.default_rng(1)), make_policy("push", kind, np.random.default_rng(1))
        ours.reset(), theirs.reset()
        for _ in range(5):
            np.testing.assert_array_equal(ours(obs), theirs(obs))


def test_fetch_policy_ladder_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        fetch_policy_ladder("stack")
    with pytest.raises(ValueError, match="distinct and >= 0"):
        fetch_policy_ladder("push", [0.2, 0.2])
    with pytest.raises(ValueError, match="distinct and >= 0"):
        fetch_policy_ladder("push", [-0.1])


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


def test_eval_env_cli_ranks_every_fetch_policy_and_writes_the_rrd_and_json(
    fetch_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rrd, report = tmp_path / "fetch.rrd", tmp_path / "env.json"
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
    assert main([*args, "--expert-noise", "0", "0.4", "--rrd", str(rrd), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    for row in ("| random |", "| expert_noise0.4 |", "| expert |", "| success rate |", "| mean return |"):
        assert row in out
    assert "Pearson | Spearman | MMRV" in out and "per-step PSNR" in out
    assert rrd.exists()
    written = json.loads(report.read_text())
    assert list(written["policies"]) == ["random", "expert_noise0.4", "expert"]
    assert set(written["over_policies"]["success"]) == {"pearson", "spearman", "mmrv"}
    assert written["wfm"] == str(fetch_world) and written["episodes"] == 1 and written["horizon"] == 2


def test_eval_env_cli_refuses_a_world_model_that_is_not_fetch(
    tiny_world: WorldModel, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = Path(tiny_world.info.data[0]).parent / "robot"
    assert main(["eval", "env", "--wfm", str(checkpoint)]) == 2
    assert "is not a Fetch world model" in capsys.readouterr().err

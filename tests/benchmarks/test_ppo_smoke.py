"""benchmarks/ppo_world_model.py runs end to end with tiny step counts: PPO in a tiny Fetch world
model (3 training steps) rewarded by its learned head, then evaluated in the Fetch simulator; in the
latent env it learns the pushed-square task (exact latent dynamics) and does better in the real one."""

import copy
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.latent_policy import LatentPolicyController, evaluate_in_simulator
from envs.world_env import WorldModelVectorEnv
from tests.latent_square import LatentSquareWorld, corner_latent_reward
from tests.pushed_square import CornerSim
from training.train_bc import BCTrainArgs, train_bc
from worldmodel.policies import LatentPolicy, LatentPolicyConfig

ROOT = Path(__file__).resolve().parents[2]


def test_ppo_in_a_world_model_trains_and_evaluates_in_the_simulator(fetch_world: Path) -> None:
    args = [
        "--wfm",
        str(fetch_world),
        "--sim-id",
        "worldfm/FetchPush-v0",
        "--num-envs",
        "2",
        "--num-steps",
        "4",
    ]
    args += [
        "--total-timesteps",
        "16",
        "--num-minibatches",
        "2",
        "--update-epochs",
        "1",
        "--sampler-steps",
        "1",
    ]
    args += ["--max-episode-steps", "3", "--eval-episodes", "1", "--eval-steps", "3", "--no-cuda"]
    done = subprocess.run(
        [sys.executable, "benchmarks/ppo_world_model.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "iteration 2/2 global_step=16" in done.stdout
    assert "| PPO (trained in the world model) |" in done.stdout and "| random |" in done.stdout


def test_latent_ppo_from_a_cloned_policy_reports_every_policy_in_the_simulator(
    fetch_world: Path, tmp_path: Path
) -> None:
    shards = str(fetch_world.parent / "shards")
    bc = tmp_path / "bc"
    everyone = ["expert", "noisy_expert", "random"]
    train_bc(
        BCTrainArgs(
            wfm=str(fetch_world), data=[shards], out=str(bc), policies=everyone, steps=2, eval_every=2
        )
    )
    args = ["--wfm", str(fetch_world), "--sim-id", "worldfm/FetchPush-v0", "--obs-mode", "latent"]
    args += ["--init-bc", str(bc), "--bc-coef", "0.5", "--objective", "progress", "--num-envs", "2"]
    args += ["--num-steps", "4", "--total-timesteps", "8", "--num-minibatches", "2", "--update-epochs", "1"]
    args += ["--sampler-steps", "1", "--max-episode-steps", "3", "--eval-episodes", "1", "--eval-steps", "3"]
    args += ["--no-cuda", "--json", str(tmp_path / "ppo.json"), "--save-policy", str(tmp_path / "ppo")]
    done = subprocess.run(
        [sys.executable, "benchmarks/ppo_world_model.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ppo.json").read_text())
    assert list(report["results"]) == [
        "PPO (trained in the world model)",
        "BC alone (its initialisation)",
        "random",
        "expert (scripted, on the true state)",
    ]
    for r in report["results"].values():
        assert {"success_rate", "mean_return"} <= set(r) and len(r["returns"]) == 1
    assert report["imagined_steps"] == 8 and report["settings"]["obs_mode"] == "latent"
    assert (tmp_path / "ppo" / "model.safetensors").is_file()


def test_ppo_args_need_exactly_one_environment() -> None:
    args_class = runpy.run_path(str(ROOT / "benchmarks" / "ppo_world_model.py"))["Args"]
    with pytest.raises(ValueError, match="exactly one of --env-id"):
        args_class(env_id="worldfm/FetchPush-WM-v0", wfm="runs/fetch-wm")
    with pytest.raises(ValueError, match="--wfm needs --sim-id"):
        args_class(wfm="runs/fetch-wm")
    assert args_class(env_id="worldfm/FetchPush-WM-v0", num_envs=4, num_steps=8).minibatch_size == 8


def test_latent_ppo_args_need_a_latent_policy_for_bc_options() -> None:
    args_class = runpy.run_path(str(ROOT / "benchmarks" / "ppo_world_model.py"))["Args"]
    with pytest.raises(ValueError, match="--init-bc and --save-policy need --obs-mode latent"):
        args_class(env_id="worldfm/FetchPush-WM-v0", init_bc="runs/bc")
    with pytest.raises(ValueError, match="--bc-coef must be >= 0 and needs --init-bc"):
        args_class(env_id="worldfm/FetchPush-WM-v0", obs_mode="latent", bc_coef=1.0)
    with pytest.raises(ValueError, match="objective must be 'reward' or 'progress'"):
        args_class(env_id="worldfm/FetchPush-WM-v0", objective="success")


def corner_latent_reward_fn(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
    """The latent env's RewardFn for the pushed square: CornerSim's reward read off a latent (2, 1, 1)."""
    reward, success = corner_latent_reward(obs[None])
    return float(reward[0]), bool(success[0])


@pytest.mark.usefixtures("one_thread")
def test_ppo_in_the_latent_env_improves_the_return_in_the_real_simulator() -> None:
    ppo_module = runpy.run_path(str(ROOT / "benchmarks" / "ppo_world_model.py"))
    args = ppo_module["Args"](
        wfm="(the latent square world)",
        sim_id="(CornerSim)",
        obs_mode="latent",
        num_envs=8,
        num_steps=16,
        total_timesteps=8 * 16 * 12,
        learning_rate=3e-3,
        max_episode_steps=16,
        cuda=False,
    )
    torch.manual_seed(0)
    np.random.seed(0)
    world = LatentSquareWorld()
    envs = WorldModelVectorEnv(
        world,
        args.num_envs,
        sim_factory=CornerSim,
        reward_fn=corner_latent_reward_fn,
        max_episode_steps=args.max_episode_steps,
        autoreset_mode="SameStep",
        obs_mode="latent",
    )
    box = {"action_low": [-2.0, -2.0], "action_high": [2.0, 2.0]}
    # Actions are rounded to whole pixels: a wide start (0.6 half-boxes) lets the square move at all.
    config = LatentPolicyConfig(
        latent_channels=2, latent_size=(1, 1), action_dim=2, hidden=8, init_std=0.6, **box
    )
    agent = ppo_module["LatentAgent"](LatentPolicy(config))
    before = copy.deepcopy(agent.policy).eval()
    curve = ppo_module["ppo"](args, envs, agent, torch.device("cpu"))
    assert len(curve) == 12
    sim = CornerSim()
    results = evaluate_in_simulator(
        sim,
        {
            "before": lambda rng: LatentPolicyController(before, world),
            "after": lambda rng: LatentPolicyController(agent.policy.eval(), world),
        },
        episodes=4,
        steps=16,
        seed=10_000,
        context_frames=world.context_frames,
        action_space=sim.action_space,
    )
    # Measured: -331 before, -177 after.
    assert results["after"]["mean_return"] > results["before"]["mean_return"] + 50, results

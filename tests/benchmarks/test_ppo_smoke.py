"""benchmarks/ppo_world_model.py runs end to end with tiny step counts: PPO in a tiny Fetch world
model (3 training steps) rewarded by its learned head, then evaluated in the Fetch simulator."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_ppo_args_need_exactly_one_environment() -> None:
    args_class = runpy.run_path(str(ROOT / "benchmarks" / "ppo_world_model.py"))["Args"]
    with pytest.raises(ValueError, match="exactly one of --env-id"):
        args_class(env_id="worldfm/FetchPush-WM-v0", wfm="runs/fetch-wm")
    with pytest.raises(ValueError, match="--wfm needs --sim-id"):
        args_class(wfm="runs/fetch-wm")
    assert args_class(env_id="worldfm/FetchPush-WM-v0", num_envs=4, num_steps=8).minibatch_size == 8

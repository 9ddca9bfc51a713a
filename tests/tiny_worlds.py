"""Tiny world models trained through the CLI for tests: a few steps each, so they run, not draw."""

from pathlib import Path

from app.cli import main
from tests.pushed_square import SIZE


def tiny_run_args(steps: int = 3, size: int = SIZE) -> list[str]:
    """Options of a ``steps``-step run at ``size`` px, batch 2, that evaluates and saves at its end."""
    args = ["--size", str(size), "--steps", str(steps), "--batch-size", "2", "--eval-every", str(steps)]
    return args + ["--save-every", str(steps), "--log-every", "1", "--warmup", "1"]


def tiny_training_args(shards: Path, steps: int = 3) -> list[str]:
    """``tiny_run_args`` on ``shards``."""
    return ["--data", str(shards), *tiny_run_args(steps)]


def train_tiny_robot_world(root: Path, shards: Path, steps: int = 3) -> Path:
    """A CI8x8-tiny tokenizer (``root/tok``) and a DiT-tiny robot post-trained on it (``root/robot``)."""
    common = tiny_training_args(shards, steps)
    tok, robot = root / "tok", root / "robot"
    assert main(["train", "tokenizer", "--config", "CI8x8-tiny", "--out", str(tok), *common]) == 0
    robot_args = ["--task", "robot", "--tokenizer", str(tok), "--dit", "DiT-tiny", "--out", str(robot)]
    assert main(["train", "posttrain", *robot_args, *common]) == 0
    return robot


def train_tiny_fetch_world(root: Path) -> Path:
    """A tiny Fetch push world model (3 training steps) on 4 recorded episodes, with a reward head
    (5 steps) that also learned progress and value, on imagined rollouts of 2 steps too."""
    shards = root / "shards"
    # Seed 6 holds out one of its first 4 episodes (by key hash), which the trainers evaluate on.
    sim = ["simulate", "fetch", "--episodes", "4", "--frames", "6", "--size", str(SIZE), "--seed", "6"]
    assert main([*sim, "--out", str(shards)]) == 0
    robot = train_tiny_robot_world(root, shards)
    reward = ["train", "reward", "--wfm", str(robot), "--data", str(shards), "--steps", "5"]
    assert main([*reward, "--progress", "--value", "--imagined-horizon", "2", "--imagined-stride", "2"]) == 0
    return robot

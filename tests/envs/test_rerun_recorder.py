"""RerunRecorder: a WorldModelEnv's steps beside a paired simulator, saved as a verifiable .rrd."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from envs.rerun_recorder import RerunRecorder
from envs.world_env import WorldModelEnv
from tests.pushed_square import SIZE, write_square_shards
from tests.tiny_worlds import train_tiny_robot_world
from worldmodel.world import WorldModel

RERUN = str(Path(sys.executable).parent / "rerun")


class FixedFrameSim(gym.Env[np.ndarray, np.ndarray]):
    """A stand-in ground truth that always renders the same frame and remembers its actions."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
        self.action_space = gym.spaces.Box(-2, 2, (2,), np.float32)
        self.render_mode = "rgb_array"
        self.actions: list[np.ndarray] = []
        self.closed = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.actions = []
        return self.render(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.actions.append(np.asarray(action))
        return self.render(), 0.0, False, False, {}

    def render(self) -> np.ndarray:
        frame = np.full((SIZE, SIZE, 3), (40, 80, 40), np.uint8)
        frame[12:20, 12:20] = 250
        return frame

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WorldModel:
    """A robot post-trained DiT-tiny on a CI8x8-tiny tokenizer, trained on pushed squares."""
    root = tmp_path_factory.mktemp("recorder")
    write_square_shards(root / "shards", t=6)
    return WorldModel.from_pretrained(train_tiny_robot_world(root, root / "shards", steps=2))


def test_recorder_writes_a_verifiable_rrd_beside_a_paired_sim(world: WorldModel, tmp_path: Path) -> None:
    path = tmp_path / "rollout.rrd"
    paired = FixedFrameSim()
    env = RerunRecorder(
        WorldModelEnv(world, sim_factory=FixedFrameSim, sampler_steps=2), path, paired_env=paired
    )
    for seed in (0, 1):
        env.reset(seed=seed)
        for _ in range(3):
            env.step(np.array([5.0, -1.0], np.float32))
    assert not path.exists()  # written on close, atomically
    env.close()
    # Reset replays the world env's start (zero actions to fill its context), then each step the
    # paired sim gets the action the world model acted on: clipped into its box.
    assert paired.closed and len(paired.actions) == world.context_frames - 1 + 3
    clipped = np.clip([5.0, -1.0], env.action_space.low, env.action_space.high)
    for action in paired.actions[-3:]:
        np.testing.assert_array_equal(action, clipped)
    assert [p.name for p in tmp_path.iterdir()] == ["rollout.rrd"]
    subprocess.run([RERUN, "rrd", "verify", str(path)], check=True, capture_output=True)
    printed = subprocess.run([RERUN, "rrd", "print", str(path)], check=True, capture_output=True, text=True)
    for entity in ("frames/predicted", "frames/true", "charts/psnr", "charts/action", "charts/reward"):
        assert entity in printed.stdout


def test_recorder_refuses_ambiguous_sinks_and_unpaired_starts(world: WorldModel, tmp_path: Path) -> None:
    env = WorldModelEnv(world, sim_factory=FixedFrameSim, sampler_steps=2)
    with pytest.raises(ValueError, match="exactly one sink"):
        RerunRecorder(env)
    with pytest.raises(ValueError, match="exactly one sink"):
        RerunRecorder(env, tmp_path / "a.rrd", spawn=True)
    recorder = RerunRecorder(env, tmp_path / "b.rrd", paired_env=FixedFrameSim())
    frames = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    with pytest.raises(ValueError, match="start from the env's simulator"):
        recorder.reset(options={"frames": frames})
    recorder.close()

"""`worldfm simulate gym` records a user's own Gymnasium env; the learned env gets its space."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.error import ResetNeeded

import envs  # noqa: F401 - registers worldfm/GymPixels-v0
from app.cli import main
from curation.shards import read_samples
from envs.sim.gym_env import PixelGymEnv

ENV_ID = "WorldfmTestDot-v0"


class DotEnv(gym.Env):
    """A dot moved by a 2-d action on a 40 x 60 canvas; terminates at the right edge."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, render_mode: str | None = None, speed: float = 1.0) -> None:
        self.render_mode = render_mode
        self.speed = speed
        self.action_space = spaces.Box(np.array([-1.0, -2.0], np.float32), np.array([1.0, 2.0], np.float32))
        self.observation_space = spaces.Box(-100, 100, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(5, 20, 2).astype(np.float32)
        return self.pos.copy(), {"distance": 0.0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.pos = self.pos + self.speed * np.asarray(action, np.float32) * 4
        done = bool(self.pos[0] > 55)
        return self.pos.copy(), float(self.pos[0]), done, False, {"distance": float(self.pos[0]), "tag": "x"}

    def render(self) -> np.ndarray:
        frame = np.zeros((40, 60, 3), np.uint8)
        x, y = np.clip(self.pos.astype(int), 0, [59, 39])
        frame[max(y - 2, 0) : y + 2, max(x - 2, 0) : x + 2] = 255
        return frame


def push_right(observation: np.ndarray) -> np.ndarray:
    """A user policy: always right, fast."""
    return np.array([1.0, 0.0], np.float32)


gym.register(ENV_ID, entry_point=DotEnv, max_episode_steps=30)


def test_simulate_gym_records_frames_actions_rewards_info_and_the_action_box(tmp_path: Path) -> None:
    out = tmp_path / "shards"
    args = ["simulate", "gym", "--env", ENV_ID, "--env-kwargs", '{"speed": 2.0}', "--episodes", "2"]
    assert main([*args, "--frames", "8", "--size", "16", "--out", str(out)]) == 0
    samples = list(read_samples(out))
    assert len(samples) == 2
    for s in samples:
        t = s["meta"]["num_frames"]
        assert s["frames"].shape == (t, 16, 16, 3) and 2 <= t <= 8
        assert s["actions"].shape == (t - 1, 2) and s["rewards"].shape == (t - 1,)
        assert s["terminated"].shape == (t - 1,) and s["info_distance"].shape == (t - 1,)
        np.testing.assert_allclose(s["rewards"], s["info_distance"])  # the env's numbers, recorded
        assert "info_tag" not in s  # not numeric: left out
        assert s["meta"]["action_space"] == {"low": [-1.0, -2.0], "high": [1.0, 2.0]}
        assert s["meta"]["fps"] == 15 and s["meta"]["task"] == ENV_ID
        sim = s["meta"]["sim_env"]
        assert sim["id"] == "worldfm/GymPixels-v0" and sim["kwargs"]["env_kwargs"] == {"speed": 2.0}


def test_simulate_gym_runs_a_user_policy_until_the_env_terminates(tmp_path: Path) -> None:
    out = tmp_path / "shards"
    policy = "tests.envs.test_sim_gym:push_right"
    args = ["simulate", "gym", "--env", ENV_ID, "--policy", policy, "--episodes", "1", "--frames", "30"]
    assert main([*args, "--size", "16", "--out", str(out)]) == 0
    (sample,) = read_samples(out)
    assert (sample["actions"] == [1.0, 0.0]).all()
    assert sample["terminated"][-1] and not sample["terminated"][:-1].any() and sample["meta"]["terminated"]
    assert sample["meta"]["num_frames"] < 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv"),
        (["--env", ENV_ID, "--env-kwargs", "{speed"], "--env-kwargs is not JSON"),
        (["--env", ENV_ID, "--policy", "tests.envs.test_sim_gym:nothing"], "cannot import"),
        (["--env", "CartPole-v1"], "only Box action spaces"),
        ([], "needs --env"),
    ],
)
def test_simulate_gym_bad_input_is_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "gym", *args, "--episodes", "1", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("worldfm simulate: error:")


def test_pixel_gym_env_is_a_checked_gymnasium_env_with_the_inner_action_space() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make("worldfm/GymPixels-v0", env_id=ENV_ID, size=16)
    check_env(env.unwrapped)
    assert env.observation_space.shape == (16, 16, 3) and env.action_space.shape == (2,)
    assert env.metadata["render_fps"] == 15
    with pytest.raises(ResetNeeded):
        PixelGymEnv(ENV_ID, size=16).step(np.zeros(2, np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        env.step(np.array([np.nan, 0.0], np.float32))

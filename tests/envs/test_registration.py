import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the ids


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("worldfm/FetchPush-v0", {"size": 32}), ("worldfm/Orbit-v0", {"height": 32})],
)
def test_registered_sim_envs_make_reset_and_render(env_id: str, kwargs: dict) -> None:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    env.step(env.action_space.sample())
    env.close()

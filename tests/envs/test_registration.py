import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the ids
from envs.registration import (
    SHIPPED_WORLD_MODELS,
    checkpoint_simulator,
    find_world_model_envs,
    learned_env_kind,
    register_world_model,
    world_model_info,
)
from worldmodel.shipped import SHIPPED_CHECKPOINTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("worldfm/FetchPush-v0", {"size": 32}),
        ("worldfm/FetchPush-v0", {"size": 32, "obs_mode": "pixels"}),
        ("worldfm/Orbit-v0", {"height": 32}),
    ],
)
def test_registered_sim_envs_make_reset_and_render(env_id: str, kwargs: dict) -> None:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    obs, *_ = env.step(env.action_space.sample())
    env.close()
    if kwargs.get("obs_mode") == "pixels":  # the learned env's observation, through gym.make
        assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8


# Run in a fresh interpreter (this one imported envs long ago): every way Python reads a file by
# name is watched, and importing envs must open no config.json yet register the learned ids.
IMPORT_READS_NOTHING = """
import builtins, io, json, pathlib
reads = []
def watch(real):
    def opened(file, *args, **kwargs):
        reads.append(str(file))
        return real(file, *args, **kwargs)
    return opened
builtins.open = watch(builtins.open)
io.open = watch(io.open)
pathlib.Path.open = watch(pathlib.Path.open)
import envs, gymnasium as gym
print(json.dumps([sorted(i for i in gym.registry if i.startswith("worldfm/")),
                  [r for r in reads if r.endswith("config.json")]]))
"""


def test_import_envs_registers_learned_ids_without_reading_a_checkpoint() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_READS_NOTHING], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ids, configs_read = json.loads(out[-1])
    assert configs_read == []
    shipped = {
        i for i, (folder, _) in SHIPPED_WORLD_MODELS.items() if (SHIPPED_CHECKPOINTS / folder).is_dir()
    }
    assert shipped and shipped <= set(ids)


def test_shipped_world_model_table_is_what_the_checkpoints_configs_say() -> None:
    """``SHIPPED_WORLD_MODELS`` stands in for reading the configs at import: it must agree with them."""
    found = {i: (path.name, kind) for i, (path, kind) in find_world_model_envs(SHIPPED_CHECKPOINTS).items()}
    assert found == SHIPPED_WORLD_MODELS


def section(**fields) -> dict:
    """A valid ``world_model`` section with ``fields`` on top of a minimal one."""
    base = {"tokenizer": "../tok", "latent_mean": [0.0], "latent_std": [1.0], "sigma_data": 0.5}
    return {**base, "context_frames": 1, **fields}


def test_learned_env_kind_of_each_checkpoint_section() -> None:
    robot = section(task="robot", action_space={"low": [-1], "high": [1]})
    assert learned_env_kind(world_model_info({"kind": "diffusion", "world_model": robot})) == "action"
    assert learned_env_kind(world_model_info({"kind": "autoregressive", "world_model": robot})) == "action"
    drive = section(task="driving", conditioning="trajectory", trajectory_std=[1.0, 1.0, 1.0])
    assert learned_env_kind(world_model_info({"kind": "diffusion", "world_model": drive})) == "driving"
    camera = section(task="camera")
    assert learned_env_kind(world_model_info({"kind": "diffusion", "world_model": camera})) is None
    no_actions = section(task="robot")
    assert learned_env_kind(world_model_info({"kind": "diffusion", "world_model": no_actions})) is None
    assert world_model_info({"kind": "tokenizer"}) is None and learned_env_kind(None) is None
    with pytest.raises(ValueError, match="kind must be 'action' or 'driving'"):
        register_world_model("worldfm/Nothing-WM-v0", SHIPPED_CHECKPOINTS, "camera")


def test_registered_learned_env_names_its_simulator_from_its_checkpoint() -> None:
    """What a lazy spec no longer carries (its simulator) is read from the checkpoint on demand."""
    checkpoint = gym.spec("worldfm/FetchPush-WM-AR-v0").kwargs["checkpoint"]
    assert checkpoint_simulator(checkpoint) == {"id": "worldfm/FetchPush-v0", "kwargs": {}}

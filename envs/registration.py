"""Gymnasium ids of worldfm's environments (``gym.make("worldfm/FetchPush-v0")`` after ``import envs``)."""

from __future__ import annotations

import gymnasium as gym

SIM_ENVS = {
    "worldfm/FetchPush-v0": ("envs.sim.fetch:FetchSimEnv", {"task": "push", "max_episode_steps": None}, 50),
    "worldfm/FetchPickAndPlace-v0": (
        "envs.sim.fetch:FetchSimEnv",
        {"task": "pickandplace", "max_episode_steps": None},
        50,
    ),
    "worldfm/Orbit-v0": ("envs.sim.orbit:OrbitSimEnv", {}, 48),
    "worldfm/Driving-v0": ("envs.sim.driving:DrivingSimEnv", {}, 300),
}


def register_envs() -> None:
    """Register the ground-truth simulators (idempotent)."""
    for env_id, (entry_point, kwargs, steps) in SIM_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=steps)

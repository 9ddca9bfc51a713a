"""Gymnasium ids of worldfm's environments (``gym.make("worldfm/FetchPush-v0")`` after ``import envs``).

Ground-truth simulators are ``worldfm/<Task>-v0``; each shipped action-conditioned world-model
checkpoint under ``checkpoints/`` adds its learned twin ``worldfm/<Task>-WM-v0``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import gymnasium as gym

from worldmodel.shipped import SHIPPED_CHECKPOINTS

logger = logging.getLogger(__name__)

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
WORLD_MODEL_EPISODE_STEPS = 50


def register_envs() -> None:
    """Register the ground-truth simulators and the shipped world models (idempotent)."""
    for env_id, (entry_point, kwargs, steps) in SIM_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=steps)
    register_world_model_envs()


def world_model_env_id(directory: Path, world: dict[str, Any]) -> str:
    """The id of a world-model checkpoint's env: ``world_model.env_id``, else from the folder name.

    ``checkpoints/fetchpush-wm-dit`` -> ``worldfm/FetchPush-WM-v0``: the part before ``-wm`` is
    matched, case-insensitively, to a simulator's task name, else capitalised.
    """
    if world.get("env_id"):
        return str(world["env_id"])
    stem = directory.name.lower().split("-wm")[0]
    tasks = {sim_id.split("/")[1].rsplit("-v", 1)[0] for sim_id in SIM_ENVS}
    task = next((t for t in tasks if t.lower() == stem.replace("-", "")), None)
    task = task or "".join(part.capitalize() for part in stem.split("-"))
    return f"worldfm/{task}-WM-v0"


def simulator_for(directory: Path | None, world: dict[str, Any]) -> dict[str, Any] | None:
    """The ground-truth simulator of a world-model checkpoint: ``{"id": ..., "kwargs": {...}}`` or None.

    ``world_model.sim_env`` if the checkpoint names one, else the registered simulator of the same
    task (``fetchpush-wm-dit`` -> ``worldfm/FetchPush-v0``).
    """
    sim = world.get("sim_env")
    if sim is None and directory is not None:
        # The task comes from the folder name even when the checkpoint picks its own env id
        # (fetchpush-wm-ar registers worldfm/FetchPush-WM-AR-v0 but simulates worldfm/FetchPush-v0).
        by_folder = {k: v for k, v in world.items() if k != "env_id"}
        sim_id = world_model_env_id(Path(directory), by_folder).replace("-WM-", "-")
        sim = {"id": sim_id} if sim_id in SIM_ENVS else None
    if sim is None:
        return None
    return {"id": sim["id"], "kwargs": dict(sim.get("kwargs", {}))}


def register_world_model_envs(checkpoints: str | os.PathLike = SHIPPED_CHECKPOINTS) -> list[str]:
    """Register ``worldfm/<Task>-WM-v0`` for each action-conditioned checkpoint in ``checkpoints``,
    and a ``DrivingWorldModelEnv`` (steer / throttle) for each trajectory-conditioned driving model.

    A checkpoint qualifies when its ``config.json`` is a world model (``kind`` diffusion or
    autoregressive) post-trained for ``task == "robot"`` with an ``action_space``. Its matching
    simulator (which starts episodes) is ``world_model.sim_env`` (``{"id": ..., "kwargs": {...}}``)
    if given, else the registered ``worldfm/<Task>-v0``, else none. Returns the ids (idempotent).
    """
    ids = []
    for config in sorted(Path(checkpoints).glob("*/config.json")):
        try:
            payload = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError) as err:
            # One unreadable checkpoint must not make `import envs` fail for every user.
            logger.warning("skipping %s: %s", config, err)
            continue
        world = payload.get("world_model") or {}
        if (
            payload.get("kind") in ("diffusion", "autoregressive")
            and world.get("conditioning") == "trajectory"
        ):
            env_id = world_model_env_id(config.parent, world)
            if env_id not in gym.registry:
                gym.register(
                    env_id,
                    entry_point="envs.driving_world_env:DrivingWorldModelEnv",
                    kwargs={"checkpoint": str(config.parent)},
                    max_episode_steps=WORLD_MODEL_EPISODE_STEPS,
                )
            ids.append(env_id)
            continue
        if (
            payload.get("kind") not in ("diffusion", "autoregressive")
            or world.get("task") != "robot"
            or not world.get("action_space")
        ):
            continue
        env_id = world_model_env_id(config.parent, world)
        kwargs: dict[str, Any] = {"checkpoint": str(config.parent)}
        sim = simulator_for(config.parent, world)
        if sim is not None:
            kwargs["sim_id"] = sim["id"]
            kwargs["sim_kwargs"] = sim["kwargs"]
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point="envs.world_env:make_world_env",
                vector_entry_point="envs.world_env:make_world_vector_env",
                kwargs=kwargs,
                max_episode_steps=WORLD_MODEL_EPISODE_STEPS,
            )
        ids.append(env_id)
    return ids

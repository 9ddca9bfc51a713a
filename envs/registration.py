"""Gymnasium ids of worldfm's environments (``gym.make("worldfm/FetchPush-v0")`` after ``import envs``).

Ground-truth simulators are ``worldfm/<Task>-v0``; each shipped world model that can be driven
(action-conditioned, or trajectory-conditioned driving) is its learned twin ``worldfm/<Task>-WM-v0``.

``import envs`` reads no checkpoint: the shipped learned envs are the static table
``SHIPPED_WORLD_MODELS`` (id -> folder under ``checkpoints/``; a test checks it against the
folders' configs), registered with the lazy entry point ``make_learned_env``, which reads the
checkpoint only when ``gym.make`` is called and builds a ``WorldModelEnv`` or a
``DrivingWorldModelEnv`` from what it finds. Checkpoints of your own are registered by
``register_world_model_envs(folder)``, which reads their configs to name their ids.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import gymnasium as gym

from worldmodel.info import WorldModelInfo, world_model_info
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
    # Any Gymnasium env seen through square frames (env_id=..., size=...): where the learned env
    # of a `worldfm simulate gym` recording starts its episodes; the inner env keeps its own limit.
    "worldfm/GymPixels-v0": ("envs.sim.gym_env:PixelGymEnv", {}, None),
}
# Goal-conditioned robot simulators never end an episode (Gymnasium-Robotics' convention: success is
# info["is_success"], the time limit ends it). Their learned twins report the reward head's success
# the same way instead of terminating on it, so that both worlds end episodes alike.
NEVER_TERMINATING_SIMS = frozenset({"worldfm/FetchPush-v0", "worldfm/FetchPickAndPlace-v0"})

SHIPPED_WORLD_MODELS = {
    "worldfm/FetchPush-WM-v0": ("fetchpush-wm-dit", "action"),
    "worldfm/FetchPush-WM-AR-v0": ("fetchpush-wm-ar", "action"),
    "worldfm/Driving-WM-v0": ("driving-wm-dit", "driving"),
}
"""The learned envs ``import envs`` registers: id -> (folder under ``checkpoints/``, ``learned_env_kind``).
It is what ``find_world_model_envs(SHIPPED_CHECKPOINTS)`` finds by reading the configs, written down so
that importing reads nothing; re-shipping a checkpoint under a new id or kind means editing it
(a test compares the two)."""
WORLD_MODEL_EPISODE_STEPS = 50
LEARNED_ENTRY_POINT = "envs.registration:make_learned_env"
LEARNED_VECTOR_ENTRY_POINT = "envs.registration:make_learned_vector_env"


def register_envs() -> None:
    """Register the ground-truth simulators and the shipped world models (idempotent, reads no checkpoint)."""
    for env_id, (entry_point, kwargs, steps) in SIM_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=steps)
    for env_id, (folder, kind) in SHIPPED_WORLD_MODELS.items():
        # A stat, not a read: a trimmed install without the folder does not advertise its id.
        if (SHIPPED_CHECKPOINTS / folder).is_dir():
            register_world_model(env_id, SHIPPED_CHECKPOINTS / folder, kind)


def register_world_model(env_id: str, checkpoint: str | os.PathLike, kind: str) -> None:
    """Register ``env_id`` as the learned env of ``checkpoint``, of ``learned_env_kind`` ``kind``
    (idempotent; reads nothing now). Only action-conditioned envs have a native vector env; a
    driving id vectorises with ``gym.make_vec``'s default (sync) mode."""
    if kind not in ("action", "driving"):
        raise ValueError(f"kind must be 'action' or 'driving', got {kind!r}")
    if env_id not in gym.registry:
        gym.register(
            env_id,
            entry_point=LEARNED_ENTRY_POINT,
            vector_entry_point=LEARNED_VECTOR_ENTRY_POINT if kind == "action" else None,
            kwargs={"checkpoint": str(checkpoint)},
            max_episode_steps=WORLD_MODEL_EPISODE_STEPS,
        )


def learned_env_kind(info: WorldModelInfo | None) -> str | None:
    """Which learned env a world model makes: ``"driving"`` for a trajectory-conditioned one
    (``DrivingWorldModelEnv``), ``"action"`` for one post-trained for ``task == "robot"`` with an
    ``action_space`` (``WorldModelEnv``), else None."""
    if info is None:
        return None
    if info.conditioning == "trajectory":
        return "driving"
    if info.task == "robot" and info.action_space is not None:
        return "action"
    return None


def world_model_env_id(directory: Path, info: WorldModelInfo | None = None) -> str:
    """The id of a world-model checkpoint's env: ``info.env_id``, else from the folder name.

    ``checkpoints/fetchpush-wm-dit`` -> ``worldfm/FetchPush-WM-v0``: the part before ``-wm`` is
    matched, case-insensitively, to a simulator's task name, else capitalised.
    """
    if info is not None and info.env_id:
        return info.env_id
    stem = directory.name.lower().split("-wm")[0]
    tasks = {sim_id.split("/")[1].rsplit("-v", 1)[0] for sim_id in SIM_ENVS}
    task = next((t for t in tasks if t.lower() == stem.replace("-", "")), None)
    task = task or "".join(part.capitalize() for part in stem.split("-"))
    return f"worldfm/{task}-WM-v0"


def simulator_for(directory: Path | None, info: WorldModelInfo) -> dict[str, Any] | None:
    """The ground-truth simulator of a world-model checkpoint: ``{"id": ..., "kwargs": {...}}`` or None.

    ``info.sim_env`` if the checkpoint names one, else the registered simulator of the same
    task (``fetchpush-wm-dit`` -> ``worldfm/FetchPush-v0``).
    """
    sim = info.sim_env
    if sim is None and directory is not None:
        # The task comes from the folder name even when the checkpoint picks its own env id
        # (fetchpush-wm-ar registers worldfm/FetchPush-WM-AR-v0 but simulates worldfm/FetchPush-v0).
        sim_id = world_model_env_id(Path(directory)).replace("-WM-", "-")
        sim = {"id": sim_id} if sim_id in SIM_ENVS else None
    if sim is None:
        return None
    return {"id": sim["id"], "kwargs": dict(sim.get("kwargs", {}))}


def checkpoint_simulator(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """``simulator_for`` the world-model checkpoint folder ``checkpoint``, from its ``config.json``:
    what a registered ``worldfm/<Task>-WM-v0`` starts its episodes in (``spec.kwargs["checkpoint"]``)."""
    from worldmodel import hub  # here: `import envs` must not load torch or read checkpoints

    return simulator_for(Path(checkpoint), hub.read_info(checkpoint))


def find_world_model_envs(
    checkpoints: str | os.PathLike = SHIPPED_CHECKPOINTS,
) -> dict[str, tuple[Path, str]]:
    """Env id -> (folder, ``learned_env_kind``) of each checkpoint in ``checkpoints`` that makes a
    learned env, in folder order; reads every ``*/config.json``.

    An unreadable config is skipped with a warning; the first folder to claim an id keeps it.
    """
    found: dict[str, tuple[Path, str]] = {}
    for config in sorted(Path(checkpoints).glob("*/config.json")):
        try:
            info = world_model_info(json.loads(config.read_text()))
        except (OSError, ValueError) as err:  # json.JSONDecodeError and a bad section are ValueErrors
            # One unreadable checkpoint must not hide the others.
            logger.warning("skipping %s: %s", config, err)
            continue
        kind = learned_env_kind(info)
        if kind is not None:
            env_id = world_model_env_id(config.parent, info)
            found.setdefault(env_id, (config.parent, kind))
    return found


def register_world_model_envs(checkpoints: str | os.PathLike = SHIPPED_CHECKPOINTS) -> list[str]:
    """Register ``worldfm/<Task>-WM-v0`` for each action-conditioned or driving checkpoint in
    ``checkpoints`` (``find_world_model_envs``); returns the ids (idempotent: a registered id keeps
    its checkpoint).

    A robot model's matching simulator (which starts episodes) is ``WorldModelInfo.sim_env``
    (``{"id": ..., "kwargs": {...}}``) if given, else the registered ``worldfm/<Task>-v0``, else
    none; a driving model starts in the embedded driving simulator.
    """
    found = find_world_model_envs(checkpoints)
    for env_id, (directory, kind) in found.items():
        register_world_model(env_id, directory, kind)
    return list(found)


def _learned_env(checkpoint: str | os.PathLike, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The kind of ``checkpoint``'s env and its entry-point kwargs, the simulator filled in."""
    from worldmodel import hub  # here: `import envs` must not load torch or read checkpoints

    info = world_model_info(hub.read_config(checkpoint))
    kind = learned_env_kind(info)
    if kind is None:
        raise ValueError(
            f"{checkpoint} makes no learned env: it needs an action-conditioned world model "
            "(`worldfm train posttrain --task robot`) or a driving one (`--task driving`)"
        )
    if kind == "action" and kwargs.get("sim_factory") is None and kwargs.get("sim_id") is None:
        sim = simulator_for(Path(checkpoint), info)
        if sim is not None:
            kwargs = {**kwargs, "sim_id": sim["id"], "sim_kwargs": sim["kwargs"]}
    if kind == "action" and kwargs.get("sim_id") in NEVER_TERMINATING_SIMS:
        kwargs = {"success_ends_episode": False, **kwargs}
    return kind, kwargs


def make_learned_env(checkpoint: str | os.PathLike, **kwargs: Any) -> gym.Env:
    """Lazy Gymnasium entry point of ``worldfm/<Task>-WM-v0``: reads ``checkpoint`` now, at
    ``gym.make``, and returns ``envs.world_env.make_world_env(checkpoint, **kwargs)`` (with the
    matching simulator) or ``envs.driving_world_env.make_driving_world_env(checkpoint, **kwargs)``."""
    kind, kwargs = _learned_env(checkpoint, kwargs)
    if kind == "driving":
        from envs.driving_world_env import make_driving_world_env

        return make_driving_world_env(checkpoint, **kwargs)
    from envs.world_env import make_world_env

    return make_world_env(checkpoint, **kwargs)


def make_learned_vector_env(
    checkpoint: str | os.PathLike, num_envs: int = 1, **kwargs: Any
) -> gym.vector.VectorEnv:
    """Lazy vector entry point (``gym.make_vec(id, n, vectorization_mode="vector_entry_point")``):
    ``envs.world_env.make_world_vector_env`` for an action-conditioned checkpoint."""
    kind, kwargs = _learned_env(checkpoint, kwargs)
    if kind != "action":
        raise ValueError(
            f"{checkpoint} is a driving model, which has no native vector env; use "
            'gym.make_vec(id, n, vectorization_mode="sync")'
        )
    from envs.world_env import make_world_vector_env

    return make_world_vector_env(checkpoint, num_envs, **kwargs)

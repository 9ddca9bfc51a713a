"""Policies on a world model's latents, run in the real simulator and compared there.

A ``LatentPolicy`` (``worldmodel.policies``: behaviour-cloned by ``worldfm train bc``, or trained in
imagination by ``benchmarks/ppo_world_model.py --obs-mode latent``) reads the model's latents. In
the simulator it acts on what the learned env would show it: the simulator's rendered frames,
encoded by the world model's tokenizer (``LatentPolicyController``). ``evaluate_in_simulator``
runs any set of closed-loop policies from the same start states (as ``envs.planning``'s baselines
are run) and reports success rate and return; ``load_latent_policy`` reads a policy checkpoint and
refuses one trained on another world model's latents.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from envs.evaluate import PolicyFactory, simulator_rollout
from worldmodel import hub
from worldmodel.heads import latent_norm_record
from worldmodel.hub import CheckpointError
from worldmodel.policies import LatentPolicy
from worldmodel.world import WorldModel

__all__ = ["LatentPolicyController", "evaluate_in_simulator", "load_latent_policy"]


def load_latent_policy(
    path: str | os.PathLike, world: WorldModel | None = None, *, device: str | torch.device = "cpu"
) -> LatentPolicy:
    """The ``LatentPolicy`` checkpoint at ``path``, in eval mode.

    With ``world``, a policy trained on another checkpoint's latents (a different latent
    normalisation) is a ``CheckpointError`` rather than a policy acting on inputs it never saw.
    """
    payload = hub.read_config(path)
    if payload.get("kind") != "policy":
        raise CheckpointError(
            f"{path} is a {payload.get('kind')!r} checkpoint; a policy is needed here "
            "(`worldfm train bc`, or benchmarks/ppo_world_model.py --save-policy)"
        )
    if world is not None and {k: payload.get(k) for k in ("latent_mean", "latent_std")} != latent_norm_record(
        world
    ):
        raise CheckpointError(
            f"the policy in {path} was trained on another world model's latents (its latent normalisation "
            f"differs from this world model's); clone it again with `worldfm train bc`"
        )
    policy = hub.load(path, device=device, expect_kind="policy")
    if not isinstance(policy, LatentPolicy):
        raise CheckpointError(f"{path} holds a {type(policy).__name__}, not a LatentPolicy")
    return policy


class LatentPolicyController:
    """A closed-loop simulator policy (``reset()``, ``policy(obs) -> action``) from a latent policy.

    Each step it takes the current frame, uint8 (H, W, 3) at the world model's size: the
    observation itself when the simulator observes pixels (``FetchSimEnv(obs_mode="pixels")``,
    ``render=None``), else ``render()`` (a state-observing simulator's camera). It encodes the last
    ``policy.config.frames`` frames (the first repeated until there are enough) and returns the
    policy's mean action. The simulator's state is never read.
    """

    def __init__(
        self, policy: LatentPolicy, world: WorldModel, render: Callable[[], np.ndarray] | None = None
    ) -> None:
        self.policy, self.world, self.render = policy, world, render
        self.frames = policy.config.frames
        self._history: list[np.ndarray] = []

    def reset(self) -> None:
        self._history = []

    def __call__(self, obs: Any) -> np.ndarray:
        frame = self.render() if self.render is not None else obs
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3):
            raise ValueError(
                "a latent policy acts on uint8 (H, W, 3) frames: make the simulator with obs_mode='pixels' "
                f"or pass render=sim.render, got {type(frame).__name__}"
            )
        # The oldest frame drops out; an episode's first step sees its first frame K times.
        self._history = [*self._history[1:], frame] if self._history else [frame] * self.frames
        z = self.world.encode(np.stack(self._history)[None])  # (1, C, K, h, w)
        return self.policy.act(z.permute(0, 2, 1, 3, 4))[0]  # (A,)


def evaluate_in_simulator(
    sim: gym.Env,
    policies: Mapping[str, PolicyFactory],
    *,
    episodes: int,
    steps: int,
    seed: int,
    context_frames: int,
    action_space: gym.spaces.Box,
) -> dict[str, dict[str, Any]]:
    """Success rate and mean return of each policy in ``sim``, episode i from the same start for all.

    Episode i starts from the first unsolved reset drawn from ``np.random.default_rng([seed, i])``
    after ``context_frames`` frames, as ``envs.planning.evaluate_planner`` starts its episodes, so
    a seed no training run drew from gives held-out starts. Policy p draws its own noise from
    ``default_rng([seed, i, p])``; actions are clipped into ``action_space`` (the model's box).
    Returns name -> ``{"success_rate", "mean_return", "returns", "success"}``.
    """
    if episodes < 1 or steps < 1:
        raise ValueError(f"episodes and steps must be >= 1, got {episodes} and {steps}")
    runs: dict[str, list[tuple[float, bool]]] = {name: [] for name in policies}
    for i in range(episodes):
        for p, (name, factory) in enumerate(policies.items()):
            rollout = simulator_rollout(
                sim,
                factory(np.random.default_rng([seed, i, p])),
                np.random.default_rng([seed, i]),
                context_frames=context_frames,
                horizon=steps,
                action_space=action_space,
            )
            runs[name].append((float(rollout.rewards.sum()), rollout.success))
    return {
        name: {
            "success_rate": float(np.mean([s for _, s in results])),
            "mean_return": float(np.mean([r for r, _ in results])),
            "returns": [r for r, _ in results],
            "success": [s for _, s in results],
        }
        for name, results in runs.items()
    }

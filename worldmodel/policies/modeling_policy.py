"""A policy on a world model's latents: a Gaussian actor whose mean is squashed into the action box,
and a critic beside it.

Trained by behaviour cloning on real latents (``training.train_bc``: the actor's mean regresses the
recorded expert actions) and then, optionally, as an actor-critic inside the model's own latent
rollouts (``benchmarks/ppo_world_model.py --obs-mode latent --init-bc``: PPO, Schulman et al. 2017,
arXiv 1707.06347). The same module is a planner's latent policy prior (``LatentPlanner(...,
latent_prior=policy.act)``). Saved by ``worldmodel.hub`` as ``kind: "policy"``; like a reward head it
only makes sense on the latents it was trained on, so its checkpoint records the world model's latent
normalisation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

from worldmodel.hub import register
from worldmodel.policies.configuration_policy import LatentPolicyConfig


class LatentEncoder(nn.Module):
    """K latent frames stacked on channels -> two 3x3 convolutions (the first halves h and w, which
    keeps a CPU step cheap) -> a flattened linear layer: flat, not pooled, because where the
    gripper, block and goal are is the whole state of a pushing task."""

    def __init__(self, config: LatentPolicyConfig) -> None:
        super().__init__()
        h, w = (math.ceil(s / 2) for s in config.latent_size)
        self.net = nn.Sequential(
            nn.Conv2d(config.frames * config.latent_channels, config.hidden, 3, stride=2, padding=1),
            nn.SiLU(),  # (B, hidden, h/2, w/2)
            nn.Conv2d(config.hidden, config.hidden, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(config.hidden * h * w, 4 * config.hidden),
            nn.SiLU(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (B, 4 * hidden)


@register("policy")
class LatentPolicy(nn.Module):
    """Latents -> a Gaussian over actions (mean squashed into the box by tanh) and a value.

    Actor and critic have separate encoders, so that fitting values inside the model does not move
    the features a behaviour-cloned actor starts from.
    """

    def __init__(self, config: LatentPolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.actor_body = LatentEncoder(config)
        self.actor_mean = nn.Linear(4 * config.hidden, config.action_dim)
        self.actor_logstd = nn.Parameter(torch.full((config.action_dim,), math.log(config.init_std)))
        self.critic_body = LatentEncoder(config)
        self.critic = nn.Linear(4 * config.hidden, 1)
        low = torch.tensor(config.action_low)
        high = torch.tensor(config.action_high)
        self.register_buffer("action_center", (high + low) / 2, persistent=False)
        self.register_buffer("action_half", (high - low) / 2, persistent=False)

    def stack(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) (one frame; only for ``frames == 1``) or (B, K, C, h, w) -> (B, K * C, h, w)."""
        k, c = self.config.frames, self.config.latent_channels
        if z.ndim == 4 and k == 1:
            z = z[:, None]
        if z.ndim != 5 or tuple(z.shape[1:3]) != (k, c) or tuple(z.shape[3:]) != self.config.latent_size:
            raise ValueError(
                f"this policy reads latents (B, {k}, {c}, {self.config.latent_size[0]}, "
                f"{self.config.latent_size[1]})"
                + (" or (B, C, h, w)" if k == 1 else "")
                + f", got {tuple(z.shape)}"
            )
        return z.flatten(1, 2).float()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, h, w) or (B, K, C, h, w) normalised latents -> the mean action (B, A), inside the box."""
        return self.action_center + self.action_half * torch.tanh(
            self.actor_mean(self.actor_body(self.stack(z)))
        )

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """z as for ``forward`` -> the critic's value (B,)."""
        return self.critic(self.critic_body(self.stack(z)))[:, 0]

    def distribution(self, z: torch.Tensor) -> Normal:
        """The actor's Gaussian at z: mean ``forward(z)``, std ``exp(actor_logstd)`` half-boxes."""
        mean = self(z)
        return Normal(mean, (self.actor_logstd.exp() * self.action_half).expand_as(mean))

    @torch.no_grad()
    def act(self, latents: np.ndarray | torch.Tensor) -> np.ndarray:
        """The deterministic policy as a planner's ``latent_prior``: latents (B, C, h, w) or
        (B, K, C, h, w), numpy or torch -> mean actions float32 (B, A)."""
        device = self.actor_mean.weight.device
        return self(torch.as_tensor(np.asarray(latents), device=device)).float().cpu().numpy()

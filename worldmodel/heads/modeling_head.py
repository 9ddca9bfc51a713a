"""A reward / success / progress / value head on a world model's latents.

A world model predicts frames, not rewards; agents trained or planned in it need both. The
``RewardHead`` is a small network that reads the world model's own latent of one frame
(``frame_latents``) and predicts the simulator's reward for the step that led to that frame, a
logit of the task being solved in it (Fetch's ``is_success``) and, optionally, dense task progress
and the frame's value (the discounted return-to-go under the policies that recorded the data).
``training.train_reward`` fits it; ``envs.learned_reward.LearnedReward`` scores env steps with it.

A head only makes sense with the latents it was trained on: its checkpoint (``kind: "head"``, saved
by ``worldmodel.hub`` in ``<world-model checkpoint>/reward_head/``) records the latent
normalisation of that world model (``latent_norm_record``), which the loader compares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from worldmodel.heads.configuration_head import RewardHeadConfig
from worldmodel.hub import register

if TYPE_CHECKING:
    from worldmodel.world import WorldModel

REWARD, SUCCESS, PROGRESS = 0, 1, 2
"""columns of ``RewardHead``'s output; the value's is ``config.value_column`` (after progress, if any)"""


class ConvPool(nn.Module):
    """3x3 convolutions over the latent grid, then the max and the mean over positions.

    Success in a pushing task is a local pattern (block on the goal) that can appear anywhere;
    convolutions share what they learn across positions and the max pool finds it, where an
    MLP on the flattened latent has to learn it at every position and overfits small datasets.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.convs(z).flatten(2)  # (B, hidden, h*w)
        return torch.cat([x.amax(-1), x.mean(-1)], dim=1)  # (B, 2 * hidden)


@register("head")
class RewardHead(nn.Module):
    """From one frame's latent to (standardised reward, success logit[, standardised progress]
    [, standardised value]): an MLP on the flattened latent (``arch="mlp"``, keeps absolute
    positions) or ``ConvPool`` and a linear layer (``"conv"``)."""

    def __init__(self, config: RewardHeadConfig) -> None:
        super().__init__()
        self.config = config
        h, w = config.latent_size
        # The module names are the safetensors keys of every saved head: keep them.
        if config.arch == "conv":
            self.net = nn.Sequential(
                ConvPool(config.latent_channels, config.hidden), nn.Linear(2 * config.hidden, config.outputs)
            )
            return
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.latent_channels * h * w, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, config.outputs),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, h, w) normalised world-model latents -> (B, outputs): columns ``REWARD``
        (standardised), ``SUCCESS`` (logit), with ``config.progress`` ``PROGRESS`` and with
        ``config.value`` ``config.value_column`` (both standardised)."""
        return self.net(z)

    @property
    def has_value(self) -> bool:
        """Whether the head predicts values (heads trained before ``--value`` existed do not)."""
        return self.config.value

    def reward(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised reward predictions -> rewards in the simulator's units, clipped to the
        training rewards' range when the config records it: the simulator never pays outside it, so
        a value beyond is extrapolation (a policy would chase or flee it)."""
        reward = standardised * self.config.reward_std + self.config.reward_mean
        if self.config.reward_min is None and self.config.reward_max is None:
            return reward
        return reward.clamp(self.config.reward_min, self.config.reward_max)

    def progress(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised progress predictions -> task progress in the training targets' units
        (metres for Fetch)."""
        if not self.config.progress:
            raise ValueError("this reward head has no progress output; retrain it with --progress")
        return standardised * self.config.progress_std + self.config.progress_mean

    def value(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised value predictions (column ``config.value_column``) -> discounted returns in
        the rewards' units (discount ``config.gamma``)."""
        if not self.has_value:
            raise ValueError("this reward head has no value output; retrain it with --value")
        return standardised * self.config.value_std + self.config.value_mean


def frame_latents(world: WorldModel, frames: np.ndarray, chunk: int = 256) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> the world model's latents (N, C, h, w), encoded ``chunk`` frames at a time."""
    parts = [world.encode(frames[i : i + chunk, None])[:, :, 0] for i in range(0, len(frames), chunk)]
    return torch.cat(parts)


def latent_norm_record(world: WorldModel) -> dict[str, Any]:
    """What a head's checkpoint records of the latents it reads: ``world``'s latent normalisation.
    A head is only valid with a world model whose record is equal."""
    return {"latent_mean": list(world.norm.mean), "latent_std": list(world.norm.std)}

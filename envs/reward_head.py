"""A learned reward / success head on a world model's latents, and the ``RewardFn`` built from it.

A world model predicts frames, not rewards; agents trained or planned in it need both. The
``RewardHead`` is a small MLP that reads the world model's own latent of one frame
(``WorldModel.encode``) and predicts the simulator's reward for the step that led to that frame
and a logit of the task being solved in it (Fetch's ``is_success``). ``training.train_reward``
fits it on recorded ``rewards.npy`` / ``success.npy``.

A head only makes sense with the latents it was trained on, so it is saved beside its world-model
checkpoint as ``reward_head.safetensors`` + ``reward_head.json`` (its config and the latent
normalisation of that checkpoint, checked on load). It is not a ``worldmodel.hub`` checkpoint:
the hub's kinds are whole models, and this head is an attachment of one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from curation.atomic import atomic_output
from envs.world_env import RewardFn
from worldmodel.hub import CheckpointError
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "reward_head.safetensors"
CONFIG_FILE = "reward_head.json"

BatchRewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``fn(prev (N, H, W, 3), actions (N, A), frames (N, H, W, 3)) -> (rewards (N,), terminated (N,) bool)``."""


@dataclass
class RewardHeadConfig:
    """Shape of a ``RewardHead``; defaults fit a CI8x8 tokenizer on 32 px frames."""

    latent_channels: int = 16
    """channels of the world model's latents"""
    latent_size: tuple[int, int] = (4, 4)
    """(h, w) of one frame's latent"""
    hidden: int = 128
    """width of the MLP's two hidden layers"""
    reward_mean: float = 0.0
    """mean of the training rewards: the head predicts rewards standardised by it and ``reward_std``"""
    reward_std: float = 1.0
    """standard deviation of the training rewards (> 0)"""
    arch: str = "mlp"
    """"mlp" (the flattened latent) or "conv" (3x3 convolutions, then max and mean over positions)"""
    progress: bool = False
    """a third output: dense task progress (``envs.sim.fetch.push_progress``) for planners"""
    progress_mean: float = 0.0
    """mean of the training progress targets (the head predicts them standardised)"""
    progress_std: float = 1.0
    """standard deviation of the training progress targets (> 0)"""

    def __post_init__(self) -> None:
        if self.latent_channels < 1:
            raise ValueError(f"latent_channels must be >= 1, got {self.latent_channels}")
        self.latent_size = tuple(int(s) for s in self.latent_size)
        if len(self.latent_size) != 2 or min(self.latent_size) < 1:
            raise ValueError(f"latent_size must be (h, w) with h, w >= 1, got {self.latent_size}")
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if not self.reward_std > 0:
            raise ValueError(f"reward_std must be > 0, got {self.reward_std}")
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        if not self.progress_std > 0:
            raise ValueError(f"progress_std must be > 0, got {self.progress_std}")

    @property
    def outputs(self) -> int:
        return 3 if self.progress else 2


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
        return torch.cat([x.amax(-1), x.mean(-1)], dim=1)


class RewardHead(nn.Module):
    """From one frame's latent to ``(reward, success logit)``: an MLP on the flattened latent
    (``arch="mlp"``, keeps absolute positions) or ``ConvPool`` and a linear layer (``"conv"``)."""

    def __init__(self, config: RewardHeadConfig) -> None:
        super().__init__()
        self.config = config
        h, w = config.latent_size
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

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, C, h, w) normalised world-model latents -> standardised reward (B,), success logit (B,)."""
        out = self.net(z)  # (B, 2 or 3)
        return out[:, 0], out[:, 1]

    def all_outputs(self, z: torch.Tensor) -> torch.Tensor:
        """(B, outputs): standardised reward, success logit and, with ``progress``, standardised progress."""
        return self.net(z)

    def progress(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised progress predictions (``all_outputs(z)[:, 2]``) -> task progress in the
        training targets' units (metres for Fetch)."""
        if not self.config.progress:
            raise ValueError("this reward head has no progress output; retrain it with --progress")
        return standardised * self.config.progress_std + self.config.progress_mean

    def reward(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised reward predictions -> rewards in the simulator's units."""
        return standardised * self.config.reward_std + self.config.reward_mean


def frame_latents(world: WorldModel, frames: np.ndarray, chunk: int = 256) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> the world model's latents (N, C, h, w), encoded ``chunk`` frames at a time."""
    parts = [world.encode(frames[i : i + chunk, None])[:, :, 0] for i in range(0, len(frames), chunk)]
    return torch.cat(parts)


def _norm_record(world: WorldModel) -> dict[str, Any]:
    return {"latent_mean": list(world.norm.mean), "latent_std": list(world.norm.std)}


def save_reward_head(
    head: RewardHead, directory: str | os.PathLike, world: WorldModel, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``head`` into ``directory`` (usually ``world``'s checkpoint) atomically; returns the directory.

    ``extra`` (json-serialisable: data, metrics) is stored in ``reward_head.json`` beside the config.
    """
    directory = Path(directory)
    payload = {"config": dataclasses.asdict(head.config), **_norm_record(world), **(extra or {})}
    with atomic_output(directory / WEIGHTS_FILE) as tmp:
        save_model(head, str(tmp))
    # The config goes last, so a readable reward_head.json always has matching weights.
    with atomic_output(directory / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))
    return directory


def has_reward_head(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a saved reward head."""
    return (Path(directory) / CONFIG_FILE).is_file()


def load_reward_head(
    directory: str | os.PathLike, world: WorldModel | None = None, *, device: str | torch.device = "cpu"
) -> RewardHead:
    """Load the reward head saved in ``directory``, in eval mode.

    With ``world``, a head trained on another checkpoint's latents (a different latent
    normalisation) is a ``CheckpointError`` rather than silently wrong rewards.
    """
    directory = Path(directory)
    if not has_reward_head(directory):
        raise CheckpointError(
            f"{directory} has no {CONFIG_FILE}; train one with `worldfm train reward --wfm {directory}`"
        )
    payload = json.loads((directory / CONFIG_FILE).read_text())
    if world is not None and {k: payload.get(k) for k in ("latent_mean", "latent_std")} != _norm_record(
        world
    ):
        raise CheckpointError(
            f"the reward head in {directory} was trained on another world model's latents (its latent "
            "normalisation differs); retrain it with `worldfm train reward`"
        )
    head = RewardHead(RewardHeadConfig(**payload["config"]))
    missing, unexpected = load_model(head, directory / WEIGHTS_FILE, strict=False, device=str(device))
    if missing or unexpected:
        raise CheckpointError(f"{directory / WEIGHTS_FILE} does not match {CONFIG_FILE}'s config")
    return head.to(device).eval()


class LearnedReward:
    """A ``RewardFn`` (and its batched form) from a ``RewardHead`` on ``world``'s latents.

    ``reward`` is the head's reward for the step into ``obs`` (``objective="reward"``) or its
    dense task progress at ``obs`` (``"progress"``, for planners: heads trained with ``--progress``);
    ``terminated`` is its success probability at ``obs`` above ``success_threshold``: an episode
    in the model ends when the task looks solved (Fetch itself never terminates, but there is
    nothing left to learn after).
    """

    def __init__(
        self,
        world: WorldModel,
        head: RewardHead,
        success_threshold: float = 0.5,
        *,
        objective: str = "reward",
    ) -> None:
        if not 0 < success_threshold < 1:
            raise ValueError(f"success_threshold must be in (0, 1), got {success_threshold}")
        if objective not in ("reward", "progress"):
            raise ValueError(f"objective must be 'reward' or 'progress', got {objective!r}")
        if objective == "progress" and not head.config.progress:
            raise ValueError(
                "objective 'progress' needs a reward head with a progress output: retrain it with "
                "`worldfm train reward --progress`"
            )
        self.world = world
        self.head = head.to(world.device).eval()
        self.success_threshold = success_threshold
        self.objective = objective

    @classmethod
    def from_checkpoint(
        cls,
        directory: str | os.PathLike,
        world: WorldModel | None = None,
        *,
        device: str = "cpu",
        objective: str = "reward",
    ) -> LearnedReward:
        """The head saved in checkpoint ``directory``; ``world`` is loaded from it on ``device`` if None."""
        world = world if world is not None else WorldModel.from_pretrained(directory, device=device)
        return cls(world, load_reward_head(directory, world, device=world.device), objective=objective)

    @torch.no_grad()
    def score(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (N, H, W, 3) -> rewards (N,) float64 (or progress) and success probabilities (N,) float64."""
        out = self.head.all_outputs(frame_latents(self.world, frames))
        if self.objective == "progress":
            reward = self.head.progress(out[:, 2])
        else:
            reward = self.head.reward(out[:, 0])
        return reward.double().cpu().numpy(), torch.sigmoid(out[:, 1]).double().cpu().numpy()

    def batch(
        self, prev: np.ndarray, actions: np.ndarray, frames: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``BatchRewardFn``: rewards (N,) and terminated (N,) for N transitions into ``frames``."""
        reward, success = self.score(frames)
        return reward, success > self.success_threshold

    def __call__(self, prev_obs: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        reward, done = self.batch(prev_obs[None], action[None], obs[None])
        return float(reward[0]), bool(done[0])


def as_batch_reward_fn(reward_fn: RewardFn) -> BatchRewardFn:
    """A ``BatchRewardFn`` for ``reward_fn``.

    A ``LearnedReward`` scores all frames in one pass; any other ``RewardFn`` is called once per
    transition.
    """
    if isinstance(reward_fn, LearnedReward):
        return reward_fn.batch

    def batched(prev: np.ndarray, actions: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [reward_fn(p, a, f) for p, a, f in zip(prev, actions, frames, strict=True)]
        return np.array([float(r) for r, _ in out]), np.array([bool(d) for _, d in out])

    return batched

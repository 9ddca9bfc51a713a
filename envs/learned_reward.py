"""The ``RewardFn`` of a learned reward head, and batched reward functions for planners and evaluation.

The head itself is a model (``worldmodel.heads.RewardHead``, trained by ``worldfm train reward``)
saved as a hub checkpoint in ``<world-model checkpoint>/reward_head/``; ``load_reward_head`` reads it
(heads saved in the older ``reward_head.json`` + ``.safetensors`` layout too, through ``worldmodel.hub``)
and refuses a head trained on another world model's latents. ``LearnedReward`` scores env
transitions with it and, for heads trained with ``--value``, gives a planner the values of the
latents its rollouts end in (``LearnedReward.value``, a ``TerminalValueFn``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from envs.world_env import RewardFn
from worldmodel import hub
from worldmodel.heads import (
    PROGRESS,
    REWARD,
    REWARD_HEAD_DIR,
    SUCCESS,
    RewardHead,
    frame_latents,
    latent_norm_record,
)
from worldmodel.hub import CheckpointError
from worldmodel.world import WorldModel

BatchRewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``fn(prev (N, H, W, 3), actions (N, A), frames (N, H, W, 3)) -> (rewards (N,), terminated (N,) bool)``."""
TerminalValueFn = Callable[[np.ndarray], np.ndarray]
"""``fn(latents (B, C, h, w) float32) -> values (B,) float64``: the discounted return-to-go from
each latent frame, in the rewards' units, for a planner to add after its horizon."""


def reward_head_path(directory: str | os.PathLike) -> Path:
    """Where the reward head of the world-model checkpoint ``directory`` is saved."""
    return Path(directory) / REWARD_HEAD_DIR


def has_reward_head(directory: str | os.PathLike) -> bool:
    """Whether the world-model checkpoint ``directory`` holds a saved reward head."""
    return hub.is_checkpoint(reward_head_path(directory))


def load_reward_head(
    directory: str | os.PathLike, world: WorldModel | None = None, *, device: str | torch.device = "cpu"
) -> RewardHead:
    """Load the reward head saved in the world-model checkpoint ``directory``, in eval mode.

    With ``world``, a head trained on another checkpoint's latents (a different latent
    normalisation) is a ``CheckpointError`` rather than silently wrong rewards.
    """
    path = reward_head_path(directory)
    if not hub.is_checkpoint(path):
        raise CheckpointError(
            f"{directory} has no reward head ({REWARD_HEAD_DIR}/); train one with "
            f"`worldfm train reward --wfm {directory}`"
        )
    payload = hub.read_config(path)
    if world is not None and {k: payload.get(k) for k in ("latent_mean", "latent_std")} != latent_norm_record(
        world
    ):
        raise CheckpointError(
            f"the reward head in {directory} was trained on another world model's latents (its latent "
            "normalisation differs); retrain it with `worldfm train reward`"
        )
    head = hub.load(path, device=device, expect_kind="head")
    if not isinstance(head, RewardHead):
        raise CheckpointError(f"{path} holds a {type(head).__name__}, not a RewardHead")
    return head


class LearnedReward:
    """A ``RewardFn`` (and its batched form) from a ``RewardHead`` on ``world``'s latents.

    ``reward`` is the head's reward for the step into ``obs`` (``objective="reward"``) or its
    dense task progress at ``obs`` (``"progress"``, for planners: heads trained with ``--progress``);
    ``terminated`` is its success probability at ``obs`` above ``success_threshold``: an episode
    in the model ends when the task looks solved (Fetch itself never terminates, but there is
    nothing left to learn after). ``obs_mode="latent"`` scores the latent frames of a latent-mode
    env (``(N, C, h, w)`` float32, what the head reads) instead of encoding uint8 frames.
    ``value`` (heads with ``has_value``) is a planner's ``TerminalValueFn`` on latents in either mode.
    """

    def __init__(
        self,
        world: WorldModel,
        head: RewardHead,
        success_threshold: float = 0.5,
        *,
        objective: str = "reward",
        obs_mode: str = "pixels",
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
        if obs_mode not in ("pixels", "latent"):
            raise ValueError(f"obs_mode must be 'pixels' or 'latent', got {obs_mode!r}")
        self.world = world
        self.head = head.to(world.device).eval()
        self.success_threshold = success_threshold
        self.objective = objective
        self.obs_mode = obs_mode

    @classmethod
    def from_checkpoint(
        cls,
        directory: str | os.PathLike,
        world: WorldModel | None = None,
        *,
        device: str = "cpu",
        objective: str = "reward",
        obs_mode: str = "pixels",
    ) -> LearnedReward:
        """The head saved in checkpoint ``directory``; ``world`` is loaded from it on ``device`` if None."""
        world = world if world is not None else WorldModel.from_pretrained(directory, device=device)
        head = load_reward_head(directory, world, device=world.device)
        return cls(world, head, objective=objective, obs_mode=obs_mode)

    @torch.no_grad()
    def score(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (N, H, W, 3) frames (latent mode: float32 (N, C, h, w) latents) -> rewards (N,)
        float64 (or progress) and success probabilities (N,) float64."""
        if self.obs_mode == "latent":
            z = torch.as_tensor(frames, device=self.world.device)  # (N, C, h, w)
        else:
            z = frame_latents(self.world, frames)  # (N, C, h, w)
        out = self.head(z)  # (N, outputs)
        if self.objective == "progress":
            reward = self.head.progress(out[:, PROGRESS])
        else:
            reward = self.head.reward(out[:, REWARD])
        return reward.double().cpu().numpy(), torch.sigmoid(out[:, SUCCESS]).double().cpu().numpy()

    @property
    def has_value(self) -> bool:
        """Whether the head has a value output (``value`` works): trained with ``--value``."""
        return self.head.has_value

    @torch.no_grad()
    def value(self, latents: np.ndarray | torch.Tensor) -> np.ndarray:
        """The ``TerminalValueFn``: latents (B, C, h, w) (normalised, as ``WorldModel.rollout_latents``
        and the latent env give them) -> values (B,) float64, the discounted return-to-go from each
        under the data's policies, in the rewards' units (discount ``head.config.gamma``)."""
        if not self.has_value:
            raise ValueError(
                "this reward head has no value output: retrain it with `worldfm train reward --value`"
            )
        z = torch.as_tensor(latents, device=self.world.device, dtype=torch.float32)  # (B, C, h, w)
        out = self.head(z)  # (B, outputs)
        return self.head.value(out[:, self.head.config.value_column]).double().cpu().numpy()

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

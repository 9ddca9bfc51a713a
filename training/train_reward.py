"""``worldfm train reward``: fit a reward / success head on a world model's latents of recorded frames.

Reads top to bottom: the run's config, the data (every frame after the first of every clip,
encoded once by the frozen world model, with the simulator's reward for the step into it and its
success flag), the head, a pure ``get_lr(it)``, then one loop (eval, step, log). The head trains in
seconds on precomputed latents, so a run is not resumable: it is rerun. The result is saved beside
the world-model checkpoint (``envs.reward_head``), where ``WorldModelEnv`` finds it.

Held-out clips (by key hash, as ``training.data.split_by_key`` chooses them) are scored against
the trivial baselines: predicting the mean training reward, and the majority success class.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from envs.reward_head import RewardHead, RewardHeadConfig, frame_latents, save_reward_head
from training.data import ClipDataset, split_by_key
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)


@dataclass
class RewardTrainArgs:
    """Everything a reward-head run needs; defaults train a tiny head in seconds."""

    wfm: str = ""
    """the action-conditioned world-model checkpoint whose latents the head reads"""
    data: list[str] = field(default_factory=list)
    """shard folders with rewards.npy (T-1,) and success.npy (T,) per clip (Fetch recordings have both)"""
    out: str | None = None
    """where to save the head; None: beside the world model, in its checkpoint folder"""
    hidden: int = 128
    """width of the head's hidden layers"""
    arch: str = "mlp"
    """"mlp" or "conv" (see ``envs.reward_head.RewardHead``)"""
    steps: int = 500
    """optimizer steps"""
    batch_size: int = 256
    """frames per step"""
    lr: float = 1e-3
    """peak learning rate (cosine decay to lr / 10 after warmup)"""
    warmup: int = 20
    """linear warmup steps"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    success_weight: float = 1.0
    """weight of the success cross-entropy against the standardised reward MSE"""
    heldout_fraction: float = 0.1
    """clips held out by key hash for evaluation"""
    eval_every: int = 100
    """steps between held-out evaluations"""
    seed: int = 0
    """seed of the initialisation and the batches"""
    device: str = "cpu"
    """where the world model encodes and the head trains"""

    def __post_init__(self) -> None:
        if not self.wfm:
            raise ValueError("wfm must name a world-model checkpoint (--wfm)")
        if not self.data:
            raise ValueError("data must name at least one shard folder (--data)")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class FrameTargets:
    """Encoded frames and what the head should predict for each."""

    latents: torch.Tensor  # (N, C, h, w)
    rewards: torch.Tensor  # (N,) the reward of the step into the frame
    success: torch.Tensor  # (N,) 1.0 where the task is solved in the frame


def load_targets(world: WorldModel, clips: ClipDataset, keys: set[str]) -> FrameTargets | None:
    """Frames 1..T-1 of the clips named in ``keys`` with their targets; None if there are none.

    Row t of ``rewards.npy`` is the reward of the step from frame t to frame t+1, so it belongs to
    frame t+1; frame 0 has no reward and is left out.
    """
    chosen = [c for c in clips.clips if c.key in keys]
    if not chosen:
        return None
    frames = np.concatenate([c.frames[1:] for c in chosen])
    return FrameTargets(
        latents=frame_latents(world, frames).float().cpu(),
        rewards=torch.from_numpy(np.concatenate([c.arrays["rewards"] for c in chosen])).float(),
        success=torch.from_numpy(np.concatenate([c.arrays["success"][1:] for c in chosen])).float(),
    )


def get_lr(it: int, args: RewardTrainArgs) -> float:
    """Linear warmup, then cosine decay from ``lr`` to ``lr / 10`` at the last step."""
    if it < args.warmup:
        return args.lr * (it + 1) / args.warmup
    progress = (it - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr / 10 + 0.5 * (args.lr - args.lr / 10) * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def evaluate(
    head: RewardHead, data: FrameTargets, train_reward_mean: float, majority: float
) -> dict[str, float]:
    """Reward MSE (simulator units) and success accuracy on ``data``, beside the trivial baselines."""
    standardised, logit = head(data.latents)
    predicted = head.reward(standardised)
    success = data.success > 0.5
    return {
        "eval/reward_mse": torch.mean((predicted - data.rewards) ** 2).item(),
        "eval/mean_reward_mse": torch.mean((train_reward_mean - data.rewards) ** 2).item(),
        "eval/success_accuracy": ((logit > 0) == success).float().mean().item(),
        "eval/majority_success_accuracy": (success == (majority > 0.5)).float().mean().item(),
    }


def train_reward(args: RewardTrainArgs) -> dict[str, float]:
    """Train a reward head on ``args.data`` and save it; returns the last logged metrics."""
    world = WorldModel.from_pretrained(args.wfm, device=args.device)
    if world.frame_size is None:
        raise ValueError(f"{args.wfm} records no frame_size; a reward head needs frames of the model's size")
    clips = ClipDataset(
        args.data, frames=2, size=world.frame_size, arrays=("rewards", "success"), split="all"
    )
    missing = {"rewards", "success"} - set(clips.arrays)
    if missing:
        raise ValueError(
            f"{args.data} has no {' or '.join(sorted(missing))}.npy; record episodes with rewards and "
            "success flags (`worldfm simulate fetch`)"
        )
    train_keys, heldout_keys = split_by_key(clips.keys, args.heldout_fraction)
    train = load_targets(world, clips, set(train_keys))
    heldout = load_targets(world, clips, set(heldout_keys))
    if train is None:
        raise ValueError(f"every clip of {args.data} is held out; lower heldout_fraction")
    if heldout is None:
        logger.warning(
            "no clip is held out (heldout_fraction=%s): evaluating on training frames", args.heldout_fraction
        )
        heldout = train
    reward_mean = float(train.rewards.mean())
    reward_std = max(float(train.rewards.std()), 1e-6) if len(train.rewards) > 1 else 1.0
    majority = float(train.success.mean())
    logger.info(
        "reward head: %d train / %d held-out frames, reward %.3f +- %.3f, success rate %.2f",
        len(train.rewards),
        len(heldout.rewards),
        reward_mean,
        reward_std,
        majority,
    )

    torch.manual_seed(args.seed)
    _, c, h, w = train.latents.shape
    config = RewardHeadConfig(
        latent_channels=c,
        latent_size=(h, w),
        hidden=args.hidden,
        arch=args.arch,
        reward_mean=reward_mean,
        reward_std=reward_std,
    )
    head = RewardHead(config)
    optimizer = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    target_reward = (train.rewards - reward_mean) / reward_std  # (N,)
    # Solved frames are rare in most recordings; weigh the classes equally.
    pos_weight = torch.tensor((1 - majority) / majority if 0 < majority < 1 else 1.0)
    rng = torch.Generator().manual_seed(args.seed)

    metrics: dict[str, float] = {}
    for it in range(args.steps):
        if it % args.eval_every == 0:
            head.eval()
            metrics = evaluate(head, heldout, reward_mean, majority)
            logger.info("step %d: %s", it, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            head.train()
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it, args)
        index = torch.randint(len(target_reward), (args.batch_size,), generator=rng)
        standardised, logit = head(train.latents[index])
        reward_loss = F.mse_loss(standardised, target_reward[index])
        success_loss = F.binary_cross_entropy_with_logits(logit, train.success[index], pos_weight=pos_weight)
        loss = reward_loss + args.success_weight * success_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        metrics |= {"losses/reward": reward_loss.item(), "losses/success": success_loss.item()}
    head.eval()
    metrics |= evaluate(head, heldout, reward_mean, majority)
    out = Path(args.out or args.wfm)
    save_reward_head(
        head,
        out,
        world,
        extra={
            "wfm": str(args.wfm),
            "data": [str(d) for d in args.data],
            "steps": args.steps,
            "metrics": metrics,
        },
    )
    logger.info("saved the reward head in %s", out)
    return metrics

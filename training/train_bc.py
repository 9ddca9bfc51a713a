"""``worldfm train bc``: behaviour-clone a policy on a world model's latents from recorded episodes.

Reads top to bottom: the run's config, the data (the clips recorded by the chosen policies, the
shard meta's ``policy``: by default the scripted expert; every frame encoded once by the frozen
world model, each window of ``frames`` latent frames paired with the action recorded after its
last frame), the policy (``worldmodel.policies.LatentPolicy``), then the project's ``Trainer``,
whose loss is the MSE of the actor's mean against the recorded action. Only the actor trains; the
critic waits for an actor-critic run in imagination (``benchmarks/ppo_world_model.py --init-bc``).

The policy sees what a deployed policy sees, the camera's frames through the world model's
tokenizer; the simulator's positions, recorded beside the frames, are never its input. It is the
baseline an imagination-trained policy must beat, that policy's starting point, and a planner's
latent prior. Held-out clips (by key hash, ``training.data.split_by_key``) are scored against
predicting the mean training action.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from curation.shards import read_samples
from training.data import ClipDataset, DataError, split_by_key
from training.runs import head_run
from training.trainer import Trainer
from worldmodel import hub
from worldmodel.heads import frame_latents, latent_norm_record
from worldmodel.policies import LatentPolicy, LatentPolicyConfig
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)


@dataclass
class BCTrainArgs:
    """Everything a behaviour-cloning run needs; defaults clone a small policy in a minute on CPU."""

    wfm: str = ""
    """the action-conditioned world-model checkpoint whose latents the policy reads"""
    data: list[str] = field(default_factory=list)
    """shard folders with actions.npy per clip and the recording policy in each clip's meta"""
    out: str = ""
    """the policy's checkpoint folder"""
    policies: list[str] = field(default_factory=lambda: ["expert"])
    """the recorded policies (shard meta ``policy``) whose actions are cloned"""
    frames: int = 1
    """latent frames the policy sees (the newest last)"""
    hidden: int = 32
    """channels of the policy's convolutions (its linear layers are 4x wider)"""
    steps: int = 1000
    """optimizer steps"""
    batch_size: int = 64
    """(window, action) pairs per step"""
    lr: float = 1e-3
    """peak learning rate (cosine decay to lr / 10 after warmup)"""
    warmup: int = 20
    """linear warmup steps"""
    weight_decay: float = 1e-4
    """AdamW weight decay"""
    heldout_fraction: float = 0.1
    """clips held out by key hash for evaluation"""
    eval_every: int = 250
    """steps between held-out evaluations"""
    seed: int = 0
    """seed of the initialisation and the batches"""
    device: str = "cpu"
    """where the world model encodes and the policy trains"""

    def __post_init__(self) -> None:
        if not self.wfm:
            raise ValueError("wfm must name a world-model checkpoint (--wfm)")
        if not self.data:
            raise ValueError("data must name at least one shard folder (--data)")
        if not self.out:
            raise ValueError("out must name the policy's checkpoint folder (--out)")
        if not self.policies:
            raise ValueError("policies must name at least one recorded policy to clone (--policies expert)")
        if self.frames < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                "frames, steps and batch_size must be >= 1, got "
                f"{self.frames}, {self.steps}, {self.batch_size}"
            )


@dataclass
class Demonstrations:
    """Windows of latent frames and the action recorded after each window's last frame."""

    latents: torch.Tensor  # (N, K, C, h, w)
    actions: torch.Tensor  # (N, A)

    def __len__(self) -> int:
        return len(self.actions)


def recorded_policies(source: list[str]) -> dict[str, str | None]:
    """Clip key -> the policy that recorded it (shard meta ``policy``; None where it is not recorded)."""
    return {s["key"]: s["meta"].get("policy") for s in read_samples(source, decode_video=False)}


def demonstrations(
    world: WorldModel, clips: ClipDataset, keys: set[str], frames: int
) -> Demonstrations | None:
    """Every window of ``frames`` latent frames of the clips in ``keys`` with the action after it.

    Row t of ``actions.npy`` acts between frame t and t+1, so the window ending at frame t (frames
    t-K+1 .. t) is labelled with row t, for t = K-1 .. T-2; None if no clip is chosen.
    """
    windows, actions = [], []
    for clip in clips.clips:
        if clip.key not in keys:
            continue
        z = frame_latents(world, clip.frames).float().cpu()  # (T, C, h, w)
        ends = range(frames - 1, len(clip.frames) - 1)
        windows.append(torch.stack([z[t - frames + 1 : t + 1] for t in ends]))  # (T-K, K, C, h, w)
        actions.append(torch.from_numpy(clip.arrays["actions"][frames - 1 : len(clip.frames) - 1]).float())
    if not windows:
        return None
    return Demonstrations(torch.cat(windows), torch.cat(actions))


@torch.no_grad()
def evaluate(policy: torch.nn.Module, heldout: Demonstrations, mean_action: torch.Tensor) -> dict[str, float]:
    """Held-out action MSE of the policy's mean and of the mean training action (the trivial baseline)."""
    policy.eval()
    predicted = torch.cat([policy(heldout.latents[i : i + 512]) for i in range(0, len(heldout), 512)])
    policy.train()
    return {
        "action_mse": F.mse_loss(predicted, heldout.actions).item(),
        "mean_action_mse": F.mse_loss(mean_action.expand_as(heldout.actions), heldout.actions).item(),
    }


def bc_batches(train: Demonstrations, batch_size: int, seed: int):  # noqa: ANN201 - a GetBatch
    """The ``Trainer``'s ``get_batch``: ``batch_size`` pairs drawn with replacement, a pure function
    of ``(seed, step, micro)``."""

    def get_batch(step: int, micro: int) -> dict[str, torch.Tensor]:
        rng = torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, step, micro]).generate_state(1)[0])
        )
        index = torch.randint(len(train), (batch_size,), generator=rng)
        return {"latents": train.latents[index], "actions": train.actions[index]}

    return get_batch


def bc_loss(model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    """The ``Trainer``'s ``loss_fn``: MSE of the actor's mean against the recorded actions."""
    loss = F.mse_loss(model(batch["latents"]), batch["actions"])
    return loss, {"action": loss.item()}


def train_bc(args: BCTrainArgs) -> dict[str, float]:
    """Clone ``args.policies``' actions from ``args.data`` and save the policy; returns the last metrics."""
    world = WorldModel.from_pretrained(args.wfm, device=args.device)
    if not world.action_dim or world.info.action_space is None or world.frame_size is None:
        raise ValueError(
            f"{args.wfm} is not an action-conditioned world model with a frame size; behaviour cloning "
            "on its latents needs one (`worldfm train posttrain --task robot`)"
        )
    recorded = recorded_policies(args.data)
    chosen = {key for key, policy in recorded.items() if policy in args.policies}
    if not chosen:
        found = sorted({str(p) for p in recorded.values()})
        raise DataError(
            f"no clip in {args.data} was recorded by {args.policies} (recorded by: {found}); pass "
            "--policies with some of those, or record expert episodes with `worldfm simulate fetch`"
        )
    clips = ClipDataset(args.data, frames=args.frames + 1, size=world.frame_size, arrays=("actions",))
    if "actions" not in clips.arrays:
        raise DataError(f"{args.data} has no actions.npy; behaviour cloning needs the recorded actions")
    keys = [k for k in clips.keys if k in chosen]
    train_keys, heldout_keys = split_by_key(keys, args.heldout_fraction)
    train = demonstrations(world, clips, set(train_keys), args.frames)
    if train is None:
        raise ValueError(f"every chosen clip of {args.data} is held out; lower heldout_fraction")
    heldout = demonstrations(world, clips, set(heldout_keys), args.frames)
    if heldout is None:
        logger.warning(
            "no clip is held out (heldout_fraction=%s): evaluating on training pairs", args.heldout_fraction
        )
        heldout = train
    logger.info(
        "behaviour cloning %s: %d train / %d held-out pairs from %d / %d clips",
        args.policies,
        len(train),
        len(heldout),
        len(train_keys),
        len(heldout_keys),
    )
    mean_action = train.actions.mean(0)

    torch.manual_seed(args.seed)
    _, _, c, h, w = train.latents.shape
    box = world.info.action_space
    config = LatentPolicyConfig(
        latent_channels=c,
        latent_size=(h, w),
        frames=args.frames,
        action_dim=train.actions.shape[1],
        action_low=list(box.low),
        action_high=list(box.high),
        hidden=args.hidden,
    )
    policy = LatentPolicy(config)
    run = head_run(
        args,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        log_every=min(args.eval_every, args.steps),
        out_dir=args.out,
    )
    trainer = Trainer(
        policy,
        run,
        loss_fn=bc_loss,
        get_batch=bc_batches(train, args.batch_size, args.seed),
        eval_fn=lambda model: evaluate(model, heldout, mean_action),
        checkpoint_extra={
            **latent_norm_record(world),
            "wfm": str(args.wfm),
            "data": [str(d) for d in args.data],
            "cloned_policies": list(args.policies),
            "pairs": len(train),
        },
    )
    metrics = trainer.fit(resume=False)
    hub.update_section(Path(args.out), "metrics", metrics)
    logger.info("saved the policy in %s", args.out)
    return metrics

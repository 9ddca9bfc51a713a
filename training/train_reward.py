"""``worldfm train reward``: fit a reward / success (/ progress / value) head on a world model's latents.

Reads top to bottom: the run's config, the data (every frame after the first of every clip,
encoded once by the frozen world model, with the simulator's reward for the step into it and its
success flag), the head (``worldmodel.heads.RewardHead``), then the project's ``Trainer`` with its
loss and batches. The head trains in seconds on precomputed latents, so a run is not resumable: it
is rerun. The head is a hub checkpoint (``kind: "head"``) in ``reward_head/`` inside the
world-model checkpoint, where ``WorldModelEnv`` finds it (``envs.learned_reward``).

Two options serve planning and RL in the model. ``imagined_horizon`` adds the model's own
rollouts: from starts along every clip, the frames it predicts for the recorded actions, labelled
with what the simulator recorded for those steps. A head that only saw real frames misreads the
model's blurrier ones (it over-called success on them); on imagined frames it learns what the model
can and cannot show. ``progress`` adds a dense output (the clips' ``progress.npy``, which the
simulator records from the gripper, block and goal positions: ``worldfm simulate fetch``), which a
planner can climb long before the sparse task reward changes. ``value`` adds the discounted
return-to-go of each frame under the policies that recorded it (``training.returns.episode_values``:
the clip's rewards, its last frame taken as absorbing), a planner's terminal value beyond its horizon.

Held-out clips (by key hash, as ``training.data.split_by_key`` chooses them) are scored against
the trivial baselines: predicting the mean training reward (value: the mean training return), and the
majority success class; imagined held-out frames are scored apart (``eval/imagined_*``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.data import ClipDataset, split_by_key
from training.returns import episode_values
from training.runs import head_run
from training.trainer import Trainer
from worldmodel import hub
from worldmodel.heads import (
    PROGRESS,
    REWARD,
    REWARD_HEAD_DIR,
    SUCCESS,
    RewardHead,
    RewardHeadConfig,
    frame_latents,
    latent_norm_record,
)
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
    """the folder the head is saved in (as ``reward_head/``); None: the world model's checkpoint folder"""
    hidden: int = 128
    """width of the head's hidden layers"""
    arch: str = "mlp"
    """"mlp" or "conv" (see ``worldmodel.heads.RewardHead``)"""
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
    progress: bool = False
    """also predict dense task progress (needs progress.npy per clip, as `worldfm simulate fetch` records)"""
    imagined_horizon: int = 0
    """also train on the model's rollouts of this many frames over the recorded actions (0: off)"""
    imagined_stride: int = 8
    """frames between the starts of those rollouts along each clip"""
    imagined_batch: int = 64
    """rollouts per batched ``WorldModel.predict`` call"""
    value: bool = False
    """also predict each frame's discounted return-to-go under the data's policies (a planner's
    terminal value); a clip's last frame is taken as absorbing (``training.returns``)"""
    gamma: float = 0.95
    """discount of those returns: a horizon of about 1 / (1 - gamma) = 20 steps, beyond a planner's"""

    def __post_init__(self) -> None:
        if not self.wfm:
            raise ValueError("wfm must name a world-model checkpoint (--wfm)")
        if not self.data:
            raise ValueError("data must name at least one shard folder (--data)")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.imagined_horizon < 0 or self.imagined_stride < 1 or self.imagined_batch < 1:
            raise ValueError(
                "imagined_horizon must be >= 0 and imagined_stride, imagined_batch >= 1; got "
                f"{self.imagined_horizon}, {self.imagined_stride}, {self.imagined_batch}"
            )
        if not 0 <= self.gamma < 1:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")


@dataclass
class FrameTargets:
    """Encoded frames and what the head should predict for each."""

    latents: torch.Tensor  # (N, C, h, w)
    rewards: torch.Tensor  # (N,) the reward of the step into the frame
    success: torch.Tensor  # (N,) 1.0 where the task is solved in the frame
    progress: torch.Tensor | None = None  # (N,) dense task progress at the frame
    values: torch.Tensor | None = None  # (N,) discounted return-to-go from the frame

    def __len__(self) -> int:
        return len(self.rewards)

    @staticmethod
    def concat(parts: list[FrameTargets]) -> FrameTargets:
        def cat(name: str) -> torch.Tensor | None:
            tensors = [getattr(p, name) for p in parts]
            return None if any(x is None for x in tensors) else torch.cat(tensors)

        return FrameTargets(
            latents=torch.cat([p.latents for p in parts]),
            rewards=torch.cat([p.rewards for p in parts]),
            success=torch.cat([p.success for p in parts]),
            progress=cat("progress"),
            values=cat("values"),
        )


def clip_values(clip, gamma: float) -> np.ndarray:  # noqa: ANN001 - a training.data clip
    """The value targets (T,) of a clip's frames: the returns-to-go of its rewards (T-1,) with
    discount ``gamma``. A clip is taken as a whole episode (``worldfm simulate fetch`` writes one per
    clip); a clip cut from a longer one gets its cut-off future from the absorbing tail."""
    return episode_values(clip.arrays["rewards"], gamma).astype(np.float32)


def load_targets(
    world: WorldModel,
    clips: ClipDataset,
    keys: set[str],
    *,
    progress: bool = False,
    gamma: float | None = None,
) -> FrameTargets | None:
    """Frames 1..T-1 of the clips named in ``keys`` with their targets; None if there are none.

    Row t of ``rewards.npy`` is the reward of the step from frame t to frame t+1, so it belongs to
    frame t+1; frame 0 has no reward and is left out. With ``gamma``, each frame's value target is
    its return-to-go (``clip_values``): the rewards of the steps after it, not the one into it.
    """
    chosen = [c for c in clips.clips if c.key in keys]
    if not chosen:
        return None
    frames = np.concatenate([c.frames[1:] for c in chosen])
    return FrameTargets(
        latents=frame_latents(world, frames).float().cpu(),
        rewards=torch.from_numpy(np.concatenate([c.arrays["rewards"] for c in chosen])).float(),
        success=torch.from_numpy(np.concatenate([c.arrays["success"][1:] for c in chosen])).float(),
        progress=torch.from_numpy(np.concatenate([c.arrays["progress"][1:] for c in chosen]))
        if progress
        else None,
        values=torch.from_numpy(np.concatenate([clip_values(c, gamma)[1:] for c in chosen]))
        if gamma is not None
        else None,
    )


def imagined_targets(
    world: WorldModel,
    clips: ClipDataset,
    keys: set[str],
    *,
    horizon: int,
    stride: int,
    batch: int,
    seed: int,
    progress: bool = False,
    gamma: float | None = None,
) -> FrameTargets | None:
    """The model's own frames for the recorded actions, with the recorded targets of those steps.

    From every ``stride``-th start s of each clip, the model sees frames s .. s+K-1 (K context
    frames) and predicts ``horizon`` frames for the actions recorded after them; predicted frame i
    stands for recorded frame j = s+K+i and takes its reward (row j-1), success, progress and value
    (``clip_values`` at j, with ``gamma``). The
    latents are those of the decoded predicted frames, as ``LearnedReward`` sees them in use.
    """
    k = world.context_frames
    starts = [
        (clip, s)
        for clip in clips.clips
        if clip.key in keys
        for s in range(0, len(clip.frames) - k - horizon + 1, stride)
    ]
    if not starts:
        return None
    parts = []
    for i in range(0, len(starts), batch):
        chunk = starts[i : i + batch]
        context = np.stack([c.frames[s : s + k] for c, s in chunk])  # (B, K, H, W, 3)
        actions = np.stack([c.arrays["actions"][s + k - 1 : s + k - 1 + horizon] for c, s in chunk])
        frames = world.predict(context, actions=actions, horizon=horizon, seed=seed + i)  # (B, H, ...)
        pairs = [(c, np.arange(s + k, s + k + horizon)) for c, s in chunk]  # recorded frame indices

        def gather(values, pairs=pairs) -> torch.Tensor:  # noqa: ANN001 - clip -> per-frame array
            return torch.from_numpy(np.concatenate([values(c, j) for c, j in pairs])).float()

        parts.append(
            FrameTargets(
                latents=frame_latents(world, frames.reshape(-1, *frames.shape[2:])).float().cpu(),
                rewards=gather(lambda c, j: c.arrays["rewards"][j - 1]),
                success=gather(lambda c, j: c.arrays["success"][j]),
                progress=gather(lambda c, j: c.arrays["progress"][j]) if progress else None,
                values=gather(lambda c, j: clip_values(c, gamma)[j]) if gamma is not None else None,
            )
        )
    return FrameTargets.concat(parts)


@torch.no_grad()
def evaluate(
    head: RewardHead,
    data: FrameTargets,
    train_reward_mean: float,
    majority: float,
    prefix: str = "eval/",
    train_value_mean: float = 0.0,
) -> dict[str, float]:
    """Reward MSE (simulator units) and success accuracy on ``data``, beside the trivial baselines;
    with a progress output, the correlation of predicted and true progress; with a value output, the
    value MSE (rewards' units) beside predicting ``train_value_mean`` and the correlation with the
    true return-to-go."""
    out = head(data.latents.to(next(head.parameters()).device)).float().cpu()  # (N, outputs)
    predicted, logit = head.reward(out[:, REWARD]), out[:, SUCCESS]
    success = data.success > 0.5
    metrics = {
        f"{prefix}reward_mse": torch.mean((predicted - data.rewards) ** 2).item(),
        f"{prefix}mean_reward_mse": torch.mean((train_reward_mean - data.rewards) ** 2).item(),
        f"{prefix}success_accuracy": ((logit > 0) == success).float().mean().item(),
        f"{prefix}majority_success_accuracy": (success == (majority > 0.5)).float().mean().item(),
    }
    if head.config.progress and data.progress is not None:
        pair = torch.stack([head.progress(out[:, PROGRESS]), data.progress])
        metrics[f"{prefix}progress_corr"] = torch.corrcoef(pair)[0, 1].item()
    if head.has_value and data.values is not None:
        value = head.value(out[:, head.config.value_column])
        metrics[f"{prefix}value_mse"] = torch.mean((value - data.values) ** 2).item()
        metrics[f"{prefix}mean_value_mse"] = torch.mean((train_value_mean - data.values) ** 2).item()
        metrics[f"{prefix}value_corr"] = torch.corrcoef(torch.stack([value, data.values]))[0, 1].item()
    return metrics


def frame_batches(train: FrameTargets, targets: dict[str, torch.Tensor], batch_size: int, seed: int):  # noqa: ANN201 - a GetBatch
    """The ``Trainer``'s ``get_batch``: ``batch_size`` frames drawn with replacement, a pure function
    of ``(seed, step, micro)``; ``targets`` are per-frame (N,) tensors returned under their names."""

    def get_batch(step: int, micro: int) -> dict[str, torch.Tensor]:
        rng = torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, step, micro]).generate_state(1)[0])
        )
        index = torch.randint(len(train), (batch_size,), generator=rng)
        return {"latents": train.latents[index], **{k: v[index] for k, v in targets.items()}}

    return get_batch


def head_loss(pos_weight: torch.Tensor, success_weight: float):  # noqa: ANN201 - a LossFn
    """The ``Trainer``'s ``loss_fn``: standardised reward MSE + ``success_weight`` x success
    cross-entropy (classes weighed by ``pos_weight``) + standardised progress and value MSEs when the
    batch has them."""

    def loss_fn(model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["latents"])  # (B, outputs)
        reward_loss = F.mse_loss(out[:, REWARD], batch["reward"])
        success_loss = F.binary_cross_entropy_with_logits(
            out[:, SUCCESS], batch["success"], pos_weight=pos_weight.to(out.device)
        )
        loss = reward_loss + success_weight * success_loss
        parts = {"reward": reward_loss.item(), "success": success_loss.item()}
        if "progress" in batch:
            progress_loss = F.mse_loss(out[:, PROGRESS], batch["progress"])
            loss = loss + progress_loss
            parts["progress"] = progress_loss.item()
        if "value" in batch:
            value_loss = F.mse_loss(out[:, model.config.value_column], batch["value"])
            loss = loss + value_loss
            parts["value"] = value_loss.item()
        return loss, parts

    return loss_fn


def train_reward(args: RewardTrainArgs) -> dict[str, float]:
    """Train a reward head on ``args.data`` and save it; returns the last logged metrics."""
    world = WorldModel.from_pretrained(args.wfm, device=args.device)
    if world.frame_size is None:
        raise ValueError(f"{args.wfm} records no frame_size; a reward head needs frames of the model's size")
    if args.imagined_horizon and not world.action_dim:
        raise ValueError(
            f"{args.wfm} is not action-conditioned: imagined rollouts need one (--imagined-horizon 0)"
        )
    needed = ("rewards", "success")
    needed += ("actions",) if args.imagined_horizon else ()
    needed += ("progress",) if args.progress else ()
    clips = ClipDataset(args.data, frames=2, size=world.frame_size, arrays=needed, split="all")
    missing = set(needed) - set(clips.arrays)
    if missing:
        raise ValueError(
            f"{args.data} has no {' or '.join(sorted(missing))}.npy; record episodes with rewards, "
            "success flags and progress (re-run `worldfm simulate fetch`)"
            + (" or drop --progress" if "progress" in missing else "")
        )
    train_keys, heldout_keys = split_by_key(clips.keys, args.heldout_fraction)
    gamma = args.gamma if args.value else None
    train = load_targets(world, clips, set(train_keys), progress=args.progress, gamma=gamma)
    heldout = load_targets(world, clips, set(heldout_keys), progress=args.progress, gamma=gamma)
    if train is None:
        raise ValueError(f"every clip of {args.data} is held out; lower heldout_fraction")
    imagined_heldout = None
    if args.imagined_horizon:
        imagine = {
            "horizon": args.imagined_horizon,
            "stride": args.imagined_stride,
            "batch": args.imagined_batch,
            "seed": args.seed,
            "progress": args.progress,
            "gamma": gamma,
        }
        imagined = imagined_targets(world, clips, set(train_keys), **imagine)
        if imagined is None:
            raise ValueError(
                f"no clip of {args.data} is longer than {world.context_frames} context + "
                f"{args.imagined_horizon} imagined frames; lower --imagined-horizon"
            )
        logger.info("imagined %d frames for training", len(imagined))
        train = FrameTargets.concat([train, imagined])
        imagined_heldout = imagined_targets(world, clips, set(heldout_keys), **imagine)
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

    progress_mean = float(train.progress.mean()) if train.progress is not None else 0.0
    progress_std = max(float(train.progress.std()), 1e-6) if train.progress is not None else 1.0
    value_mean = float(train.values.mean()) if train.values is not None else 0.0
    value_std = max(float(train.values.std()), 1e-6) if train.values is not None else 1.0

    def evaluate_all(head: torch.nn.Module) -> dict[str, float]:
        metrics = evaluate(head, heldout, reward_mean, majority, train_value_mean=value_mean)
        if imagined_heldout is not None:
            metrics |= evaluate(
                head, imagined_heldout, reward_mean, majority, "eval/imagined_", train_value_mean=value_mean
            )
        return metrics

    # -- the head
    torch.manual_seed(args.seed)
    _, c, h, w = train.latents.shape
    config = RewardHeadConfig(
        latent_channels=c,
        latent_size=(h, w),
        hidden=args.hidden,
        arch=args.arch,
        reward_mean=reward_mean,
        reward_std=reward_std,
        reward_min=float(train.rewards.min()),
        reward_max=float(train.rewards.max()),
        progress=args.progress,
        progress_mean=progress_mean,
        progress_std=progress_std,
        value=args.value,
        gamma=args.gamma,
        value_mean=value_mean,
        value_std=value_std,
    )
    head = RewardHead(config)

    # -- targets and the training loop
    targets = {"reward": (train.rewards - reward_mean) / reward_std, "success": train.success}
    if train.progress is not None:
        targets["progress"] = (train.progress - progress_mean) / progress_std
    if train.values is not None:
        targets["value"] = (train.values - value_mean) / value_std
    # Solved frames are rare in most recordings; weigh the classes equally.
    pos_weight = torch.tensor((1 - majority) / majority if 0 < majority < 1 else 1.0)
    folder = Path(args.out or args.wfm)
    out_dir = folder / REWARD_HEAD_DIR
    log_every = min(args.eval_every, args.steps)
    run = head_run(
        args,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        log_every=log_every,
        out_dir=str(out_dir),
    )
    trainer = Trainer(
        head,
        run,
        loss_fn=head_loss(pos_weight, args.success_weight),
        get_batch=frame_batches(train, targets, args.batch_size, args.seed),
        eval_fn=evaluate_all,
        checkpoint_extra={
            **latent_norm_record(world),
            "wfm": str(args.wfm),
            "data": [str(d) for d in args.data],
            "steps": args.steps,
            "imagined_horizon": args.imagined_horizon,
        },
    )
    metrics = trainer.fit(resume=False)
    # The last evaluation ran after the checkpoint's config was composed: record it beside it.
    hub.update_section(out_dir, "metrics", metrics)
    _drop_legacy_head(folder)
    logger.info("saved the reward head in %s", out_dir)
    return metrics


def _drop_legacy_head(folder: Path) -> None:
    """Remove a head saved in the layout before heads were hub checkpoints (``reward_head.json`` +
    ``.safetensors`` beside ``reward_head/``): the new head replaces it, one head per folder."""
    for suffix in (".json", ".safetensors"):
        old = folder / (REWARD_HEAD_DIR + suffix)
        if old.is_file():
            old.unlink()
            logger.info("removed %s: replaced by %s/", old, REWARD_HEAD_DIR)

"""``worldfm train diffusion`` and ``train posttrain``: a diffusion WFM on tokenizer latents.

Reads top to bottom: the run's config, the data (clips encoded once by the frozen
tokenizer), the model, the loss, evaluation against copying the last frame, then
the shared ``Trainer`` loop. Video2World pre-training conditions on the previous
``context_frames`` latents; post-training (Cosmos, Sec. 6) adds what leads into the
predicted frame: the robot's action (``--task robot``), the camera's pose as Plücker rays
(``--task camera``), or the car's ego motion with the views tiled in one canvas
(``--task driving``). ``lora_rank`` trains low-rank adapters instead of every weight and
merges them into the checkpoint it writes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.data import ClipDataset, batches_for
from training.latents import LatentClipDataset
from training.runs import command_run
from training.text_encoders import caption_inputs, start_wordllama_text
from training.trainer import TrainConfig, Trainer, seed_initialisation
from training.warm_start import initialise_from, lineage
from worldmodel import hub
from worldmodel.conditioning import TextEncoderConfig
from worldmodel.conditioning.camera import (
    PLUCKER_CHANNELS,
    POSE_VECTOR_DIM,
    camera_features,
    relative_pose_vectors,
)
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.conditioning.trajectory import TRAJECTORY_DIM, ego_motion
from worldmodel.conditioning.window import WindowConditioning, context_mask, window_conditioning
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel
from worldmodel.diffusion.configuration_dit import get_config as get_dit_config
from worldmodel.info import ActionSpace, WorldModelInfo
from worldmodel.lora import apply_lora, merged_copy
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import LatentNorm

logger = logging.getLogger(__name__)


@dataclass
class WorldModelRunArgs:
    """What every world-model run needs, diffusion or autoregressive: the frozen tokenizer, the data,
    the conditioning, the held-out split and the shared trainer's settings."""

    tokenizer: str = ""
    """an image tokenizer checkpoint (one latent frame per frame)"""
    data: list[str] = field(default_factory=list)
    """shard folders"""
    out: str = "runs/wfm"
    """the checkpoint directory"""
    context_frames: int = 2
    """latent frames of context; the model predicts the next one"""
    actions: bool = False
    """condition on the action leading into the predicted frame (robot post-training)"""
    text: bool = False
    """condition on the clips' captions through a nested text encoder (wordllama-initialised)"""
    task: str | None = None
    """what the model is trained for (e.g. "robot"), recorded in the checkpoint"""
    size: int = 64
    """frame size the tokenizer sees"""
    heldout_fraction: float = 0.1
    """clips held out by key hash for evaluation"""
    eval_clips: int = 16
    """held-out windows scored at each evaluation"""
    train: TrainConfig = field(default_factory=TrainConfig)
    """the shared trainer's settings"""

    def __post_init__(self) -> None:
        if not self.tokenizer:
            raise ValueError("tokenizer must name an image tokenizer checkpoint (--tokenizer)")
        if not self.data:
            raise ValueError("data must name at least one shard folder (--data)")
        if self.context_frames < 1:
            raise ValueError(f"context_frames must be >= 1, got {self.context_frames}")


@dataclass
class WFMTrainArgs(WorldModelRunArgs):
    """Everything a diffusion world-model run needs; defaults train a tiny model in seconds."""

    dit: str = "DiT-XS"
    """DiT preset: DiT-tiny, DiT-XS, DiT-S, DiT-B"""
    residual: bool = False
    """predict the change from the last context latent instead of the latent itself (scaled to
    sigma_data), so that "nothing moves" is the model's zero and it spends capacity on motion"""
    p_mean: float = -1.2
    p_std: float = 1.2
    """training noise levels, ln(sigma) ~ N(p_mean, p_std^2) (EDM's defaults)"""
    sigma_max: float = 80.0
    """the sampling schedule's first noise level; keep it inside the trained range"""
    text2world_prob: float = 0.25
    """with text: share of windows trained with no context frames at all (Text2World)"""
    init_from: str | None = None
    """a pre-trained WFM checkpoint to start from (post-training); weights copied where shapes match"""
    eval_steps: int = 8
    """sampler steps at evaluation"""
    camera: bool = False
    """condition on each frame's camera pose (camera.npy + intrinsics.npy) as Plücker-ray maps"""
    trajectory: bool = False
    """condition on the ego motion into the predicted frame (trajectory.npy), as the action vector"""
    views: tuple[str, ...] = ()
    """views tiled left to right into one canvas (multi-view driving), e.g. ("left", "front", "right")"""
    max_frame_stride: int = 1
    """> 1: train on windows whose frames are 1..N source frames apart (per-frame conditioning only), so
    the model follows camera / ego motions of several sizes per predicted frame"""
    lora_rank: int = 0
    """> 0: train rank-r LoRA adapters on the DiT blocks (plus any new conditioning layers) instead
    of every weight; the checkpoint holds the merged weights"""
    lora_alpha: float | None = None
    """LoRA scale numerator (default: the rank, i.e. scale 1)"""
    train: TrainConfig = field(
        default_factory=lambda: command_run(
            steps=2000, batch_size=16, lr=3e-4, min_lr=3e-5, ema_decay=0.999, eval_every=500
        )
    )
    """the shared trainer's settings (``worldfm train diffusion / posttrain``'s defaults)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        get_dit_config(self.dit)
        self.views = tuple(self.views)
        if self.trajectory and self.actions:
            raise ValueError(
                "trajectory conditioning uses the action input: pass one of actions / trajectory"
            )
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0 (0 = full fine-tuning), got {self.lora_rank}")
        if self.lora_rank and not self.init_from:
            raise ValueError("LoRA adapts a pre-trained model: pass --from CHECKPOINT with --lora-rank")
        if self.residual and self.text:
            raise ValueError(
                "residual prediction needs context frames, but text training includes Text2World "
                "windows with none: drop --residual or --text"
            )


def residual_scale_for(data: LatentClipDataset, norm: LatentNorm, windows: int = 512) -> float:
    """Scale that gives frame-to-frame changes of normalised latents a std of ``sigma_data``."""
    latents = norm.normalize(data.sample_batch(windows, np.random.default_rng(0))["latents"])
    change = latents[:, :, -1] - latents[:, :, -2]
    return float(norm.sigma_data / max(change.std().item(), 1e-6))


def window_inputs(
    batch: dict,
    norm: LatentNorm,
    context: int,
    use_actions: bool,
    text_only: torch.Tensor | None = None,
    residual_scale: float | None = None,
    conditioning: WindowConditioning | None = None,
) -> tuple[torch.Tensor, Conditioning]:
    """A batch of latent windows -> the normalised target x0 (B, C, K+1, h, w) and its ``Conditioning``.

    ``text_only`` (B,) bool marks windows trained with no context frames (Text2World). With
    ``residual_scale`` the predicted frames become their scaled change from the last context frame.
    Actions, camera poses and trajectories go through ``window_conditioning``, the rule inference uses.
    """
    x0 = norm.normalize(batch["latents"])  # (B, C, K+1, h, w)
    if residual_scale:
        x0 = x0.clone()
        x0[:, :, context:] = (x0[:, :, context:] - x0[:, :, context - 1 : context]) * residual_scale
    cond_mask = context_mask(x0.shape[0], x0.shape[2], context, x0.device).clone()
    if text_only is not None:
        cond_mask[text_only.to(x0.device)] = False
    rule = conditioning or WindowConditioning()
    arrays = {"actions": batch["actions"]} if use_actions else {}
    if rule.camera_stride or rule.pose_std is not None:
        arrays |= {"camera": batch["camera"], "intrinsics": batch["intrinsics"]}
    if rule.trajectory_std is not None:
        arrays["trajectory"] = batch["trajectory"]
    actions, camera = window_conditioning(rule, context, **{k: v.to(x0.device) for k, v in arrays.items()})
    return x0, Conditioning(cond_mask=cond_mask, actions=actions, camera=camera)


def camera_scale(
    data: LatentClipDataset, context: int, image_size: tuple[int, int], stride: int
) -> tuple[float, ...]:
    """Per-channel std of the camera features of predicted frames over 512 training windows (floored)."""
    batch = data.sample_batch(512, np.random.default_rng(0))
    poses = batch["camera"].double()
    features = camera_features(
        poses, batch["intrinsics"].double(), poses[:, context - 1], image_size=image_size, stride=stride
    )[:, :, context:]  # (B, 6, 1, h, w)
    return tuple(max(float(v), 1e-6) for v in features.transpose(0, 1).reshape(6, -1).std(dim=1))


def pose_std(data: LatentClipDataset, context: int) -> tuple[float, ...]:
    """Per-component std of the predicted frames' relative pose vectors over 512 training windows."""
    batch = data.sample_batch(512, np.random.default_rng(1))
    vectors = relative_pose_vectors(batch["camera"].double(), batch["intrinsics"].double(), context - 1)
    return tuple(max(float(v), 1e-6) for v in vectors[:, context:].reshape(-1, POSE_VECTOR_DIM).std(dim=0))


def trajectory_std(clips: ClipDataset) -> tuple[float, ...]:
    """Std of each ego-motion component over the training clips (floored: a constant one stays finite)."""
    motion = torch.cat([ego_motion(torch.from_numpy(c.arrays["trajectory"]).double()) for c in clips.clips])
    return tuple(max(float(v), 1e-6) for v in motion.std(dim=0))


def check_intrinsics(clips: ClipDataset, size: tuple[int, int]) -> None:
    """The intrinsics must describe the frames as trained (same size, no crop): check the principal point."""
    k = clips.clips[0].arrays["intrinsics"][0]
    centre = ((size[1] - 1) / 2, (size[0] - 1) / 2)
    if abs(k[0, 2] - centre[0]) > 1 or abs(k[1, 2] - centre[1]) > 1:
        raise ValueError(
            f"clip {clips.clips[0].key!r}: its intrinsics' principal point ({k[0, 2]:.1f}, {k[1, 2]:.1f}) is "
            f"not the centre {centre} of the {size[1]}x{size[0]} frames: record the clips at --size "
            f"{size[0]} (intrinsics are not rescaled)"
        )


def declared_action_space(clips: ClipDataset) -> ActionSpace:
    """The box of the clips' actions: the recorded env's own action space when every clip's json
    declares one (``action_space``: ``{"low", "high"}``, written by ``worldfm simulate gym`` and
    ``worldfm import lerobot``), so the learned env gets the same space; else the per-dimension
    min and max of the actions themselves."""
    declared = [c.meta.get("action_space") for c in clips.clips]
    if all(isinstance(d, dict) for d in declared):
        low = np.min([d["low"] for d in declared], axis=0)
        high = np.max([d["high"] for d in declared], axis=0)
        return ActionSpace(tuple(low.tolist()), tuple(high.tolist()))
    stacked = np.concatenate([c.arrays["actions"] for c in clips.clips])  # (N, A)
    return ActionSpace(tuple(stacked.min(0).tolist()), tuple(stacked.max(0).tolist()))


def recorded_env(clips: ClipDataset) -> dict[str, Any]:
    """What every clip's json says alike about the env it was recorded in: ``sim_env`` (the
    simulator that starts the learned env's episodes) and ``fps`` (its ``render_fps``)."""
    found: dict[str, Any] = {}
    for name in ("sim_env", "fps"):
        values = [c.meta.get(name) for c in clips.clips]
        if values[0] is not None and all(v == values[0] for v in values):
            found[name] = values[0]
    return found


def _tokenizer_reference(tokenizer: str, out: str | os.PathLike) -> str:
    """How a checkpoint in ``out`` names its tokenizer: a path relative to ``out`` (so the pair moves
    together), or the shipped name / Hub repo id it was given, which ``hub.tokenizer_path`` resolves
    wherever the checkpoint is loaded."""
    if not Path(tokenizer).exists():
        hub.resolve(tokenizer)  # a name that resolves nowhere is refused now, not at load time
        return tokenizer
    path, out = Path(tokenizer).resolve(), Path(out).resolve()
    shipped = SHIPPED_CHECKPOINTS.resolve()
    # A shipped tokenizer of an installed worldfm (site-packages) is named: a relative path into a
    # venv breaks when the venv moves. In a checkout (runs/ beside checkpoints/) the path is kept.
    if path.parent == shipped and not out.is_relative_to(shipped.parent):
        return path.name
    return os.path.relpath(path, out)


def world_model_info(
    args: WorldModelRunArgs, norm: LatentNorm, clips: ClipDataset | None, **fields: Any
) -> WorldModelInfo:
    """The checkpoint's ``WorldModelInfo``, which ``WorldModel.from_pretrained`` reads.

    ``args`` is a WFM or AR run's arguments (tokenizer, out, context_frames, size, task, text,
    data, heldout_fraction); with ``clips`` the action space (``declared_action_space``), the
    simulator and the frame rate (``recorded_env``) are taken from them; ``fields`` set the rest
    (frame size, conditioning statistics, lineage).
    """
    from_clips: dict[str, Any] = {}
    if clips is not None:
        from_clips = {"action_space": declared_action_space(clips), **recorded_env(clips)}
    return WorldModelInfo(
        **{
            "tokenizer": _tokenizer_reference(args.tokenizer, args.out),
            "latent_mean": norm.mean,
            "latent_std": norm.std,
            "sigma_data": norm.sigma_data,
            "context_frames": args.context_frames,
            "frame_size": (args.size, args.size),
            "task": args.task,
            "text": args.text,
            "data": tuple(str(d) for d in args.data),
            "heldout_fraction": args.heldout_fraction,
            **from_clips,
            **fields,
        }
    )


@torch.no_grad()
def latent_eval(
    model: nn.Module, x0: torch.Tensor, cond: Conditioning, steps: int, residual_scale: float | None = None
) -> dict[str, float]:
    """One-step prediction error in normalised latent space vs copying the last context latent."""
    generator = torch.Generator(device=x0.device).manual_seed(0)
    sample = model.sample(
        tuple(x0.shape), cond.replace(cond_latent=x0), steps=steps, sampler="euler", generator=generator
    )
    predicted, target, last = sample[:, :, -1], x0[:, :, -1], x0[:, :, -2]
    if residual_scale:  # back to latents: both windows hold changes from the last context frame
        predicted, target = last + predicted / residual_scale, last + target / residual_scale
    return {
        "eval/latent_mse": torch.mean((predicted - target) ** 2).item(),
        "eval/copy_last_latent_mse": torch.mean((last - target) ** 2).item(),
    }


def train_wfm(args: WFMTrainArgs) -> dict[str, float]:
    """Train (or resume) a diffusion WFM; returns the last logged metrics."""
    tokenizer = hub.load(args.tokenizer, expect_kind="tokenizer")
    window = args.context_frames + 1
    arrays = ("actions",) if args.actions else ()
    arrays += ("camera", "intrinsics") if args.camera else ()
    arrays += ("trajectory",) if args.trajectory else ()
    clips, heldout_clips = (
        ClipDataset(
            args.data,
            frames=window,
            size=args.size,
            views=args.views or "primary",
            arrays=arrays,
            split=split,
            heldout_fraction=args.heldout_fraction,
        )
        for split in ("train", "heldout")
    )
    for name, needed, how in (
        ("actions", args.actions, "simulate fetch"),
        ("camera", args.camera, "simulate orbit"),
        ("intrinsics", args.camera, "simulate orbit"),
        ("trajectory", args.trajectory, "simulate driving"),
    ):
        if needed and name not in clips.arrays:
            raise ValueError(
                f"this task needs clips with {name}.npy; {args.data} has none (record with {how})"
            )
    if args.camera:
        check_intrinsics(clips, clips.size)
    conditioning = WindowConditioning(
        camera_stride=tokenizer.spatial_factor if args.camera else 0,
        image_size=clips.size,
        trajectory_std=trajectory_std(clips) if args.trajectory else None,
    )
    data = LatentClipDataset(clips, tokenizer, window=window, max_stride=args.max_frame_stride)
    heldout = LatentClipDataset(heldout_clips, tokenizer, window=window, max_stride=args.max_frame_stride)
    if args.camera:
        scale = camera_scale(data, args.context_frames, clips.size, tokenizer.spatial_factor)
        conditioning = dataclasses.replace(
            conditioning, camera_scale=scale, pose_std=pose_std(data, args.context_frames)
        )
    norm = LatentNorm(tuple(float(m) for m in data.mean), tuple(float(s) for s in data.std), 0.5)
    residual_scale = residual_scale_for(data, norm) if args.residual else None
    action_dim = int(clips.clips[0].arrays["actions"].shape[-1]) if args.actions else 0
    action_dim = TRAJECTORY_DIM if args.trajectory else action_dim
    action_dim = POSE_VECTOR_DIM if args.camera else action_dim
    dit = get_dit_config(
        args.dit,
        latent_channels=tokenizer.latent_channels,
        action_dim=action_dim,
        camera_dim=PLUCKER_CHANNELS if args.camera else 0,
        max_latent_frames=max(16, window),
    )
    text_config = tokenize = None
    if args.text:
        text_config = TextEncoderConfig(embed_dim=64, dim=64, layers=2, heads=4, max_len=32)
        dit = dataclasses.replace(dit, text_dim=text_config.dim)
    seed_initialisation(args.train.seed)
    model = DiffusionWorldModel(
        DiffusionConfig(
            dit=dit,
            sigma_data=norm.sigma_data,
            text=text_config,
            p_mean=args.p_mean,
            p_std=args.p_std,
            sigma_max=args.sigma_max,
        )
    )
    if args.text:
        tokenize = start_wordllama_text(model.text_encoder, args.out)
    copied = initialise_from(model, args.init_from, kind="diffusion") if args.init_from else []
    export = None
    if args.lora_rank:
        # Layers the base model lacks (a new conditioning input) have nothing to adapt: train them whole.
        new = sorted({name.rsplit(".", 1)[0] for name in model.state_dict() if name not in set(copied)})
        adapted = apply_lora(
            model,
            rank=args.lora_rank,
            alpha=args.lora_alpha,
            within=("denoiser.backbone.blocks",),
            trainable=new,
        )
        export = merged_copy
        logger.info(
            "LoRA rank %d on %d layers; %.3fM trainable parameters (new layers trained whole: %s)",
            args.lora_rank,
            len(adapted),
            sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
            ", ".join(new) or "none",
        )
    logger.info(
        "WFM %s: %.2fM parameters, window %d, actions %d-d, %d train / %d held-out clips",
        args.dit,
        sum(p.numel() for p in model.parameters()) / 1e6,
        window,
        action_dim,
        len(data),
        len(heldout),
    )

    def loss_fn(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        device = batch["latents"].device
        text_only = None
        if tokenize is not None:
            # A pure function of the step keeps resume exact.
            draw = np.random.default_rng([train_config.seed, step, 7]).random(len(batch["caption"]))
            text_only = torch.from_numpy(draw < args.text2world_prob)
        x0, cond = window_inputs(
            batch, norm, args.context_frames, args.actions, text_only, residual_scale, conditioning
        )
        loss = m(x0, cond.replace(**caption_inputs(tokenize, batch, device)))
        return loss, {"losses/denoise": loss.detach()}

    train_config = dataclasses.replace(args.train, out_dir=args.out)
    eval_raw = heldout.sample_batch(args.eval_clips, np.random.default_rng(12345))

    def eval_fn(m: nn.Module) -> dict[str, float]:
        device = next(m.parameters()).device
        batch = {k: v.to(device) for k, v in eval_raw.items() if isinstance(v, torch.Tensor)}
        x0, cond = window_inputs(
            batch, norm, args.context_frames, args.actions, None, residual_scale, conditioning
        )
        # Scored without captions, as the one-step latent curve has always been.
        return latent_eval(m, x0, cond, args.eval_steps, residual_scale)

    extra: dict[str, Any] = {}
    if args.camera:
        # What predict() assumes when a caller gives poses without intrinsics: the first training frame's.
        extra |= {
            "conditioning": "camera",
            "intrinsics": clips.clips[0].arrays["intrinsics"][0].tolist(),
            "camera_scale": conditioning.camera_scale,
            "pose_std": conditioning.pose_std,
        }
    if args.trajectory:
        extra |= {"conditioning": "trajectory", "trajectory_std": conditioning.trajectory_std}
    if args.init_from:
        extra["init_from"] = lineage(args.init_from)
    if args.lora_rank:
        extra["lora"] = {"rank": args.lora_rank, "alpha": args.lora_alpha or args.lora_rank, "merged": True}
    info = world_model_info(
        args,
        norm,
        clips if args.actions else None,
        frame_size=tuple(clips.size),
        residual_scale=residual_scale,
        views=args.views,
        max_frame_stride=args.max_frame_stride,
        **extra,
    )
    trainer = Trainer(
        model,
        train_config,
        loss_fn=loss_fn,
        get_batch=batches_for(data, train_config.batch_size, train_config.seed),
        eval_fn=eval_fn,
        checkpoint_extra={hub.WORLD_MODEL_SECTION: info.to_dict(), "posttrained_for": args.task},
        export=export,
    )
    return trainer.fit()

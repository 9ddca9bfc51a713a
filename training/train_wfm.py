"""``worldfm train diffusion`` and ``train posttrain --task robot``: a diffusion WFM on tokenizer latents.

Reads top to bottom: the run's config, the data (clips encoded once by the frozen
tokenizer), the model, the loss, evaluation against copying the last frame, then
the shared ``Trainer`` loop. Video2World pre-training conditions on the previous
``context_frames`` latents; robot post-training (the paper's action-conditioned
next-frame prediction) adds the action leading into the predicted frame.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.data import ClipDataset, batches_for
from training.latents import LatentClipDataset
from training.text_encoders import load_wordllama_embeddings, wordllama_tokenize
from training.trainer import TrainConfig, Trainer
from training.warm_start import initialise_from
from worldmodel import hub
from worldmodel.conditioning import TextEncoderConfig
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel
from worldmodel.diffusion.configuration_dit import get_config as get_dit_config
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

    dit: str = "DiT-tiny"
    """DiT preset (DiT-tiny, DiT-XS, DiT-S, DiT-B)"""
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

    def __post_init__(self) -> None:
        super().__post_init__()
        get_dit_config(self.dit)
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
) -> dict[str, torch.Tensor]:
    """Model inputs for a batch of latent windows: normalised x0, the context mask, actions.

    ``text_only`` (B,) bool marks windows trained with no context frames (Text2World). With
    ``residual_scale`` the predicted frames become their scaled change from the last context frame.
    """
    x0 = norm.normalize(batch["latents"])  # (B, C, K+1, h, w)
    if residual_scale:
        x0 = x0.clone()
        x0[:, :, context:] = (x0[:, :, context:] - x0[:, :, context - 1 : context]) * residual_scale
    b, t = x0.shape[0], x0.shape[2]
    cond_mask = torch.zeros(b, t, dtype=torch.bool, device=x0.device)
    cond_mask[:, :context] = True
    if text_only is not None:
        cond_mask[text_only.to(x0.device)] = False
    inputs = {"x0": x0, "cond_mask": cond_mask}
    if use_actions:
        actions = batch["actions"].clone()  # (B, K+1, A): row i leads into frame i
        # Only the action into the predicted frame conditions it: inference knows no earlier ones.
        actions[:, :context] = 0
        inputs["actions"] = actions
    return inputs


def world_model_section(args: object, norm: LatentNorm, clips: ClipDataset | None) -> dict:
    """The checkpoint's ``world_model`` section that ``WorldModel.from_pretrained`` reads.

    ``args`` is a WFM or AR run's arguments (tokenizer, out, context_frames, size, task, text,
    data, heldout_fraction); with ``clips`` the action space is taken from their ``actions``.
    """
    world = {
        "tokenizer": os.path.relpath(Path(args.tokenizer).resolve(), Path(args.out).resolve()),
        "latent_mean": list(norm.mean),
        "latent_std": list(norm.std),
        "sigma_data": norm.sigma_data,
        "context_frames": args.context_frames,
        "frame_size": [args.size, args.size],
        "task": args.task,
        "text": args.text,
        "data": [str(d) for d in args.data],
        "heldout_fraction": args.heldout_fraction,
    }
    if clips is not None:
        stacked = np.concatenate([c.arrays["actions"] for c in clips.clips])  # (N, A)
        world["action_space"] = {
            "low": stacked.min(0).tolist(),
            "high": stacked.max(0).tolist(),
            "dim": int(stacked.shape[-1]),
        }
    return world


@torch.no_grad()
def latent_eval(
    model: nn.Module, batch: dict, steps: int, residual_scale: float | None = None
) -> dict[str, float]:
    """One-step prediction error in normalised latent space vs copying the last context latent."""
    x0, cond_mask = batch["x0"], batch["cond_mask"]
    generator = torch.Generator(device=x0.device).manual_seed(0)
    sample = model.sample(
        tuple(x0.shape),
        cond_latent=x0,
        cond_mask=cond_mask,
        actions=batch.get("actions"),
        steps=steps,
        sampler="euler",
        generator=generator,
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
    clips, heldout_clips = (
        ClipDataset(
            args.data,
            frames=window,
            size=args.size,
            arrays=arrays,
            split=split,
            heldout_fraction=args.heldout_fraction,
        )
        for split in ("train", "heldout")
    )
    if args.actions and "actions" not in clips.arrays:
        raise ValueError(
            f"--actions needs clips with actions.npy; {args.data} has none (record with simulate fetch)"
        )
    data = LatentClipDataset(clips, tokenizer, window=window)
    heldout = LatentClipDataset(heldout_clips, tokenizer, window=window)
    norm = LatentNorm(tuple(float(m) for m in data.mean), tuple(float(s) for s in data.std), 0.5)
    residual_scale = residual_scale_for(data, norm) if args.residual else None
    action_dim = int(clips.clips[0].arrays["actions"].shape[-1]) if args.actions else 0
    dit = get_dit_config(
        args.dit,
        latent_channels=tokenizer.latent_channels,
        action_dim=action_dim,
        max_latent_frames=max(16, window),
    )
    text_config = tokenize = None
    if args.text:
        text_config = TextEncoderConfig(embed_dim=64, dim=64, layers=2, heads=4, max_len=32)
        dit = dataclasses.replace(dit, text_dim=text_config.dim)
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
        # wordllama's vectors are Matryoshka-trained: their first 64 dimensions work on their own.
        model.text_encoder.load_embeddings(load_wordllama_embeddings(text_config.embed_dim))
        tokenize = wordllama_tokenize(text_config.max_len)
        tokenize.save(args.out)
    if args.init_from:
        initialise_from(model, args.init_from, kind="diffusion")
    logger.info(
        "WFM %s: %.2fM parameters, window %d, actions %d-d, %d train / %d held-out clips",
        args.dit,
        sum(p.numel() for p in model.parameters()) / 1e6,
        window,
        action_dim,
        len(data),
        len(heldout),
    )

    def text_inputs(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
        if tokenize is None:
            return {}
        ids, mask = tokenize(batch["caption"])
        return {"text_ids": ids.to(device), "text_mask": mask.to(device)}

    def loss_fn(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        device = batch["latents"].device
        text_only = None
        if tokenize is not None:
            # A pure function of the step keeps resume exact.
            draw = np.random.default_rng([train_config.seed, step, 7]).random(len(batch["caption"]))
            text_only = torch.from_numpy(draw < args.text2world_prob)
        inputs = window_inputs(batch, norm, args.context_frames, args.actions, text_only, residual_scale)
        loss = m(inputs["x0"], inputs["cond_mask"], inputs.get("actions"), **text_inputs(batch, device))
        return loss, {"losses/denoise": loss.detach()}

    train_config = dataclasses.replace(args.train, out_dir=args.out)
    eval_raw = heldout.sample_batch(args.eval_clips, np.random.default_rng(12345))

    def eval_fn(m: nn.Module) -> dict[str, float]:
        device = next(m.parameters()).device
        batch = {k: v.to(device) for k, v in eval_raw.items() if isinstance(v, torch.Tensor)}
        inputs = window_inputs(batch, norm, args.context_frames, args.actions, None, residual_scale)
        return latent_eval(m, {**inputs, **text_inputs(eval_raw, device)}, args.eval_steps, residual_scale)

    world = world_model_section(args, norm, clips if args.actions else None)
    world["residual_scale"] = residual_scale
    trainer = Trainer(
        model,
        train_config,
        loss_fn=loss_fn,
        get_batch=batches_for(data, train_config.batch_size, train_config.seed),
        eval_fn=eval_fn,
        checkpoint_extra={"world_model": world, "posttrained_for": args.task},
    )
    return trainer.fit()

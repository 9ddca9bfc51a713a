"""``worldfm train ar``: an autoregressive world model (GPT) on a discrete tokenizer's FSQ tokens.

Reads top to bottom: the run's config, the data (clips encoded once by the frozen
tokenizer, their codes turned into token ids), the model, the loss, evaluation
against copying the last frame, then the shared ``Trainer`` loop. Video2World
training feeds windows of ``context_frames + 1`` latent frames and predicts every
token (arXiv 2501.03575, Sec. 5.3); with ``actions`` the action leading into the
predicted frame conditions it, one frame per action, as ``WorldModel`` uses it.

The checkpoint carries the same ``WorldModelInfo`` as the diffusion trainer's, with
the identity latent normalisation (mean 0, std 1, sigma_data 1): the model reads the
tokenizer's FSQ codes as they are, so ``WorldModel.from_pretrained`` drives it unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from training.data import ClipDataset, batches_for
from training.latents import LatentClipDataset
from training.runs import command_run
from training.text_encoders import caption_inputs, start_wordllama_text
from training.train_wfm import WorldModelRunArgs, world_model_info
from training.trainer import GetBatch, TrainConfig, Trainer, seed_initialisation
from worldmodel import hub
from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel
from worldmodel.autoregressive.configuration_gpt import get_config as get_gpt_config
from worldmodel.conditioning import TextEncoderConfig
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.conditioning.window import context_mask
from worldmodel.tokenizer import CausalVideoTokenizer
from worldmodel.world import LatentNorm

logger = logging.getLogger(__name__)


@dataclass
class ARTrainArgs(WorldModelRunArgs):
    """Everything an autoregressive world-model run needs; defaults train a tiny model in seconds.

    ``tokenizer`` must be a discrete image tokenizer (DI8x8, ...): the model predicts its FSQ tokens.
    """

    out: str = "runs/ar"
    """the checkpoint directory"""
    gpt: str = "GPT-XS"
    """GPT preset: GPT-tiny, GPT-XS, GPT-S, GPT-B"""
    temperature: float = 0.5
    """default sampling temperature stored in the model's config (0 = greedy)"""
    top_k: int = 0
    """default top-k per FSQ digit (0 = off)"""
    top_p: float = 1.0
    """default nucleus mass per FSQ digit (1 = off)"""
    train: TrainConfig = field(
        default_factory=lambda: command_run(steps=2000, batch_size=16, lr=1e-3, min_lr=1e-4, eval_every=500)
    )
    """the shared trainer's settings (``worldfm train ar``'s defaults)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        get_gpt_config(self.gpt)
        ARConfig(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)


def with_token_ids(get_batch: GetBatch, tokenizer: CausalVideoTokenizer) -> GetBatch:
    """Add ``indices`` (B, T, h, w), the FSQ token ids of the batch's ``latents`` (codes) (B, C, T, h, w)."""

    def get(step: int, micro: int) -> dict:
        batch = get_batch(step, micro)
        batch["indices"] = tokenizer.fsq.codes_to_indices(batch["latents"].movedim(1, -1))
        return batch

    return get


def window_inputs(batch: dict, context: int, use_actions: bool) -> tuple[torch.Tensor, Conditioning]:
    """Token ids (B, K+1, h, w) of a batch of windows and their ``Conditioning`` (context mask, actions)."""
    indices = batch["indices"]  # (B, K+1, h, w)
    cond_mask = context_mask(indices.shape[0], indices.shape[1], context, indices.device)
    # (B, K+1, A): the model gives the context frames' rows the null action itself.
    return indices, Conditioning(cond_mask=cond_mask, actions=batch["actions"] if use_actions else None)


@torch.no_grad()
def ar_eval(
    model: AutoregressiveWorldModel, batch: dict, context: int, use_actions: bool
) -> dict[str, float]:
    """Held-out NLL of the predicted frame's tokens, and the sampled frame's code MSE vs copying the last."""
    indices, cond = window_inputs(batch, context, use_actions)
    _, logs = model.loss(indices, cond)
    latents = batch["latents"]  # (B, C, K+1, h, w) FSQ codes
    generator = torch.Generator(device=latents.device).manual_seed(0)
    sample = model.sample(tuple(latents.shape), cond.replace(cond_latent=latents), generator=generator)
    target = latents[:, :, -1]
    return {
        "eval/predicted_nll": float(logs["predicted_nll"]),
        "eval/latent_mse": torch.mean((sample[:, :, -1] - target) ** 2).item(),
        "eval/copy_last_latent_mse": torch.mean((latents[:, :, -2] - target) ** 2).item(),
    }


def train_ar(args: ARTrainArgs) -> dict[str, float]:
    """Train (or resume) an autoregressive WFM; returns the last logged metrics."""
    tokenizer = hub.load(args.tokenizer, expect_kind="tokenizer")
    if not tokenizer.is_discrete:
        raise ValueError(
            f"{args.tokenizer} is a continuous tokenizer; the autoregressive model predicts FSQ tokens: "
            "train a discrete image tokenizer (worldfm train tokenizer --config DI8x8-small)"
        )
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
    action_dim = int(clips.clips[0].arrays["actions"].shape[-1]) if args.actions else 0
    latent_size = args.size // tokenizer.spatial_factor
    gpt = get_gpt_config(
        args.gpt,
        levels=tokenizer.config.fsq_levels,
        action_dim=action_dim,
        max_frames=max(16, window),
        max_height=latent_size,
        max_width=latent_size,
    )
    text_config = tokenize = None
    if args.text:
        text_config = TextEncoderConfig(embed_dim=64, dim=64, layers=2, heads=4, max_len=32)
        gpt = dataclasses.replace(gpt, text_dim=text_config.dim)
    config = ARConfig(
        gpt=gpt, text=text_config, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p
    )
    seed_initialisation(args.train.seed)
    model = AutoregressiveWorldModel(config)
    if args.text:
        tokenize = start_wordllama_text(model.text_encoder, args.out)
    logger.info(
        "AR WFM %s: %.2fM parameters, window %d x %d x %d tokens, actions %d-d, %d train / %d held-out clips",
        args.gpt,
        sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        window,
        latent_size,
        latent_size,
        action_dim,
        len(data),
        len(heldout),
    )

    def loss_fn(m: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        indices, cond = window_inputs(batch, args.context_frames, args.actions)
        loss = m(indices, cond.replace(**caption_inputs(tokenize, batch, indices.device)))
        return loss, {"losses/token_nll": loss.detach()}

    train_config = dataclasses.replace(args.train, out_dir=args.out)
    eval_raw = with_token_ids(batches_for(heldout, args.eval_clips, 12345), tokenizer)(0, 0)

    def eval_fn(m: nn.Module) -> dict[str, float]:
        device = next(m.parameters()).device
        batch = {k: v.to(device) for k, v in eval_raw.items() if isinstance(v, torch.Tensor)}
        return ar_eval(m, batch, args.context_frames, args.actions)

    channels = tokenizer.latent_channels
    # The identity LatentNorm: the model reads FSQ codes as the tokenizer writes them.
    identity = LatentNorm((0.0,) * channels, (1.0,) * channels, 1.0)
    info = world_model_info(args, identity, clips if args.actions else None)
    trainer = Trainer(
        model,
        train_config,
        loss_fn=loss_fn,
        get_batch=with_token_ids(batches_for(data, train_config.batch_size, train_config.seed), tokenizer),
        eval_fn=eval_fn,
        checkpoint_extra={hub.WORLD_MODEL_SECTION: info.to_dict(), "posttrained_for": args.task},
    )
    return trainer.fit()

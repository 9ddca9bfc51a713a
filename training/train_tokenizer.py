"""``worldfm train tokenizer``: train a causal video / image tokenizer on clip shards.

Reads top to bottom like nanoGPT's train.py: the run's config, the data, the
model, the loss (the paper's two-stage schedule), evaluation, then the shared
``Trainer`` loop. Video tokenizers see a mix of videos and single frames (an
image is a 1-frame video); image tokenizers see single frames.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from training.data import ClipDataset, batches_for
from training.flow import estimate_flow_with_mask
from training.perceptual import load_vgg19
from training.runs import command_run
from training.trainer import TrainConfig, Trainer, seed_initialisation
from training.warm_start import initialise_from, lineage
from worldmodel.metrics import psnr
from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.tokenizer.losses import TokenizerLossConfig, tokenizer_loss
from worldmodel.tokenizer.modeling_tokenizer import valid_frame_counts

logger = logging.getLogger(__name__)


@dataclass
class TokenizerTrainArgs:
    """Everything ``worldfm train tokenizer`` needs; defaults train the tiny preset in seconds."""

    config: str = "CV4x8x8-tiny"
    """a preset name from ``worldmodel.tokenizer.TOKENIZER_CONFIGS``"""
    data: list[str] = field(default_factory=list)
    """shard folders (several are mixed)"""
    out: str = "runs/tokenizer"
    """the checkpoint directory (training_state/ and logs/ inside)"""
    size: int = 64
    """square training resolution"""
    frames: int | None = None
    """video window length; default 1 + 2 * temporal_compression (1 for image tokenizers)"""
    image_fraction: float = 0.25
    """share of single frames in each batch of a video tokenizer"""
    heldout_fraction: float = 0.1
    """clips held out by key hash for evaluation"""
    perceptual_weights: str | None = None
    """local VGG19 weights (.safetensors or torchvision .pth); without, perceptual and Gram terms are off"""
    loss: TokenizerLossConfig = field(default_factory=lambda: TokenizerLossConfig(perceptual=0.1, gram=0.0))
    """loss weights and the step at which stage 2 (flow, Gram) starts"""
    train: TrainConfig = field(
        default_factory=lambda: command_run(steps=1000, batch_size=8, lr=1e-3, min_lr=1e-4, eval_every=250)
    )
    """the shared trainer's settings (steps, batch size, lr, EMA, bf16, ...)"""
    eval_clips: int = 8
    """held-out windows scored at each evaluation"""
    init_from: str | None = None
    """a tokenizer checkpoint whose weights start this run (fresh optimiser and schedule)"""
    freeze_encoder: bool = False
    """train the decoder only: latents stay bit-identical, so world models trained on the
    ``init_from`` tokenizer's latents stay valid while their frames get sharper"""

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("data must name at least one shard folder (--data)")
        if self.size < 8:
            raise ValueError(f"size must be >= 8, got {self.size}")
        config = get_config(self.config)
        tf, sf = config.temporal_compression, config.spatial_compression
        if self.frames is not None and (self.frames < 1 or (self.frames - 1) % tf):
            raise ValueError(
                f"{config.name} takes 1 + k*{tf} frames; got frames={self.frames}. "
                f"Nearest valid counts: {valid_frame_counts(tf, self.frames)}"
            )
        if self.size % sf:
            raise ValueError(f"{config.name} needs a size divisible by {sf}; got size={self.size}")
        if self.freeze_encoder and not self.init_from:
            raise ValueError(
                "freeze_encoder keeps a trained encoder fixed: also pass the tokenizer to start from "
                "(--init-from)"
            )


def default_frames(model: CausalVideoTokenizer) -> int:
    return 1 if model.config.is_image else 1 + 2 * model.temporal_factor


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


def target_flow(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Optical flow of the target clips for the stage-2 loss: (B, 2, T-1, H, W) and its validity mask."""
    flows, masks = [], []
    for clip in video:
        flow, mask = estimate_flow_with_mask(to_uint8(clip))  # (T-1, 2, H, W), (T-1, 1, H, W)
        flows.append(torch.from_numpy(flow).permute(1, 0, 2, 3))
        masks.append(torch.from_numpy(mask).permute(1, 0, 2, 3))
    return torch.stack(flows).to(video.device), torch.stack(masks).to(video.device)


def make_loss_fn(loss_config: TokenizerLossConfig, vgg: nn.Module | None):  # noqa: ANN201 - a LossFn
    def loss_fn(model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        total, logs = torch.zeros((), device=batch["video"].device), {}
        parts = [batch["video"]] + ([batch["image"]] if "image" in batch else [])
        for x in parts:
            recon, _ = model(x)
            flow = flow_mask = None
            if step >= loss_config.stage2_step and loss_config.flow > 0 and x.shape[2] > 1:
                flow, flow_mask = target_flow(x)
            loss, part_logs = tokenizer_loss(
                recon, x, config=loss_config, step=step, vgg=vgg, flow=flow, flow_mask=flow_mask
            )
            weight = x.shape[0] / sum(p.shape[0] for p in parts)
            total = total + weight * loss
            for k, v in part_logs.items():
                logs[k] = logs.get(k, 0.0) + weight * v
        return total, logs

    return loss_fn


@torch.no_grad()
def heldout_psnr(model: nn.Module, batch: dict) -> dict[str, float]:
    model.eval()
    recon, _ = model(batch["video"])
    value = psnr(recon.clamp(-1, 1), batch["video"]).mean().item()
    model.train()
    return {"eval/psnr": value}


def train_tokenizer(args: TokenizerTrainArgs) -> dict[str, float]:
    """Train (or resume) a tokenizer; returns the last logged metrics."""
    config = get_config(args.config)
    seed_initialisation(args.train.seed)
    model = CausalVideoTokenizer(config)
    if args.init_from:
        initialise_from(model, args.init_from, kind="tokenizer")
    if args.freeze_encoder:
        # Without gradients into the encoder autograd also skips its backward pass.
        model.encoder.requires_grad_(False)
    frames = args.frames or default_frames(model)
    model.check_shape(frames, args.size, args.size)
    image_fraction = 0.0 if config.is_image or frames == 1 else args.image_fraction
    train_data = ClipDataset(
        args.data,
        frames=frames,
        size=args.size,
        image_fraction=image_fraction,
        arrays=(),
        split="train",
        heldout_fraction=args.heldout_fraction,
        crop="random",
    )
    heldout = ClipDataset(
        args.data,
        frames=frames,
        size=args.size,
        arrays=(),
        split="heldout",
        heldout_fraction=args.heldout_fraction,
    )
    eval_batch = heldout.sample_batch(args.eval_clips, np.random.default_rng(12345))
    vgg = load_vgg19(args.perceptual_weights)
    logger.info(
        "tokenizer %s: %.2fM parameters, %d-frame windows at %dx%d, %d train / %d held-out clips",
        config.name,
        sum(p.numel() for p in model.parameters()) / 1e6,
        frames,
        args.size,
        args.size,
        len(train_data),
        len(heldout),
    )
    train_config = dataclasses.replace(args.train, out_dir=args.out)
    trainer = Trainer(
        model,
        train_config,
        loss_fn=make_loss_fn(args.loss, vgg),
        get_batch=batches_for(train_data, train_config.batch_size, train_config.seed),
        eval_fn=lambda m: heldout_psnr(
            m,
            {
                k: v.to(next(m.parameters()).device)
                for k, v in eval_batch.items()
                if isinstance(v, torch.Tensor)
            },
        ),
        checkpoint_extra={
            "dataset": {
                "data": [str(d) for d in args.data],
                "size": args.size,
                "frames": frames,
                "steps": train_config.steps,
                "batch_size": train_config.batch_size,
                "heldout_fraction": args.heldout_fraction,
                "init_from": lineage(args.init_from) if args.init_from else None,
                "frozen": ["encoder"] if args.freeze_encoder else [],
                "loss": dataclasses.asdict(args.loss),
                "perceptual_weights": args.perceptual_weights,
            }
        },
    )
    if vgg is not None:
        vgg.to(trainer.accelerator.device)
    return trainer.fit()

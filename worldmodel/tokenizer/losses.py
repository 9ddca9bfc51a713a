"""Tokenizer training objective: the two-stage schedule of Cosmos (arXiv 2501.03575, Sec. 5.1).

Stage 1 optimises L1 + VGG19 perceptual reconstruction (plus an optional SSIM
term); stage 2 adds the optical-flow temporal-consistency loss and the
Gram-matrix loss. Both stages run in one loop here: the stage is a function of
the step (``step >= config.stage2_step``), so resuming mid-run picks the right
one. The individual terms live in ``worldmodel.metrics`` (SSIM), ``vgg`` and ``flow_loss``; this
module holds the pixel losses, the config and the weighted sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from worldmodel.metrics import ssim
from worldmodel.tokenizer.flow_loss import flow_consistency_loss
from worldmodel.tokenizer.vgg import VGG19Features, gram_loss, perceptual_loss


def l1_loss(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute error over all elements: any matching shapes -> scalar."""
    return (x - y).abs().mean()


@dataclass
class TokenizerLossConfig:
    """Weights of the tokenizer loss terms and the step at which stage 2 starts."""

    l1: float = 1.0
    """Pixel L1; the backbone of both stages."""
    mse: float = 0.0
    """Pixel mean squared error; PSNR is its log, so a last (decoder-only) schedule on it buys
    PSNR that L1, which weighs every error alike, leaves on the table. Off by default as in Cosmos."""
    perceptual: float = 0.1
    """VGG19 feature L1 (sum over layers); applies only when a VGG is given."""
    ssim: float = 0.0
    """Weight of (1 - SSIM); off by default as in Cosmos, frames must be >= 11 px when on."""
    flow: float = 0.01
    """Stage-2 optical-flow consistency; applies only to videos (T > 1) with a target flow."""
    gram: float = 1.0
    """Stage-2 Gram-matrix loss on the VGG features; Gram entries are O(1/C), hence a larger weight."""
    stage2_step: int = 10_000
    """First step of stage 2 (flow + Gram); 0 trains in stage 2 from the start."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "stage2_step":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"stage2_step must be an int >= 0, got {value!r}")
            elif not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{f.name} must be a finite weight >= 0, got {value!r}")


def tokenizer_loss(
    recon: Tensor,
    target: Tensor,
    *,
    config: TokenizerLossConfig,
    step: int,
    vgg: VGG19Features | None = None,
    flow: Tensor | None = None,
    flow_mask: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted tokenizer loss for one step of the two-stage schedule.

    Stage 1 (``step < config.stage2_step``): l1 + mse (if weighted) + perceptual (if ``vgg``) + ssim
    (if weighted).
    Stage 2: additionally flow (if ``flow`` is given and T > 1) and Gram (if ``vgg``).
    Terms with weight 0 are not computed.

    Args:
        recon: ``(B, C, T, H, W)`` reconstruction in [-1, 1] (an image is T = 1).
        target: ``(B, C, T, H, W)`` input video in [-1, 1].
        config: term weights and the stage switch.
        step: the optimiser step, which picks the stage.
        vgg: frozen feature network; None turns perceptual and Gram terms off.
        flow: ``(B, 2, T-1, H, W)`` target flow in the ``flow_loss`` convention.
        flow_mask: optional ``(B, 1, T-1, H, W)`` validity mask for ``flow``.

    Returns:
        (scalar loss to backpropagate, {"loss/<term>": value} for every term
        computed plus "loss/total" and "loss/stage").
    """
    if recon.shape != target.shape or recon.ndim != 5:
        raise ValueError(
            f"recon and target must both be (B, C, T, H, W), got {tuple(recon.shape)}, {tuple(target.shape)}"
        )
    stage2 = step >= config.stage2_step
    terms: dict[str, tuple[float, Tensor]] = {}
    if config.l1 > 0 or config.mse == 0:
        terms["l1"] = (config.l1, l1_loss(recon, target))
    if config.mse > 0:
        terms["mse"] = (config.mse, torch.mean((recon - target) ** 2))
    if config.ssim > 0:
        terms["ssim"] = (config.ssim, 1 - ssim(recon, target).mean())
    use_gram = stage2 and config.gram > 0
    if vgg is not None and (config.perceptual > 0 or use_gram):
        feats_recon = vgg(recon)
        # The target is a constant: no graph through the second VGG pass.
        with torch.no_grad():
            feats_target = vgg(target)
        if config.perceptual > 0:
            terms["perceptual"] = (config.perceptual, perceptual_loss(feats_recon, feats_target))
        if use_gram:
            terms["gram"] = (config.gram, gram_loss(feats_recon, feats_target))
    if stage2 and config.flow > 0 and flow is not None and recon.shape[2] > 1:
        terms["flow"] = (config.flow, flow_consistency_loss(recon, flow, flow_mask))
    total = sum(weight * value for weight, value in terms.values())
    # One device sync for all logged values instead of one per term.
    values = torch.stack([value.detach().float() for _, value in terms.values()] + [total.detach().float()])
    names = [f"loss/{name}" for name in terms] + ["loss/total"]
    logs = dict(zip(names, values.tolist(), strict=True))
    logs["loss/stage"] = 2.0 if stage2 else 1.0
    return total, logs

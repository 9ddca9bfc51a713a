"""Optical-flow temporal-consistency loss for stage 2 of tokenizer training.

Cosmos tokenizer (arXiv 2501.03575, Sec. 5.1) fine-tunes with an optical-flow
loss "to handle the temporal smoothness of reconstructed videos". Here: the
flow of the *target* video, computed outside the loss and held constant,
warps each reconstructed frame onto the next one, and the L1 difference to the
actual next reconstructed frame is penalised where the flow is trusted.

Flow convention (``training.flow.estimate_flow`` produces exactly this):
``flow[:, :, t]`` lives on the pixel grid of frame t+1 and points into frame t,

    frame[t + 1](x, y) ~= frame[t](x + dx(x, y), y + dy(x, y)),

so ``flow_warp(frame[t], flow[:, :, t])`` reproduces ``frame[t + 1]``. In the
words of OpenCV this is ``calcOpticalFlow(prev=frame[t + 1], next=frame[t])``,
the *backward* flow of the pair (t, t+1): backward warping needs the flow on
the grid of the image being produced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def _sample_grid(flow: Tensor) -> Tensor:
    """Pixel flow ``(B, 2, H, W)`` -> ``grid_sample`` grid ``(B, H, W, 2)`` (align_corners=True)."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    x = xs + flow[:, 0]  # (B, H, W)
    y = ys + flow[:, 1]
    # With align_corners=True, -1 and 1 are the centres of the first and last pixels.
    return torch.stack((2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1), dim=-1)


def flow_warp(frames: Tensor, flow: Tensor) -> Tensor:
    """Backward warp: ``out(p) = frames(p + flow(p))`` with bilinear sampling.

    Args:
        frames: ``(B, C, H, W)`` source images.
        flow: ``(B, 2, H, W)`` displacement in pixels, channels (dx, dy), defined
            on the grid of the output; samples outside the frame repeat the border.

    Returns:
        ``(B, C, H, W)`` warped images, float32 (pixel coordinates need more
        precision than bf16 has, so the warp runs with autocast off).
    """
    if frames.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"expected frames (B, C, H, W) and flow (B, 2, H, W), got {frames.shape}, {flow.shape}"
        )
    if frames.shape[0] != flow.shape[0] or frames.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"frames {tuple(frames.shape)} and flow {tuple(flow.shape)} disagree on B, H or W")
    with torch.autocast(device_type=frames.device.type, enabled=False):
        grid = _sample_grid(flow.float())
        return F.grid_sample(frames.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def flow_in_frame_mask(flow: Tensor) -> Tensor:
    """1 where ``p + flow(p)`` falls inside the image, else 0: ``(B, 2, H, W)`` -> ``(B, 1, H, W)``.

    Pixels that enter the view have no source to warp from.
    """
    grid = _sample_grid(flow.float())
    inside = (grid.abs() <= 1 + 1e-6).all(dim=-1)  # (B, H, W)
    return inside.unsqueeze(1).float()


def forward_backward_mask(
    flow: Tensor, flow_reverse: Tensor, *, alpha1: float = 0.01, alpha2: float = 0.5
) -> Tensor:
    """Occlusion mask from forward-backward consistency (UnFlow, arXiv 1711.07837 eq. 3).

    The test goes back to Sundaram et al., ECCV 2010.

    A pixel p is trusted when following ``flow`` and then ``flow_reverse``
    returns to p:  |w + w_r|^2 < alpha1 (|w|^2 + |w_r|^2) + alpha2, where
    w = flow(p) and w_r = flow_reverse(p + flow(p)). Occluded pixels fail it,
    because the reverse flow there belongs to whatever occludes them.

    Args:
        flow: ``(B, 2, H, W)`` on the grid of frame b, pointing into frame a
            (the ``flow_warp`` convention for warping a onto b).
        flow_reverse: ``(B, 2, H, W)`` on the grid of frame a, pointing into frame b.

    Returns:
        ``(B, 1, H, W)``: 1.0 where consistent, 0.0 where occluded.
    """
    reverse_at_target = flow_warp(flow_reverse, flow)  # w_r(p + w(p)), (B, 2, H, W)
    w = flow.float()
    diff = (w + reverse_at_target).pow(2).sum(dim=1, keepdim=True)
    bound = alpha1 * (w.pow(2).sum(dim=1, keepdim=True) + reverse_at_target.pow(2).sum(dim=1, keepdim=True))
    return (diff < bound + alpha2).float()


def flow_consistency_loss(recon: Tensor, flow: Tensor, valid_mask: Tensor | None = None) -> Tensor:
    """Masked L1 between ``recon[t + 1]`` and ``recon[t]`` warped by the target's flow.

    Args:
        recon: ``(B, C, T, H, W)`` reconstructed video, T >= 2.
        flow: ``(B, 2, T-1, H, W)`` flow of the *target* video in the module's
            convention (``flow[:, :, t]`` warps frame t onto frame t+1); constant.
        valid_mask: optional ``(B, 1, T-1, H, W)`` in [0, 1] (e.g. ``forward_backward_mask``);
            pixels whose source lies outside the frame are always excluded.

    Returns:
        Scalar: mean absolute difference over trusted pixels and channels
        (0 when no pixel is trusted).
    """
    if recon.ndim != 5 or recon.shape[2] < 2:
        raise ValueError(f"recon must be (B, C, T, H, W) with T >= 2, got {tuple(recon.shape)}")
    b, c, t, h, w = recon.shape
    if tuple(flow.shape) != (b, 2, t - 1, h, w):
        raise ValueError(f"flow must be (B, 2, T-1, H, W) = {(b, 2, t - 1, h, w)}, got {tuple(flow.shape)}")
    src = rearrange(recon[:, :, :-1], "b c t h w -> (b t) c h w")
    tgt = rearrange(recon[:, :, 1:], "b c t h w -> (b t) c h w").float()
    pair_flow = rearrange(flow, "b two t h w -> (b t) two h w")
    mask = flow_in_frame_mask(pair_flow)  # (B*(T-1), 1, H, W)
    if valid_mask is not None:
        if tuple(valid_mask.shape) != (b, 1, t - 1, h, w):
            raise ValueError(f"valid_mask must be {(b, 1, t - 1, h, w)}, got {tuple(valid_mask.shape)}")
        mask = mask * rearrange(valid_mask, "b one t h w -> (b t) one h w").float()
    err = (flow_warp(src, pair_flow) - tgt).abs() * mask
    return err.sum() / (mask.sum() * c).clamp(min=1.0)

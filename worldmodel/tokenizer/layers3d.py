"""Causal 3D building blocks of the video tokenizer (after Cosmos-Tokenizer's ``modules/layers3d.py``).

Causality lives in one primitive, ``CausalConv3d``, which pads time only on the
past side (by repeating the first frame, so a still image behaves like a static
video). Normalisation is per frame and attention is masked in time, so no block
lets a frame see its future. The blocks that read past frames take them from
``streaming.extend_past``, so a stream's later steps continue where the last ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.tokenizer.streaming import extend_past, starts_video

T = TypeVar("T")


def folded_weights(module: nn.Module, weight: torch.Tensor, make: Callable[[torch.Tensor], T]) -> T:
    """``make(weight)``, kept on ``module`` between calls that need no gradient while ``weight`` is
    unchanged (same storage and version), so inference does not re-sum kernels every call.
    With gradients on (training, or a frozen part that gradients pass through) it is made anew."""
    if torch.is_grad_enabled():
        return make(weight)
    key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
    cache = module.__dict__.setdefault("_folded", {})
    if cache.get("key") != key:
        cache.update(key=key, value=make(weight))
    return cache["value"]


def frame_conv(frames: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """conv2d of (B, I, t, L) with a (O, I, kt, 1) kernel; one tap is a matmul (conv2d's slow path)."""
    if kernel.shape[2] > 1:
        return F.conv2d(frames, kernel, bias)
    w = kernel.flatten(1).expand(frames.shape[0], -1, -1)
    flat = frames.flatten(2)
    y = torch.bmm(w, flat) if bias is None else torch.baddbmm(bias[None, :, None], w, flat)
    return y.unflatten(2, frames.shape[2:])


class CausalConv3d(nn.Module):
    """3D convolution that sees only the current and past frames.

    x: (B, C, T, H, W) -> (B, C', T, H/s, W/s); spatial padding is symmetric (zeros).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (3, 3, 3),
        spatial_stride: int = 1,
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        self.time_pad = kt - 1
        # A (kt, 1, 1) kernel runs as a 2D conv over (T, H*W): CPU conv3d takes the slow im2col path
        # for it (1 thread), conv2d oneDNN's, the same sums ~1.5-2x faster (benchmarks --profile).
        self.temporal_only = (kh, kw) == (1, 1) and kt > 1 and spatial_stride == 1
        self.pointwise = kernel_size == (1, 1, 1)  # a matmul (conv3d's slow path on 1 CPU thread)
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size,
            stride=(1, spatial_stride, spatial_stride),
            padding=(0, kh // 2, kw // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.temporal_only and starts_video():
            # Only what a stream keeps is padded (none outside a stream, frame 0 when x is shorter).
            short = self.time_pad - x.shape[2]
            extend_past(
                self, x, self.time_pad, start=x[:, :, :1].expand(-1, -1, short, -1, -1) if short > 0 else None
            )
            return self._temporal_from_video_start(x)
        if self.time_pad:
            # Frame 0 repeated stands for the frames before the video; a stream's later steps
            # prepend the last ``time_pad`` frames of the previous one instead.
            start = x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1)
            x = extend_past(self, x, self.time_pad, start=start)
        if self.temporal_only:
            y = F.conv2d(x.flatten(3), self.conv.weight.squeeze(-1), self.conv.bias)
            return y.unflatten(3, x.shape[3:])
        if self.pointwise:
            w, bias = self.conv.weight.flatten(1), self.conv.bias
            y = torch.baddbmm(bias[None, :, None], w.expand(x.shape[0], -1, -1), x.flatten(2))
            return y.unflatten(2, x.shape[2:])
        return self.conv(x)

    def _temporal_from_video_start(self, x: torch.Tensor) -> torch.Tensor:
        """The (kt, 1, 1) conv of x padded with frame 0 repeated, without the padded copy.

        Output j < kt - 1 reads frame 0 through taps 0..kt-1-j: those taps are summed into one,
        so the first outputs cost 1, 2, ... frame products instead of kt each (about a third of
        the temporal convs' work at 3 latent frames), the same sums up to float rounding.
        """
        w, bias = self.conv.weight.squeeze(-1), self.conv.bias  # (O, I, kt, 1)
        kt, t = w.shape[2], x.shape[2]
        frames = x.flatten(3)  # (B, I, T, H*W)
        heads = folded_weights(self, self.conv.weight, lambda _: _start_kernels(w))
        outs = [frame_conv(frames[:, :, : j + 1], heads[j], bias) for j in range(min(kt - 1, t))]
        if t >= kt:
            outs.append(F.conv2d(frames, w, bias))
        return (torch.cat(outs, 2) if len(outs) > 1 else outs[0]).unflatten(3, x.shape[3:])


def _start_kernels(w: torch.Tensor) -> list[torch.Tensor]:
    """Kernel j < kt - 1 of ``_temporal_from_video_start``: taps 0..kt-1-j summed, then the rest."""
    kt = w.shape[2]
    return [torch.cat([w[:, :, : kt - j].sum(2, keepdim=True), w[:, :, kt - j :]], 2) for j in range(kt - 1)]


class FactorizedConv3d(nn.Module):
    """A (1, k, k) spatial conv followed by a (kt, 1, 1) causal temporal conv.

    Cheaper than a full k x k x kt kernel with the same receptive field
    (Cosmos' factorised residual blocks); ``kt = 1`` gives a per-frame 2D conv.
    """

    def __init__(self, in_channels: int, out_channels: int, temporal_kernel: int = 3) -> None:
        super().__init__()
        self.spatial = CausalConv3d(in_channels, out_channels, (1, 3, 3))
        self.temporal = (
            CausalConv3d(out_channels, out_channels, (temporal_kernel, 1, 1)) if temporal_kernel > 1 else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(x)
        return self.temporal(x) if self.temporal is not None else x


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over each frame separately: statistics never mix past and future."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


def norm(channels: int) -> FrameGroupNorm:
    return FrameGroupNorm(num_groups=min(32, channels // 4) or 1, num_channels=channels, eps=1e-6)


class ResBlock3d(nn.Module):
    """Pre-norm residual block: (norm, SiLU, conv) twice plus a skip (1x1 when widths differ)."""

    def __init__(
        self, in_channels: int, out_channels: int, temporal_kernel: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = norm(in_channels)
        self.conv1 = FactorizedConv3d(in_channels, out_channels, temporal_kernel)
        self.norm2 = norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = FactorizedConv3d(out_channels, out_channels, temporal_kernel)
        self.skip = (
            CausalConv3d(in_channels, out_channels, (1, 1, 1))
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Downsample3d(nn.Module):
    """Halve H and W (strided conv) and/or T (causally: 1 + 2k frames -> 1 + k).

    In time, output j mixes frames 2j-1 and 2j; output 0 sees frame 0 alone.
    """

    def __init__(self, channels: int, *, spatial: bool, temporal: bool) -> None:
        super().__init__()
        self.spatial = CausalConv3d(channels, channels, (1, 3, 3), spatial_stride=2) if spatial else None
        self.temporal = nn.Conv3d(channels, channels, (2, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial is not None:
            x = self.spatial(x)
        if self.temporal is not None:
            # Pairs (2j-1, 2j) are whole within each later step of a stream: nothing to carry.
            x = self.temporal(torch.cat([x[:, :, :1], x], dim=2) if starts_video() else x)
        return x


class Upsample3d(nn.Module):
    """Double H and W (nearest + conv) and/or T (1 + k frames -> 1 + 2k, then a causal conv)."""

    def __init__(self, channels: int, *, spatial: bool, temporal: bool, temporal_kernel: int = 3) -> None:
        super().__init__()
        self.do_spatial, self.do_temporal = spatial, temporal
        self.spatial = CausalConv3d(channels, channels, (1, 3, 3)) if spatial else None
        self.temporal = CausalConv3d(channels, channels, (temporal_kernel, 1, 1)) if temporal else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.temporal is not None:
            # Frame 0 maps to output 0 only; latent j (j >= 1) to outputs 2j-1 and 2j.
            x = self.temporal(x.repeat_interleave(2, dim=2)[:, :, 1 if starts_video() else 0 :])
        if self.spatial is not None:
            x = nearest_up_conv(x, self.spatial.conv)
        return x


def nearest_up_conv(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """``conv`` (1, 3, 3), padding 1, applied to ``x`` (B, C, T, H, W) upsampled 2x (nearest) in H, W.

    Computed at the low resolution, as four 2x2 convs (one per output phase) whose taps are the
    3x3 taps that fall on the same input pixel, summed: 16 taps per low-res pixel instead of 36,
    and no 4x upsampled copy; the same sums as upsample-then-conv up to float rounding.
    """
    b, _, t, h, w = x.shape
    frames = F.pad(rearrange(x, "b c t h w -> (b t) c h w"), (1, 1, 1, 1))
    phases = [
        F.conv2d(frames[:, :, a : a + h + 1, c : c + w + 1], k, conv.bias)
        for (a, c), k in folded_weights(conv, conv.weight, _phase_kernels).items()
    ]
    y = torch.stack(phases, 2).unflatten(2, (2, 2))  # (BT, O, a, c, h, w)
    return rearrange(y, "(b t) o a c h w -> b o t (h a) (w c)", b=b, t=t)


def _phase_kernels(weight: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """The 2x2 kernel of each output phase (a, c) of ``nearest_up_conv`` from a (O, I, 1, 3, 3) one."""
    k = weight.squeeze(2)  # (O, I, 3, 3)
    # Output row 2i + a reads low-res rows (i - 1, i) for a = 0 and (i, i + 1) for a = 1.
    rows = (
        torch.stack([k[:, :, 0], k[:, :, 1] + k[:, :, 2]], 2),
        torch.stack([k[:, :, 0] + k[:, :, 1], k[:, :, 2]], 2),
    )
    kernels = {}
    for a, kr in enumerate(rows):
        # Output column 2j + c reads low-res columns (j - 1, j) for c = 0 and (j, j + 1) for c = 1.
        kernels[a, 0] = torch.stack([kr[..., 0], kr[..., 1] + kr[..., 2]], 3)
        kernels[a, 1] = torch.stack([kr[..., 0] + kr[..., 1], kr[..., 2]], 3)
    return kernels


def causal_window_mask(t: int, window: int, device: torch.device, past: int = 0) -> torch.Tensor:
    """(t, past + t) boolean mask: query i (frame ``past + i``) may attend to key j iff
    ``past + i - window < j <= past + i``; ``past`` keys come before the queries (a stream's)."""
    d = torch.arange(past, past + t, device=device)[:, None] - torch.arange(past + t, device=device)[None, :]
    return (d >= 0) & (d < window)


class SpatioTemporalAttention(nn.Module):
    """Spatial attention within each frame, then causal temporal attention at each position.

    Factorised (Cosmos-Tokenizer) so cost grows linearly with length; the temporal
    part sees at most ``window`` frames (current included), which bounds the
    receptive field and lets long videos be processed in chunks exactly.
    """

    def __init__(self, channels: int, heads: int = 1, window: int = 8, temporal: bool = True) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels ({channels}) must be divisible by heads ({heads})")
        self.heads, self.window = heads, window
        self.norm_s = norm(channels)
        self.qkv_s = nn.Linear(channels, 3 * channels)
        self.proj_s = nn.Linear(channels, channels)
        self.temporal = temporal
        if temporal:
            self.norm_t = norm(channels)
            self.qkv_t = nn.Linear(channels, 3 * channels)
            self.proj_t = nn.Linear(channels, channels)

    def _attend(self, x: torch.Tensor, qkv: nn.Linear, proj: nn.Linear, window: int | None) -> torch.Tensor:
        """Attention along L of x (N, L, C): full when ``window`` is None, else causal within ``window``
        (keys and values then extend into a stream's past frames, kept between steps)."""
        # One 2D matmul: a strided 3D input sends bf16 autocast down bmm with the weight copied N times.
        flat = qkv(x.reshape(-1, x.shape[-1])).unflatten(0, x.shape[:2])
        qkv_ = rearrange(flat, "n l (three h d) -> three n h l d", three=3, h=self.heads)  # (3, N, h, L, d)
        q, kv, mask = qkv_[0], qkv_[1:], None
        if window is not None:
            kv = extend_past(self, kv, window - 1, dim=3)  # (2, N, h, P + L, d)
            mask = causal_window_mask(q.shape[2], window, x.device, past=kv.shape[3] - q.shape[2])
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask)  # (N, h, L, d)
        return proj(rearrange(y, "n h l d -> n l (h d)"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, _, h, w = x.shape
        s = rearrange(self.norm_s(x), "b c t h w -> (b t) (h w) c")
        x = x + rearrange(
            self._attend(s, self.qkv_s, self.proj_s, None), "(b t) (h w) c -> b c t h w", b=b, h=h
        )
        if self.temporal:
            s = rearrange(self.norm_t(x), "b c t h w -> (b h w) t c")
            y = self._attend(s, self.qkv_t, self.proj_t, self.window)
            x = x + rearrange(y, "(b h w) t c -> b c t h w", b=b, h=h, w=w)
        return x

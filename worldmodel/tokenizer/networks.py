"""Encoder and decoder networks of the causal wavelet tokenizer (Cosmos-Tokenizer ``networks/``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.tokenizer.configuration_tokenizer import TokenizerConfig
from worldmodel.tokenizer.haar import patchify, unpatchify
from worldmodel.tokenizer.layers3d import (
    Downsample3d,
    FactorizedConv3d,
    ResBlock3d,
    SpatioTemporalAttention,
    Upsample3d,
    norm,
)
from worldmodel.tokenizer.streaming import starts_video


def _mid(config: TokenizerConfig, channels: int) -> nn.Sequential:
    kt = config.temporal_kernel
    return nn.Sequential(
        ResBlock3d(channels, channels, kt, config.dropout),
        SpatioTemporalAttention(
            channels, config.attn_heads, config.attn_window, temporal=not config.is_image
        ),
        ResBlock3d(channels, channels, kt, config.dropout),
    )


class Encoder(nn.Module):
    """x: (B, 3, 1 + k*tc, H, W) in [-1, 1] -> (B, bottleneck_channels, 1 + k, H/sc, W/sc)."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        kt = config.temporal_kernel
        widths = [config.channels * m for m in config.channel_mult]
        in_ch = config.in_channels * 4**config.wavelet_levels * 2**config.temporal_wavelet_levels
        self.conv_in = FactorizedConv3d(in_ch, widths[0], kt)
        blocks: list[nn.Module] = []
        for i, width in enumerate(widths):
            prev = widths[max(i - 1, 0)]
            if i > 0:
                blocks.append(
                    Downsample3d(
                        prev,
                        spatial=i - 1 < config.spatial_downsamples,
                        temporal=i - 1 < config.temporal_downsamples,
                    )
                )
            for j in range(config.num_res_blocks):
                blocks.append(ResBlock3d(prev if j == 0 else width, width, kt, config.dropout))
        self.blocks = nn.Sequential(*blocks)
        self.mid = _mid(config, widths[-1])
        self.norm_out = norm(widths[-1])
        self.conv_out = FactorizedConv3d(widths[-1], config.bottleneck_channels, kt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        first = starts_video()  # frame 0 is in x (not a stream's later step): it is coded alone
        h = patchify(x, c.wavelet_levels, c.temporal_wavelet_levels, first=first)  # (B, 3*4^l*2^tl, T', h, w)
        h = self.mid(self.blocks(self.conv_in(h)))
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, Cz, T', h, w)


class Decoder(nn.Module):
    """z: (B, bottleneck_channels, 1 + k, h, w) -> (B, 3, 1 + k*tc, h*sc, w*sc)."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        kt = config.temporal_kernel
        widths = [config.channels * m for m in config.channel_mult][::-1]
        levels = len(widths)
        self.conv_in = FactorizedConv3d(config.bottleneck_channels, widths[0], kt)
        self.mid = _mid(config, widths[0])
        blocks: list[nn.Module] = []
        for i, width in enumerate(widths):
            prev = widths[max(i - 1, 0)]
            if i > 0:
                # Mirror of the encoder: level (levels-1-i) upsamples back to level (levels-i)'s size.
                stage = levels - 1 - i
                blocks.append(
                    Upsample3d(
                        prev,
                        spatial=stage < config.spatial_downsamples,
                        temporal=stage < config.temporal_downsamples,
                        temporal_kernel=max(kt, 2),
                    )
                )
            for j in range(config.num_res_blocks + 1):
                blocks.append(ResBlock3d(prev if j == 0 else width, width, kt, config.dropout))
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = norm(widths[-1])
        out_ch = config.in_channels * 4**config.wavelet_levels * 2**config.temporal_wavelet_levels
        self.conv_out = FactorizedConv3d(widths[-1], out_ch, kt)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        h = self.blocks(self.mid(self.conv_in(z)))
        h = self.conv_out(F.silu(self.norm_out(h)))  # (B, 3*4^l*2^tl, T', H/p, W/p)
        first = starts_video()
        return unpatchify(h, c.wavelet_levels, c.temporal_wavelet_levels, first=first)  # (B, 3, T, H, W)

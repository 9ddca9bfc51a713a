"""The causal video tokenizer: ``encode`` / ``decode`` / ``decode_code`` (ARCHITECTURE.md contract).

An image is a 1-frame video through the same model. Continuous tokenizers
return a latent; FSQ tokenizers return ``(latent, indices)`` where the latent
holds the quantised codes in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.hub import register
from worldmodel.tokenizer.configuration_tokenizer import TokenizerConfig
from worldmodel.tokenizer.fsq import FSQ
from worldmodel.tokenizer.networks import Decoder, Encoder


def valid_frame_counts(temporal_factor: int, near: int, count: int = 3) -> list[int]:
    """The valid frame counts ``1 + k * temporal_factor`` closest to ``near``."""
    k = max(0, round((near - 1) / temporal_factor))
    candidates = {1 + j * temporal_factor for j in range(max(0, k - count), k + count + 1)}
    return sorted(candidates, key=lambda t: (abs(t - near), t))[:count]


@register("tokenizer")
class CausalVideoTokenizer(nn.Module):
    """Causal wavelet video (or image) tokenizer; see ``TokenizerConfig``."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.fsq = FSQ(config.fsq_levels) if config.quantizer == "fsq" else None

    # -- the contract's properties ------------------------------------------------------------
    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_factor(self) -> int:
        return self.config.spatial_compression

    @property
    def latent_channels(self) -> int:
        return self.config.bottleneck_channels

    @property
    def is_discrete(self) -> bool:
        return self.fsq is not None

    @property
    def codebook_size(self) -> int | None:
        return self.fsq.codebook_size if self.fsq is not None else None

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T', h, w) of the latent of a (frames, height, width) video."""
        self.check_shape(frames, height, width)
        f, s = self.temporal_factor, self.spatial_factor
        return self.latent_channels, 1 + (frames - 1) // f, height // s, width // s

    # -- input checks -------------------------------------------------------------------------
    def check_shape(self, frames: int, height: int, width: int) -> None:
        f, s = self.temporal_factor, self.spatial_factor
        if (frames - 1) % f:
            raise ValueError(
                f"{self.config.name} takes 1 + k*{f} frames (1 for an image); got {frames}. "
                f"Nearest valid counts: {valid_frame_counts(f, frames)}"
            )
        if height % s or width % s:
            raise ValueError(f"{self.config.name} needs H and W divisible by {s}; got {height}x{width}")

    def check_video(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(
                f"tokenizer input must be a float tensor (B, 3, T, H, W) in [-1, 1], got {got}; "
                "convert uint8 frames with x / 127.5 - 1"
            )
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"tokenizer input must be (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.01 or hi > 1.01:
            raise ValueError(
                f"tokenizer input must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "uint8 frames map with x / 127.5 - 1"
            )
        self.check_shape(*x.shape[2:])

    # -- encode / decode ----------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, 1 + k*tf, H, W) -> latent (B, C, 1 + k, H/sf, W/sf) [and indices (B, 1 + k, H/sf, W/sf)].

        FSQ tokenizers return ``(latent, indices)``: the latent is then the quantised codes.
        """
        self.check_video(x)
        z = self.encoder(x)
        if self.fsq is None:
            return z
        codes, indices = self.fsq(z.movedim(1, -1))
        return codes.movedim(-1, 1), indices

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """latent: (B, C, 1 + k, h, w) -> video (B, 3, 1 + k*tf, h*sf, w*sf), unclamped."""
        if latent.ndim != 5 or latent.shape[1] != self.latent_channels:
            raise ValueError(
                f"latent must be (B, {self.latent_channels}, T', h, w), got {tuple(latent.shape)}"
            )
        return self.decoder(latent)

    def decode_code(self, indices: torch.Tensor) -> torch.Tensor:
        """indices: (B, T', h, w) int64 FSQ indices -> video (B, 3, T, H, W)."""
        if self.fsq is None:
            raise ValueError(f"{self.config.name} is continuous: it has no codes; use decode(latent)")
        if indices.dtype not in (torch.int32, torch.int64) or indices.ndim != 4:
            raise ValueError(f"indices must be int (B, T', h, w), got {indices.dtype} {tuple(indices.shape)}")
        if int(indices.min()) < 0 or int(indices.max()) >= self.fsq.codebook_size:
            raise ValueError(
                f"indices must lie in [0, {self.fsq.codebook_size}), got [{int(indices.min())}, "
                f"{int(indices.max())}]"
            )
        codes = (
            self.fsq.indices_to_codes(indices.long())
            .movedim(-1, 1)
            .to(self.decoder.conv_in.spatial.conv.weight)
        )
        return self.decoder(codes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruct x; returns ``(recon, {"latent": ..., ["indices": ...]})``."""
        out = self.encode(x)
        latent, extra = (out, {}) if self.fsq is None else (out[0], {"indices": out[1]})
        return self.decode(latent), {"latent": latent, **extra}

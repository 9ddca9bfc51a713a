"""Tokenizer configurations and the named presets (CV/DV = continuous/discrete video, CI/DI = image)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

QUANTIZERS = ("continuous", "fsq")


@dataclass
class TokenizerConfig:
    """A causal wavelet tokenizer. Defaults are a tiny CPU model (``CV4x8x8-tiny``)."""

    name: str = "CV4x8x8-tiny"
    quantizer: str = "continuous"
    # "continuous": an autoencoder latent; "fsq": finite scalar quantisation to integer tokens.
    temporal_compression: int = 4
    # frames per latent frame (1 for image tokenizers); 1 + k*tc frames -> 1 + k latents.
    spatial_compression: int = 8
    # pixels per latent pixel along H and W.
    wavelet_levels: int = 2
    # Haar levels at the input (patch 2**levels); temporal Haar levels are min(levels, log2(tc)).
    channels: int = 16
    # width of the first level; level i has channels * channel_mult[i].
    channel_mult: tuple[int, ...] = (1, 2)
    # one entry per level; downsampling happens between the first levels as needed.
    num_res_blocks: int = 1
    # residual blocks per level (the decoder uses one more, as in LDM / Cosmos).
    latent_channels: int = 16
    # continuous latent width (ignored for fsq, whose width is len(fsq_levels)).
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    # FSQ levels per channel; the codebook size is their product (64,000 here).
    attn_heads: int = 1
    attn_window: int = 4
    # temporal attention sees this many latent frames (current included): bounds the receptive field.
    temporal_kernel: int = 3
    # temporal kernel of the factorised convs (forced to 1 for image tokenizers).
    dropout: float = 0.0
    in_channels: int = 3

    def __post_init__(self) -> None:
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {QUANTIZERS}, got {self.quantizer!r}")
        for field in ("temporal_compression", "spatial_compression"):
            value = getattr(self, field)
            if value < 1 or value & (value - 1):
                raise ValueError(f"{field} must be a power of two >= 1, got {value}")
        if self.spatial_compression < 2**self.wavelet_levels:
            raise ValueError(
                f"spatial_compression ({self.spatial_compression}) must be >= 2**wavelet_levels "
                f"({2**self.wavelet_levels}); lower wavelet_levels"
            )
        needed = max(self.spatial_downsamples, self.temporal_downsamples) + 1
        if len(self.channel_mult) < needed:
            raise ValueError(
                f"channel_mult has {len(self.channel_mult)} levels but {self.name} needs at least {needed} "
                f"({self.spatial_downsamples} spatial and {self.temporal_downsamples} temporal downsamplings)"
            )
        if self.attn_window < 1 or self.num_res_blocks < 1 or self.channels < 4:
            raise ValueError("attn_window and num_res_blocks must be >= 1 and channels >= 4")
        if self.is_image:
            self.temporal_kernel = 1

    @property
    def is_image(self) -> bool:
        return self.temporal_compression == 1

    @property
    def temporal_wavelet_levels(self) -> int:
        return min(self.wavelet_levels, int(math.log2(self.temporal_compression)))

    @property
    def spatial_downsamples(self) -> int:
        return int(math.log2(self.spatial_compression)) - self.wavelet_levels

    @property
    def temporal_downsamples(self) -> int:
        return int(math.log2(self.temporal_compression)) - self.temporal_wavelet_levels

    @property
    def bottleneck_channels(self) -> int:
        return len(self.fsq_levels) if self.quantizer == "fsq" else self.latent_channels


def _preset(name: str, **kw) -> TokenizerConfig:
    kind, rest = name[:2], name[2:].split("-")[0]
    factors = [int(f) for f in rest.split("x")]
    tc, sc = (1, factors[0]) if kind[1] == "I" else (factors[0], factors[1])
    return TokenizerConfig(
        name=name,
        quantizer="fsq" if kind[0] == "D" else "continuous",
        temporal_compression=tc,
        spatial_compression=sc,
        **kw,
    )


# Paper-size architecture (Cosmos-Tokenizer widths), for benchmarks and GPU training.
_PAPER = {"channels": 128, "channel_mult": (2, 4, 4), "num_res_blocks": 2, "attn_heads": 1, "attn_window": 8}
# Small models that train on a CPU in minutes to hours (the shipped checkpoints).
_SMALL = {"channels": 48, "channel_mult": (1, 2, 2), "num_res_blocks": 2}
# Tiny models for tests: seconds per step.
_TINY = {"channels": 16, "channel_mult": (1, 2, 2), "num_res_blocks": 1}

TOKENIZER_CONFIGS: dict[str, TokenizerConfig] = {}
for _base in (
    "CV4x8x8",
    "CV8x8x8",
    "CV8x16x16",
    "DV4x8x8",
    "DV8x8x8",
    "DV8x16x16",
    "CI8x8",
    "CI16x16",
    "DI8x8",
    "DI16x16",
):
    for _suffix, _kw in (("", _PAPER), ("-small", _SMALL), ("-tiny", _TINY)):
        TOKENIZER_CONFIGS[_base + _suffix] = _preset(_base + _suffix, **_kw)


def get_config(name: str, **overrides) -> TokenizerConfig:
    """A named preset, optionally with fields overridden (e.g. ``latent_channels=8``)."""
    if name not in TOKENIZER_CONFIGS:
        raise ValueError(f"unknown tokenizer config {name!r}; choose one of {sorted(TOKENIZER_CONFIGS)}")
    return replace(TOKENIZER_CONFIGS[name], **overrides)

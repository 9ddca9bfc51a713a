"""The GPT backbone's configuration and its size presets (``GPT_MODELS``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from worldmodel.transformer_checks import check_transformer_config


@dataclass
class GPTConfig:
    """A causal transformer over the FSQ tokens of a latent grid (T, h, w). Defaults: a tiny CPU model."""

    levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    # the tokenizer's FSQ levels: a token is one digit per level, embedded and predicted digit by digit.
    hidden: int = 64
    depth: int = 2
    heads: int = 4
    # hidden / heads must be even and >= 6 (3D RoPE splits each head over t, h, w).
    mlp_ratio: float = 8 / 3
    # SwiGLU inner width / hidden: 8/3 keeps the parameters of a 4x GELU MLP (arXiv 2002.05202).
    qk_norm: bool = True
    # RMSNorm on queries and keys: keeps attention logits bounded in long / low-precision training.
    max_frames: int = 16
    max_height: int = 8
    max_width: int = 8
    # the window: the largest latent grid (T, h, w) the absolute position tables cover.
    action_dim: int = 0
    # width of the per-latent-frame action vectors; 0 = no action conditioning.
    text_dim: int = 0
    # width of the text embeddings read by cross-attention; 0 = no text conditioning.
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        self.levels = tuple(self.levels)
        if not self.levels or any(not isinstance(v, int) or v < 2 for v in self.levels):
            raise ValueError(f"levels must be FSQ levels, each an int >= 2, got {self.levels}")
        check_transformer_config(
            self,
            sizes=("hidden", "depth", "heads", "max_frames", "max_height", "max_width"),
            widths=("action_dim", "text_dim"),
        )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def codebook_size(self) -> int:
        """Token ids are in [0, codebook_size); ``codebook_size`` itself is the start-of-video token."""
        return math.prod(self.levels)

    @property
    def window(self) -> int:
        """The most tokens one sequence can hold: ``max_frames · max_height · max_width``."""
        return self.max_frames * self.max_height * self.max_width


GPT_MODELS: dict[str, GPTConfig] = {
    # Tests: seconds on a CPU.
    "GPT-tiny": GPTConfig(hidden=64, depth=2, heads=4),
    # ~2M parameters: trains on a CPU in hours (the factorised vocabulary keeps the tables small).
    "GPT-XS": GPTConfig(hidden=192, depth=4, heads=4),
    # GPT-2 small / base widths and depths (Radford et al., 2019).
    "GPT-S": GPTConfig(hidden=384, depth=12, heads=6),
    "GPT-B": GPTConfig(hidden=768, depth=12, heads=12),
}


def get_config(name: str, **overrides) -> GPTConfig:
    """A preset from ``GPT_MODELS`` with fields overridden, e.g. ``levels=(8, 5, 5, 5), action_dim=4``."""
    if name not in GPT_MODELS:
        raise ValueError(f"unknown GPT preset {name!r}; choose one of {sorted(GPT_MODELS)}")
    return replace(GPT_MODELS[name], **overrides)

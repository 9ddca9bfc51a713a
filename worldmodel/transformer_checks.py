"""The checks every transformer backbone's config shares (``GPTConfig``, ``DiTConfig``)."""

from __future__ import annotations

from typing import Any


def check_transformer_config(config: Any, *, sizes: tuple[str, ...], widths: tuple[str, ...]) -> None:
    """Raise a ValueError unless the fields ``sizes`` are >= 1, the conditioning ``widths`` >= 0
    (0 = off), ``heads`` split ``hidden`` into even head widths of at least 6 (3D RoPE splits each
    head over t, h, w) and ``mlp_ratio`` and ``rope_theta`` are positive."""
    for field in sizes:
        if getattr(config, field) < 1:
            raise ValueError(f"{field} must be >= 1, got {getattr(config, field)}")
    for field in widths:
        if getattr(config, field) < 0:
            raise ValueError(f"{field} must be >= 0 (0 = off), got {getattr(config, field)}")
    if config.hidden % config.heads:
        raise ValueError(f"hidden ({config.hidden}) must be divisible by heads ({config.heads})")
    head_dim = config.hidden // config.heads
    if head_dim % 2 or head_dim < 6:
        raise ValueError(
            f"hidden / heads = {head_dim} must be even and >= 6 for 3D RoPE; change hidden or heads"
        )
    if config.mlp_ratio <= 0 or config.rope_theta <= 0:
        raise ValueError(f"mlp_ratio and rope_theta must be > 0, got {config.mlp_ratio}, {config.rope_theta}")

"""The one check of a world model's latent frame shape that every latent-reading config repeats."""

from __future__ import annotations

from collections.abc import Sequence


def checked_latent_shape(channels: int, size: Sequence[int]) -> tuple[int, int]:
    """``size`` as an ``(h, w)`` tuple of ints (JSON gives lists), after checking ``channels >= 1``
    and ``h, w >= 1``; a ``ValueError`` naming the field otherwise."""
    if channels < 1:
        raise ValueError(f"latent_channels must be >= 1, got {channels}")
    shape = tuple(int(s) for s in size)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"latent_size must be (h, w) with h, w >= 1, got {shape}")
    return shape

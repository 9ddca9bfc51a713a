"""Haar wavelet patching of videos, the tokenizer's first and last step (arXiv 2501.03575, Sec. 5.1.1).

Each level splits every 2 (x 2 x 2) block into its averages and differences, so a
level halves H and W (and T, when temporal) and multiplies the channels by 4 (8).
We use the averaging Haar pair ``low = (a + b) / 2, high = (a - b) / 2`` rather
than the orthonormal one so that every band stays in the input's [-1, 1] range;
the inverse ``a = low + high, b = low - high`` is exact.

Temporal patching is causal: the first frame is repeated so that it is coded on
its own, and ``T = 1 + k * 2**temporal_levels`` frames give ``1 + k`` frames.
"""

from __future__ import annotations

import torch


def _split(x: torch.Tensor, dim: int) -> torch.Tensor:
    """One Haar level along ``dim``: (..., 2n, ...) -> low and high bands stacked on channels."""
    a, b = x.unflatten(dim, (-1, 2)).unbind(dim + 1)
    return torch.cat([(a + b) / 2, (a - b) / 2], dim=1)


def _merge(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Inverse of ``_split``: channels (2C) -> C, length n -> 2n along ``dim``."""
    low, high = x.chunk(2, dim=1)
    return torch.stack([low + high, low - high], dim=dim + 1).flatten(dim, dim + 1)


def haar_dwt(x: torch.Tensor, *, temporal: bool) -> torch.Tensor:
    """One Haar level. x: (B, C, T, H, W) -> (B, 4C or 8C, T or T/2, H/2, W/2)."""
    x = _split(_split(x, 3), 4)
    return _split(x, 2) if temporal else x


def haar_idwt(x: torch.Tensor, *, temporal: bool) -> torch.Tensor:
    """Inverse of ``haar_dwt`` (exact)."""
    if temporal:
        x = _merge(x, 2)
    return _merge(_merge(x, 4), 3)


def patchify(x: torch.Tensor, levels: int, temporal_levels: int, *, first: bool = True) -> torch.Tensor:
    """Causal wavelet patching. x: (B, C, 1 + k*2**tl, H, W) -> (B, C * 4**l * 2**tl, 1 + k, H/2**l, W/2**l).

    The first frame is repeated ``2**tl - 1`` times so that it fills a temporal
    block by itself: the first output frame then depends on frame 0 alone.
    ``first=False`` patches frames that continue a video, (B, C, k*2**tl, H, W) -> k frames.
    """
    if temporal_levels > levels:
        raise ValueError(f"temporal_levels ({temporal_levels}) cannot exceed levels ({levels})")
    pt = 2**temporal_levels
    if pt > 1 and first:
        x = torch.cat([x[:, :, :1].expand(-1, -1, pt - 1, -1, -1), x], dim=2)
    for level in range(levels):
        x = haar_dwt(x, temporal=level < temporal_levels)
    return x


def unpatchify(x: torch.Tensor, levels: int, temporal_levels: int, *, first: bool = True) -> torch.Tensor:
    """Inverse of ``patchify``: drops the repeated copies of the first frame (when ``first``)."""
    for level in reversed(range(levels)):
        x = haar_idwt(x, temporal=level < temporal_levels)
    return x[:, :, 2**temporal_levels - 1 :] if first else x

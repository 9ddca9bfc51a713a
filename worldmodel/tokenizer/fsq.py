"""Finite scalar quantisation (Mentzer et al., arXiv 2309.15505).

Each latent channel is bounded and rounded to one of ``levels[i]`` values; the
codebook is implicit (the product of the levels) and needs no auxiliary losses.
Follows lucidrains' ``finite_scalar_quantization.py``: ``bound`` then
``round_ste``; ``codes_to_indices`` and ``indices_to_codes`` are exact inverses.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def round_ste(z: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient (identity in the backward pass)."""
    return z + (z.round() - z).detach()


class FSQ(nn.Module):
    """Quantise ``(..., len(levels))`` latents to codes in [-1, 1] and integer indices.

    Args:
        levels: number of values per channel, e.g. ``(8, 8, 8, 5, 5, 5)`` (64,000 codes).
    """

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        if not levels or any(level < 2 for level in levels):
            raise ValueError(f"FSQ levels must each be >= 2, got {levels}")
        self.levels_tuple = tuple(levels)
        levels_t = torch.tensor(levels, dtype=torch.int64)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.int64), dim=0)
        # Derived from `levels`, so not part of the state dict.
        self.register_buffer("_levels", levels_t, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels_tuple)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels_tuple)

    def bound(self, z: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        """Squash ``z`` so that rounding yields exactly ``levels`` values per channel (eq. 1)."""
        half_l = (self._levels - 1) * (1 + eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = (offset / half_l).atanh()
        return (z + shift).tanh() * half_l - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Codes in [-1, 1]: ``round(bound(z)) / (levels // 2)``."""
        half_width = self._levels // 2
        return round_ste(self.bound(z)) / half_width

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., dim) codes -> (...) int64 indices in [0, codebook_size)."""
        half_width = self._levels // 2
        digits = (codes * half_width + half_width).round().long()
        return (digits * self._basis).sum(dim=-1)

    def indices_to_digits(self, indices: torch.Tensor) -> torch.Tensor:
        """(...) indices -> (..., dim) integer digits, digit i in [0, levels[i])."""
        return (indices.unsqueeze(-1) // self._basis) % self._levels

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(...) indices -> (..., dim) codes in [-1, 1]."""
        half_width = self._levels // 2
        return (self.indices_to_digits(indices) - half_width) / half_width

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (..., dim) -> (codes (..., dim), indices (...)); runs in fp32 with autocast off."""
        if z.shape[-1] != self.dim:
            raise ValueError(
                f"FSQ expects last dim {self.dim} (levels {self.levels_tuple}), got {z.shape[-1]}"
            )
        with torch.autocast(device_type=z.device.type, enabled=False):
            codes = self.quantize(z.float())
            return codes.to(z.dtype), self.codes_to_indices(codes)

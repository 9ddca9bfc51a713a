"""Rotary position embeddings (Su et al., RoFormer, arXiv 2104.09864, eq. 34), factorised over
the (t, h, w) axes of a video's token grid as in Cosmos (arXiv 2501.03575, Sec. 5.2).

``apply_rope`` rotates the pairs ``(x[i], x[i + dim/2])`` (the "rotate half" layout, a
permutation of RoFormer's adjacent pairs), so ``<R(p) q, R(p') k>`` depends only on ``p − p'``.
"""

from __future__ import annotations

import torch


def rope_frequencies(
    dim: int, positions: torch.Tensor, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of the angles ``p · theta^(−2i/dim)`` (RoFormer eq. 15), each (N, dim/2).

    Args:
        dim: the rotated width (even).
        positions: (N,) float or integer positions.
    """
    if dim % 2:
        raise ValueError(f"rope dim must be even, got {dim}")
    inv_freq = theta ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    angles = positions.float()[:, None] * inv_freq[None]  # (N, dim/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (..., N, dim) by the angles whose ``cos``, ``sin`` are (N, dim/2).

    Computed in float32 (bf16 angles lose the relative-position property), returned in x's dtype.
    """
    x1, x2 = x.float().chunk(2, dim=-1)  # (..., N, dim/2) each
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., N, dim)
    return rotated.to(x.dtype)


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """The (t, h, w) split of a head's width: h and w get ``2·(head_dim // 6)`` each, t the rest
    (Cosmos' split); each part is even so it holds whole rotation pairs."""
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3D RoPE needs an even head dim >= 6, got {head_dim}")
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def rope_3d(
    head_dim: int,
    grid: tuple[int, int, int],
    theta: float = 10000.0,
    *,
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` for the tokens of a (t, h, w) grid flattened in that order, each (t·h·w, head_dim/2).

    Each axis rotates its own share of the head (``rope_axis_dims``) by its own coordinate, so
    attention logits depend only on the (Δt, Δh, Δw) between tokens. ``offset`` shifts the
    coordinates of every token (e.g. for a window that starts later in a video).
    """
    dims = rope_axis_dims(head_dim)
    axes = [
        torch.arange(n, dtype=torch.float32, device=device) + o for n, o in zip(grid, offset, strict=True)
    ]
    coords = torch.meshgrid(*axes, indexing="ij")  # 3 × (t, h, w)
    parts = [rope_frequencies(d, c.flatten(), theta) for d, c in zip(dims, coords, strict=True)]
    cos = torch.cat([p[0] for p in parts], dim=-1)  # (t·h·w, head_dim/2)
    sin = torch.cat([p[1] for p in parts], dim=-1)  # (t·h·w, head_dim/2)
    return cos, sin

"""3D RoPE: attention logits depend only on relative positions (RoFormer, arXiv 2104.09864, Sec. 3.4)."""

import torch

from worldmodel.diffusion.rope import apply_rope, rope_3d, rope_frequencies


def logits(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return apply_rope(q, cos, sin) @ apply_rope(k, cos, sin).transpose(-1, -2)


def test_rope_logits_depend_only_on_the_relative_position() -> None:
    q, k = torch.randn(2, 16, dtype=torch.float64).unbind(0)
    # <R(p) q, R(p') k> for (p, p') = (3, 1) and (10, 8): same offset, same logit.
    cos, sin = rope_frequencies(16, torch.tensor([3.0, 1.0, 10.0, 8.0]))
    rq, rk = apply_rope(q.expand(4, 16).float(), cos, sin), apply_rope(k.expand(4, 16).float(), cos, sin)
    torch.testing.assert_close(rq[0] @ rk[1], rq[2] @ rk[3])
    assert not torch.allclose(rq[0] @ rk[1], rq[0] @ rk[3])


def test_rope_3d_logits_are_unchanged_when_every_position_shifts() -> None:
    q, k = torch.randn(2, 3, 2 * 3 * 4, 24).unbind(0)  # (heads, t·h·w tokens, head_dim)
    grid = (2, 3, 4)
    base = logits(q, k, *rope_3d(24, grid))
    shifted = logits(q, k, *rope_3d(24, grid, offset=(5.0, 7.0, 11.0)))
    torch.testing.assert_close(shifted, base, atol=1e-4, rtol=1e-4)


def test_rope_3d_sees_every_axis() -> None:
    q, k = torch.randn(2, 2 * 3 * 4, 24).unbind(0)
    grid = (2, 3, 4)
    cos, sin = rope_3d(24, grid)
    plain = apply_rope(q, cos, sin) @ apply_rope(k, cos, sin).T
    for axis in range(3):
        offset = [0.0, 0.0, 0.0]
        offset[axis] = 1.0
        k_cos, k_sin = rope_3d(24, grid, offset=tuple(offset))
        moved = apply_rope(q, cos, sin) @ apply_rope(k, k_cos, k_sin).T
        assert not torch.allclose(moved, plain, atol=1e-3), f"axis {axis} does not move the logits"


def test_rope_is_a_rotation_and_keeps_norms() -> None:
    x = torch.randn(4, 2 * 3 * 4, 48)
    rotated = apply_rope(x, *rope_3d(48, (2, 3, 4)))
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))

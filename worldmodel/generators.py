"""Random draws for a batch whose rows may each follow their own ``torch.Generator``.

A planner scores B candidate action sequences in one batched rollout; with one generator per
candidate, candidate b's sampler noise is the noise a batch-1 call seeded with b's seed draws, so
a batched rollout is B single rollouts done at once (to the rounding of batched kernels) and a
candidate's rollout does not depend on which others share its batch. A single generator (or None)
draws the whole batch as one tensor, as every sampler always has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Generators = torch.Generator | Sequence[torch.Generator] | None
"""One generator for the whole batch, one per batch row, or None (torch's global generator)."""


def make_generators(
    seed: int | Sequence[int] | np.ndarray, device: torch.device
) -> torch.Generator | list[torch.Generator]:
    """A generator seeded with ``seed``, or one per element of a sequence (or array) of seeds."""
    if isinstance(seed, int | np.integer):
        return torch.Generator(device=device).manual_seed(int(seed))
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seed]


def per_row(generator: Generators, batch: int) -> list[torch.Generator] | None:
    """The per-row generators of ``generator`` (checked against ``batch``), or None for a shared one."""
    if generator is None or isinstance(generator, torch.Generator):
        return None
    generators = list(generator)
    if len(generators) != batch:
        raise ValueError(f"got {len(generators)} generators for a batch of {batch}; pass one per row")
    return generators


def randn(shape: tuple[int, ...], generator: Generators, device: torch.device) -> torch.Tensor:
    """Normal noise of ``shape`` (B, ...) drawn on each generator's device (the same numbers on CPU
    and GPU), moved to ``device``; with per-row generators row b is what ``(1, ...)`` draws from
    generator b."""
    rows = per_row(generator, shape[0])
    if rows is None:
        draw_device = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, device=draw_device).to(device)
    return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=g.device).to(device) for g in rows])


def multinomial(probs: torch.Tensor, generator: Generators) -> torch.Tensor:
    """One draw per row of (R, V) ``probs`` -> (R,) int64.

    With B per-row generators the rows are B equal consecutive groups (a batch element's R / B
    rows, e.g. its FSQ digits), group b drawn with generator b as a batch-1 call would.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    generators = list(generator)
    if probs.shape[0] % len(generators):
        raise ValueError(f"{probs.shape[0]} rows do not split into {len(generators)} equal groups")
    groups = probs.view(len(generators), -1, probs.shape[-1])  # (B, R / B, V)
    return torch.cat(
        [torch.multinomial(p, 1, generator=g)[:, 0] for p, g in zip(groups, generators, strict=True)]
    )

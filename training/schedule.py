"""Learning-rate schedule: linear warmup, then cosine decay to a floor.

A pure function of the step (nanoGPT's ``get_lr(it)``), so a resumed run gets
the same learning rates as an uninterrupted one without any scheduler state.
"""

from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate for the 0-based optimizer step ``step``.

    - ``step < min(warmup_steps, total_steps)``: ``base_lr * (step + 1) / (warmup_steps + 1)``, linear
      and never 0, so the first step already moves the weights;
    - ``warmup_steps <= step < total_steps``: cosine from ``base_lr`` down to ``min_lr``,
      ``min_lr + 0.5 * (1 + cos(pi * r)) * (base_lr - min_lr)`` with
      ``r = (step - warmup_steps) / (total_steps - warmup_steps)``;
    - ``step >= total_steps``: ``min_lr`` (training past the plan keeps the floor).

    A warmup longer than the run (a smoke test with default warmup) just never
    reaches ``base_lr``.
    """
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if step >= total_steps:
        return min_lr
    if step < warmup_steps:
        return base_lr * (step + 1) / (warmup_steps + 1)
    ratio = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (base_lr - min_lr)

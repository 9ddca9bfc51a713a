"""Re-balancing clips by category toward target proportions (down- and up-sampling).

Of ``N`` kept clips, category ``c`` should hold ``t_c = round(share_c * N)``. A category
with more clips keeps a random ``t_c`` of them (the rest are dropped as ``rebalanced``);
one with fewer keeps all and repeats them: every clip ``t_c // n_c`` times and a random
``t_c % n_c`` of them once more, at most ``max_repeats`` times each. Categories absent
from the target are dropped; an empty category cannot be filled. The draws come from
``np.random.default_rng(seed)`` over the categories in sorted order, so a plan depends only
on the labels, the target and the seed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def parse_balance(text: str, categories: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``"manipulation=0.4,driving=0.3"`` -> ``(("driving", 0.3), ("manipulation", 0.4))``,
    normalised to sum 1.

    Raises:
        ValueError: a malformed item, an unknown category, a negative share or all zero.
    """
    if not text.strip():
        return ()
    shares: dict[str, float] = {}
    for item in text.split(","):
        name, eq, value = item.strip().partition("=")
        if not eq:
            raise ValueError(f"--balance item {item!r} is not category=share (e.g. manipulation=0.4)")
        if name not in categories:
            raise ValueError(
                f"--balance: unknown category {name!r}; the categories are {', '.join(categories)}"
            )
        try:
            shares[name] = float(value)
        except ValueError:
            raise ValueError(f"--balance: share of {name} must be a number, got {value!r}") from None
        if shares[name] < 0:
            raise ValueError(f"--balance: share of {name} must be >= 0, got {value}")
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("--balance: the shares must not all be zero")
    return tuple(sorted((name, round(share / total, 6)) for name, share in shares.items()))


def balance_copies(
    labels: list[str], target: dict[str, float], *, seed: int = 0, max_repeats: int = 4
) -> np.ndarray:
    """How many times each clip goes into the shards (module docstring).

    Args:
        labels: (N,) each kept clip's category.
        target: category -> share (summing to 1).

    Returns:
        copies (N,) int: 0 drops the clip, 1 keeps it, k > 1 writes it k times.
    """
    if max_repeats < 1:
        raise ValueError(f"max_repeats must be >= 1, got {max_repeats}")
    labels_arr = np.asarray(labels, dtype=object)
    n = len(labels_arr)
    copies = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for category in sorted(set(labels_arr.tolist())):
        members = np.flatnonzero(labels_arr == category)
        want = round(target.get(category, 0.0) * n)
        if want <= len(members):
            copies[rng.choice(members, size=want, replace=False)] = 1
            continue
        want = min(want, max_repeats * len(members))
        copies[members] = want // len(members)
        extra = want % len(members)
        if extra:
            copies[rng.choice(members, size=extra, replace=False)] += 1
    return copies


def distribution(labels: list[str], copies: np.ndarray | None = None) -> dict[str, int]:
    """Clips per category (with ``copies``: samples per category after balancing), sorted by name."""
    counts: Counter[str] = Counter()
    for i, label in enumerate(labels):
        counts[label] += 1 if copies is None else int(copies[i])
    return dict(sorted(counts.items()))

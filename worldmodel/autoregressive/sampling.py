"""Drawing tokens from logits: temperature, top-k and nucleus (top-p) filtering, one pure function each.

Filters return logits with the excluded entries set to ``-inf``, so they compose and a softmax
renormalises over what is left. All work on the last dimension and any leading batch shape.
"""

from __future__ import annotations

import torch

from worldmodel.generators import Generators, multinomial


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (ties with the k-th are kept); ``k <= 0`` keeps all.

    logits: (..., V) -> (..., V).
    """
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., arXiv 1904.09751, Sec. 3.1, eq. 2): keep the smallest set
    of most probable entries whose probability sums to at least ``p``; ``p >= 1`` keeps all.

    logits: (..., V) -> (..., V).
    """
    if p >= 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V)
    probs = sorted_logits.softmax(dim=-1)  # (..., V)
    # An entry is needed unless the more probable ones already reach p, so the top one always stays.
    remove_sorted = probs.cumsum(dim=-1) - probs >= p  # (..., V)
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # (..., V) back in vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def sample_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: Generators = None,
) -> torch.Tensor:
    """One draw per row of (B, V) logits -> (B,) int64: temperature, then top-k, then top-p.

    ``temperature == 0`` is greedy (the argmax), the limit of the tempered softmax. Per-row
    generators draw equal consecutive groups of rows (``worldmodel.generators.multinomial``).
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = top_p_filter(top_k_filter(logits.float() / temperature, top_k), top_p)
    probs = logits.softmax(dim=-1)  # (B, V)
    return multinomial(probs, generator)

"""A preallocated key / value cache for autoregressive decoding.

Without a cache, generating N tokens re-runs the transformer over the whole prefix at every
step (O(N²) token passes); with it each step runs one new token and attends to the stored keys
and values of the earlier ones. The tensors are allocated once for the full sequence and written
in place, so a decoding step allocates nothing and never copies the past (a concatenating cache
copies it every step).
"""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of ``layers`` layers for up to ``max_len`` positions of a batch.

    ``length`` counts the positions written so far. Within a forward pass each layer calls
    ``update`` with the keys and values of the new positions, then the model calls ``advance``.
    The (layers, B, H, max_len, head_dim) tensors are allocated at the first ``update``, with
    the batch, heads, device and dtype of the keys it receives (under autocast that is the
    autocast dtype, which a dtype fixed in advance could not know).
    """

    def __init__(self, layers: int, max_len: int) -> None:
        self.layers = layers
        self.max_len = max_len
        self.length = 0
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, n, head_dim) at positions ``length .. length + n``; return every stored
        position's keys and values, each (B, H, length + n, head_dim)."""
        if self.k is None:
            b, h, _, d = k.shape
            self.k = k.new_zeros(self.layers, b, h, self.max_len, d)
            self.v = v.new_zeros(self.layers, b, h, self.max_len, d)
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; writing up to {end} overflows it")
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        """Mark ``n`` more positions as written (after every layer has stored them)."""
        if self.length + n > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; advancing to {self.length + n}")
        self.length += n

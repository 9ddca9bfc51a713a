"""Text encoders: token ids -> per-token embeddings for the world model's cross-attention.

Cosmos conditions on T5-XXL embeddings (arXiv 2501.03575, diffusion WFM). That model is
too large to ship, so the offline default is ``StaticEmbeddingTextEncoder``: a
frozen table of static token vectors (wordllama's, loaded by
``training.text_encoders``) under a small trainable transformer that lets each
token's vector depend on the rest of the caption. ``T5TextEncoder`` wraps a frozen
T5 encoder for when a local copy of one exists.

Every encoder maps ``token_ids: (B, L) int64`` and ``mask: (B, L) bool`` (True on
real tokens) to ``(embeddings: (B, L, D), mask)``, with the embeddings of padded
positions set to zero. Nothing here reads files or tokenizes text.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.conditioning.configuration_text import TextEncoderConfig


class TextEncoder(nn.Module, ABC):
    """Interface: ``forward(token_ids, mask) -> (embeddings, mask)``; ``dim`` is D, ``max_len`` bounds L."""

    dim: int
    max_len: int

    @abstractmethod
    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token_ids: (B, L) int64, mask: (B, L) bool -> embeddings (B, L, D), mask (B, L)."""

    def _check(self, token_ids: torch.Tensor, mask: torch.Tensor) -> None:
        if token_ids.ndim != 2 or mask.shape != token_ids.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"expected token_ids (B, L) and a bool mask of the same shape, got {tuple(token_ids.shape)} "
                f"and {mask.dtype} {tuple(mask.shape)}"
            )
        if token_ids.shape[1] > self.max_len:
            raise ValueError(
                f"{token_ids.shape[1]} tokens exceed max_len={self.max_len}; tokenize with truncation"
            )


# ---------------------------------------------------------------------------- blocks


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention that ignores padded keys."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D), key_mask: (B, L) bool -> (B, L, D)."""
        q, k, v = rearrange(self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.heads)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])  # (B, H, L, d)
        return self.proj(rearrange(y, "b h l d -> b l (h d)"))


class MLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Two pre-norm (RMSNorm) residual lines: attention, then MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.RMSNorm(dim)
        self.mlp = MLP(dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D), key_mask: (B, L) bool -> (B, L, D)."""
        x = x + self.attn(self.norm1(x), key_mask)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------- encoders


class StaticEmbeddingTextEncoder(TextEncoder):
    """Frozen static token vectors, a projection to ``dim``, learned positions and ``layers`` blocks.

    The table is a persistent buffer: it is saved with the model (a saved world
    model needs only the tokenizer, not wordllama) but is never trained. It is
    held in float16, as wordllama ships it, to halve the checkpoint; a model built
    from a config starts with a random table until ``load_embeddings`` fills it.
    """

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.dim = config.dim
        self.max_len = config.max_len
        self.register_buffer(
            "token_embedding", torch.randn(config.vocab_size, config.embed_dim).half(), persistent=True
        )
        self.in_proj = nn.Linear(config.embed_dim, config.dim)
        self.pos_embedding = nn.Parameter(torch.zeros(config.max_len, config.dim))
        self.blocks = nn.ModuleList(Block(config.dim, config.heads) for _ in range(config.layers))
        self.norm = nn.RMSNorm(config.dim)
        self.apply(self._init_weights)
        nn.init.normal_(self.pos_embedding, std=0.02)
        # GPT-2 scaling: each residual branch adds variance, so shrink the projections into it.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") and name.startswith("blocks."):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    @torch.no_grad()
    def load_embeddings(self, table: torch.Tensor) -> None:
        """Copy pretrained static token vectors in; table: (vocab_size, embed_dim)."""
        if table.shape != self.token_embedding.shape:
            raise ValueError(
                f"table has shape {tuple(table.shape)} but the config wants "
                f"(vocab_size, embed_dim) = {tuple(self.token_embedding.shape)}"
            )
        self.token_embedding.copy_(table)

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token_ids: (B, L) int64, mask: (B, L) bool -> embeddings (B, L, dim), mask (B, L)."""
        self._check(token_ids, mask)
        x = self.token_embedding[token_ids].to(self.in_proj.weight.dtype)  # (B, L, E)
        x = self.in_proj(x) + self.pos_embedding[: token_ids.shape[1]]  # (B, L, D)
        # A caption with no real token would give softmax over nothing (NaN); let it
        # attend to its padding instead, and its output is zeroed below anyway.
        key_mask = mask | ~mask.any(dim=1, keepdim=True)  # (B, L)
        for block in self.blocks:
            x = block(x, key_mask)
        x = self.norm(x) * mask[..., None]  # (B, L, D)
        return x, mask


class T5TextEncoder(TextEncoder):
    """A frozen Hugging Face style T5 encoder (``backbone(input_ids=, attention_mask=).last_hidden_state``).

    Build it with ``training.text_encoders.load_t5_encoder(path)``. The backbone
    stays in eval mode and gets no gradients; its weights belong to its own
    folder, so keep this module out of a world-model checkpoint (hold it beside
    the model, or precompute the embeddings) rather than saving T5 again.
    """

    def __init__(self, backbone: nn.Module, dim: int, max_len: int) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()
        self.dim = dim
        self.max_len = max_len

    def train(self, mode: bool = True) -> T5TextEncoder:
        # The backbone is frozen: dropout must stay off even while the world model trains.
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token_ids: (B, L) int64, mask: (B, L) bool -> embeddings (B, L, dim), mask (B, L)."""
        self._check(token_ids, mask)
        hidden = self.backbone(input_ids=token_ids, attention_mask=mask.long()).last_hidden_state
        return hidden * mask[..., None], mask  # (B, L, D)


def embed_text_ids(
    encoder: TextEncoder | None, text_ids: torch.Tensor | None, text_mask: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Token ids (B, L) and mask (B, L) -> embeddings (B, L, text_dim) through a world model's nested
    encoder; no ids, no text. Shared by the diffusion and autoregressive world models."""
    if text_ids is None:
        return None, None
    if encoder is None:
        raise ValueError("this world model has no text encoder (trained without text); pass no text")
    if text_mask is None:
        text_mask = torch.ones_like(text_ids, dtype=torch.bool)
    return encoder(text_ids, text_mask)

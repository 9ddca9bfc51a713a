"""Conditioning of the world models: text encoders (token ids -> embeddings for cross-attention)."""

from worldmodel.conditioning.configuration_text import TextEncoderConfig
from worldmodel.conditioning.factory import TEXT_ENCODERS, make_text_encoder
from worldmodel.conditioning.text import (
    StaticEmbeddingTextEncoder,
    T5TextEncoder,
    TextEncoder,
    embed_text_ids,
)

__all__ = [
    "TEXT_ENCODERS",
    "StaticEmbeddingTextEncoder",
    "T5TextEncoder",
    "TextEncoder",
    "TextEncoderConfig",
    "embed_text_ids",
    "make_text_encoder",
]

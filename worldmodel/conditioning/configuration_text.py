"""Text encoder configuration. Defaults are a tiny CPU model over wordllama's token table."""

from __future__ import annotations

from dataclasses import dataclass

TEXT_ENCODER_NAMES = ("static",)


@dataclass
class TextEncoderConfig:
    """A frozen token-embedding table with a small trainable transformer on top."""

    name: str = "static"
    # factory key (``worldmodel.conditioning.factory.TEXT_ENCODERS``).
    vocab_size: int = 32000
    # rows of the frozen table; 32000 is wordllama's l2_supercat (the Llama-2 tokenizer).
    embed_dim: int = 256
    # width of the frozen table: wordllama ships 256-d vectors; 64 or 128 keep their Matryoshka prefix.
    dim: int = 64
    # output width D, what the world model's cross-attention reads.
    layers: int = 2
    # transformer blocks over the static embeddings, so a token's vector can depend on its context.
    heads: int = 4
    max_len: int = 64
    # learned positions cover this many tokens; tokenizers truncate captions to it.

    def __post_init__(self) -> None:
        if self.name not in TEXT_ENCODER_NAMES:
            raise ValueError(f"name must be one of {TEXT_ENCODER_NAMES}, got {self.name!r}")
        for field in ("vocab_size", "embed_dim", "dim", "layers", "heads", "max_len"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive int, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

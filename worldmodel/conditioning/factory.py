"""Text encoder factory: a config's ``name`` -> the encoder class built from it.

Only encoders that a config alone describes are here; ``T5TextEncoder`` wraps a
pretrained backbone and is built by ``training.text_encoders.load_t5_encoder``.
"""

from __future__ import annotations

from worldmodel.conditioning.configuration_text import TextEncoderConfig
from worldmodel.conditioning.text import StaticEmbeddingTextEncoder, TextEncoder

TEXT_ENCODERS: dict[str, type[TextEncoder]] = {"static": StaticEmbeddingTextEncoder}


def make_text_encoder(config: TextEncoderConfig) -> TextEncoder:
    """A freshly initialised text encoder for ``config`` (pretrained tables are loaded separately)."""
    return TEXT_ENCODERS[config.name](config)

"""Build text encoders from files on disk: wordllama's shipped table, or a local T5.

``worldmodel.conditioning`` holds the pure modules; this file loads what they
are initialised from and the tokenizer that produces their token ids:

- ``"wordllama"`` (the offline default): the 32000 x 256 static token vectors and
  the Llama-2 tokenizer that ship inside the ``wordllama`` wheel, under a small
  trainable transformer (``StaticEmbeddingTextEncoder``).
- ``"t5"``: a frozen T5 encoder and its tokenizer from a local folder written by
  ``save_pretrained`` (needs the ``t5`` extra: ``transformers``).
- ``"none"``: no text conditioning.

Nothing downloads. A trained world model keeps its token table in its own
weights, so at inference only the tokenizer is needed: ``Tokenize.save`` writes
it beside a checkpoint and ``Tokenize.load`` reads it back with no wordllama.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from worldmodel.conditioning import (
    StaticEmbeddingTextEncoder,
    T5TextEncoder,
    TextEncoder,
    TextEncoderConfig,
    make_text_encoder,
)
from worldmodel.conditioning.tokenize import Tokenize

KINDS = ("wordllama", "t5", "none")
T5_MAX_LEN = 512
# the T5 text length of Cosmos' released diffusion models.

# The default wordllama model ("l2_supercat", 256-d) as laid out inside wordllama 0.4.0.post1's wheel.
_WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"
_WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
_WORDLLAMA_KEY = "embedding.weight"
# Matryoshka widths of the shipped table: a prefix of these lengths is itself a trained embedding.
WORDLLAMA_DIMS = (64, 128, 256)


def wordllama_files() -> tuple[Path, Path]:
    """Paths of the token table and tokenizer inside the installed wordllama wheel.

    The files are read directly instead of through ``WordLlama.load()``: in
    wordllama 0.4.0.post1 that resolver looks for the bundled tokenizer in
    ``tokenizer/`` while the wheel ships it in ``tokenizers/``, so offline it
    fails (unless given ``cache_dir=<package dir>``); and importing ``wordllama``
    calls ``logging.basicConfig(level=INFO)``, which would change our logging.
    ``find_spec`` locates the package without importing it.
    """
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the wordllama text encoder needs the wordllama package: pip install wordllama==0.4.0.post1"
        )
    root = Path(spec.origin).parent
    weights, tokenizer = root / _WORDLLAMA_WEIGHTS, root / _WORDLLAMA_TOKENIZER
    for path in (weights, tokenizer):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: this wordllama install does not ship its default model the way "
                "0.4.0.post1 does; pip install wordllama==0.4.0.post1"
            )
    return weights, tokenizer


def load_wordllama_embeddings(embed_dim: int = 256) -> torch.Tensor:
    """wordllama's static token vectors, (32000, embed_dim) float16 (a Matryoshka prefix below 256)."""
    if embed_dim not in WORDLLAMA_DIMS:
        raise ValueError(f"embed_dim must be one of {WORDLLAMA_DIMS} for wordllama, got {embed_dim}")
    weights, _ = wordllama_files()
    return load_file(weights)[_WORDLLAMA_KEY][:, :embed_dim].contiguous()


def wordllama_tokenize(max_len: int) -> Tokenize:
    """wordllama's tokenizer (Llama-2's, leading ``<s>``); pads with id 0 (``<unk>``), masked out."""
    _, tokenizer = wordllama_files()
    return Tokenize(Tokenizer.from_file(str(tokenizer)), max_len=max_len, pad_id=0)


def start_wordllama_text(text_encoder: StaticEmbeddingTextEncoder, out: str | os.PathLike) -> Tokenize:
    """Start a world model's trainable text encoder from wordllama's table, and save the tokenizer
    beside its checkpoint ``out`` (where inference reads it); returns the tokenizer."""
    config = text_encoder.config
    # wordllama's vectors are Matryoshka-trained: their first 64 dimensions work on their own.
    text_encoder.load_embeddings(load_wordllama_embeddings(config.embed_dim))
    tokenize = wordllama_tokenize(config.max_len)
    tokenize.save(out)
    return tokenize


def caption_inputs(tokenize: Tokenize | None, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """A batch's captions as a world model's text inputs, ``text_ids`` and ``text_mask`` (B, L) on
    ``device``; none for a model without text (``tokenize`` None)."""
    if tokenize is None:
        return {}
    ids, mask = tokenize(batch["caption"])
    return {"text_ids": ids.to(device), "text_mask": mask.to(device)}


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            "the T5 text encoder needs transformers: pip install 'worldfm[t5]' (or use kind='wordllama')"
        ) from e
    return transformers


def _t5_folder(path: str | os.PathLike) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"T5 folder {folder} does not exist; pass a local folder written by save_pretrained "
            "(worldfm never downloads weights)"
        )
    return folder


def load_t5_encoder(
    path: str | os.PathLike, *, max_len: int = T5_MAX_LEN, dtype: torch.dtype = torch.float32
) -> T5TextEncoder:
    """A frozen ``T5TextEncoder`` from a local folder holding a T5 (encoder) ``save_pretrained`` output."""
    folder = _t5_folder(path)
    transformers = _import_transformers()
    backbone = transformers.T5EncoderModel.from_pretrained(folder, local_files_only=True, dtype=dtype)
    return T5TextEncoder(backbone, dim=backbone.config.d_model, max_len=max_len)


def load_t5_tokenize(path: str | os.PathLike, *, max_len: int = T5_MAX_LEN) -> Tokenize:
    """The tokenizer saved in a local T5 folder, as a ``Tokenize`` (T5 appends ``</s>``; pad id from it)."""
    folder = _t5_folder(path)
    transformers = _import_transformers()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            f"{folder}: {type(tokenizer).__name__} has no fast backend; save a tokenizer.json there"
        )
    return Tokenize(backend, max_len=max_len, pad_id=tokenizer.pad_token_id or 0)


def build_text_encoder(
    kind: str = "wordllama", path: str | os.PathLike | None = None, *, config: TextEncoderConfig | None = None
) -> tuple[TextEncoder | None, Tokenize | None]:
    """A text encoder and the ``Tokenize`` that feeds it; ``(None, None)`` for ``kind="none"``.

    Args:
        kind: ``"wordllama"`` | ``"t5"`` | ``"none"``.
        path: the local T5 folder; only ``"t5"`` uses it, and it needs one.
        config: for ``"wordllama"``, the encoder's sizes (default ``TextEncoderConfig()``;
            ``vocab_size`` must be 32000); for ``"t5"`` only ``max_len`` is read (default 512).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "t5":
        if path is None:
            raise ValueError(
                "kind='t5' needs path=<local folder with a T5 encoder and its tokenizer, written by "
                "save_pretrained>; worldfm never downloads weights. "
                "Use kind='wordllama' for the offline default"
            )
        max_len = config.max_len if config is not None else T5_MAX_LEN
        return load_t5_encoder(path, max_len=max_len), load_t5_tokenize(path, max_len=max_len)
    if path is not None:
        raise ValueError(f"path is only used by kind='t5', got path={str(path)!r} with kind={kind!r}")
    if kind == "none":
        return None, None
    config = config or TextEncoderConfig()
    table = load_wordllama_embeddings(config.embed_dim)
    if config.vocab_size != table.shape[0]:
        raise ValueError(
            f"config.vocab_size is {config.vocab_size} but wordllama's table has {table.shape[0]} rows"
        )
    encoder = make_text_encoder(config)
    encoder.load_embeddings(table)
    return encoder, wordllama_tokenize(config.max_len)

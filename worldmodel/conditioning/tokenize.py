"""Captions to token ids for the text encoders; saved beside a checkpoint as ``text_tokenizer.json``.

Lives beside the encoders so that a checkpoint with text conditioning loads with
``worldmodel`` alone (plus the small ``tokenizers`` package): reading this one
file is part of loading a checkpoint, like ``hub``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from tokenizers import Tokenizer

from worldmodel.atomic import atomic_write_text

TOKENIZER_FILE = "text_tokenizer.json"


class Tokenize:
    """Captions -> ``(token_ids (B, L) int64, mask (B, L) bool)``, True on real tokens.

    L is the longest caption of the batch after truncation to ``max_len``; the
    tokenizer's own special tokens (wordllama's leading ``<s>``, T5's closing
    ``</s>``) survive truncation, so even an empty caption has one real token.
    """

    def __init__(self, tokenizer: Tokenizer, max_len: int, pad_id: int = 0) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        # A private copy: truncation and padding are settings stored on the tokenizer object.
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding(pad_id=pad_id)
        self.max_len = max_len
        self.pad_id = pad_id

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """texts: B captions -> token_ids (B, L) int64, mask (B, L) bool."""
        if isinstance(texts, str):
            raise TypeError("Tokenize takes a list of captions; wrap a single caption as [caption]")
        if not texts:
            return torch.zeros(0, 0, dtype=torch.int64), torch.zeros(0, 0, dtype=torch.bool)
        encodings = self.tokenizer.encode_batch(list(texts))
        token_ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)  # (B, L)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.bool)  # (B, L)
        return token_ids, mask

    def truncates(self, text: str) -> bool:
        """Whether ``text`` is longer than the ``max_len`` tokens the model reads (the rest is cut)."""
        return bool(self.tokenizer.encode(text).overflowing)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the tokenizer (with max_len and pad id) to ``directory/text_tokenizer.json`` atomically."""
        path = Path(directory) / TOKENIZER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, self.tokenizer.to_str())
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenize:
        """The ``Tokenize`` saved by ``save`` in ``directory``; needs only the ``tokenizers`` package."""
        path = Path(directory) / TOKENIZER_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; write it with Tokenize.save({str(directory)!r})")
        tokenizer = Tokenizer.from_file(str(path))
        if tokenizer.truncation is None or tokenizer.padding is None:
            raise ValueError(
                f"{path} has no truncation or padding settings; it was not written by Tokenize.save"
            )
        return cls(tokenizer, max_len=tokenizer.truncation["max_length"], pad_id=tokenizer.padding["pad_id"])

"""``Conditioning``: everything a world model is conditioned on, for one batch of latent windows.

Both model families take it (``worldmodel.protocol.WorldFoundationModel``), so a new input is one
field here rather than one argument in every signature from ``WorldModel`` down to the network.
``NullInputs`` marks, per sample, the inputs replaced by their learned null (classifier-free
guidance dropout, Ho & Salimans, arXiv 2207.12598).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Conditioning:
    """The inputs of latent windows (B, C, T, h, w); None = absent (the model's null input)."""

    cond_latent: torch.Tensor | None = None
    """(B, C, T, h, w) clean latents; only the ``cond_mask`` frames are read"""
    cond_mask: torch.Tensor | None = None
    """(B, T) bool, True = a given (context) latent frame; None = no frame given"""
    actions: torch.Tensor | None = None
    """(B, T, action_dim), row t leads into frame t"""
    camera: torch.Tensor | None = None
    """(B, camera_dim, T, h, w) camera maps (Plücker rays, ``worldmodel.conditioning.camera``)"""
    text: torch.Tensor | None = None
    """(B, L, text_dim) text embeddings"""
    text_mask: torch.Tensor | None = None
    """(B, L) bool, True = a real token (of ``text`` or ``text_ids``)"""
    text_ids: torch.Tensor | None = None
    """(B, L) int64 token ids, embedded into ``text`` by the model's nested text encoder"""

    def replace(self, **changes: torch.Tensor | None) -> Conditioning:
        return dataclasses.replace(self, **changes)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Conditioning:
        """``fn`` applied to every given tensor (e.g. doubling the batch for guidance)."""
        return dataclasses.replace(
            self,
            **{f.name: fn(v) for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None},
        )


@dataclass(frozen=True)
class NullInputs:
    """(B,) bool per input, True = that sample's input is replaced by the learned null."""

    text: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    camera: torch.Tensor | None = None


# Shared defaults (both are frozen): no input given, nothing dropped.
UNCONDITIONED = Conditioning()
NOTHING_DROPPED = NullInputs()

"""Clip embeddings: one L2-normalised vector per clip, for semantic dedup (``curation.dedup``).

``ClipEmbedder`` is the interface: ``embed(frames)`` maps a clip's sampled frames
``uint8 (T, H, W, 3)`` to a unit vector ``float32 (dim,)``. Two implementations:

- ``TokenizerEmbedder`` (the default) pools the latents of our own shipped image
  tokenizer: each frame is resized to the tokenizer's training size and encoded, the
  latents ``(C, T, h, w)`` are centred per channel, averaged over time onto a coarse
  ``grid x grid`` layout (what is where) and max-pooled over everything (what is there
  at all), and the concatenation is L2-normalised (``pool_latents``).
- ``HFVideoEmbedder`` runs a Hugging Face video model (e.g. VideoMAE, X-CLIP's vision
  tower) from a local directory, mean-pooling its last hidden state. Nothing is downloaded.

``make_embedder("tokenizer" | "tokenizer:<checkpoint dir>" | "hf:<model dir>")`` builds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from curation.model_device import model_device
from worldmodel.shipped import SHIPPED_CHECKPOINTS

DEFAULT_TOKENIZER = SHIPPED_CHECKPOINTS / "tokenizer-ci8x8-fetch64"
EMBEDDERS = ("tokenizer", "hf")


class EmbedderError(ValueError):
    """An embedder cannot be built or used; the message says why and what to pass instead."""


@runtime_checkable
class ClipEmbedder(Protocol):
    """Maps a clip's frames to a unit vector; ``name`` identifies the model in the clip json."""

    name: str
    num_frames: int

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """frames: uint8 (T, H, W, 3) -> float32 (dim,) with unit L2 norm."""
        ...


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (..., D) scaled to unit L2 norm (an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def pool_latents(latent: np.ndarray, grid: int) -> np.ndarray:
    """Pool a clip's latent (C, T, h, w) into a unit vector (C * grid * grid + C,).

    Every channel is centred on its clip-wide mean first: what all footage shares
    (floor, sky, the tokenizer's offsets) would otherwise dominate the cosine. The
    centred time-mean is average-pooled onto ``grid x grid`` cells (the layout), the
    per-channel maximum over time and space is appended (the content), and the
    whole vector is L2-normalised.
    """
    if latent.ndim != 4:
        raise ValueError(f"latent must be (C, T, h, w), got shape {latent.shape}")
    c, _, h, w = latent.shape
    if not 1 <= grid <= min(h, w):
        raise ValueError(f"grid must be in [1, {min(h, w)}] for a {h}x{w} latent, got {grid}")
    centred = latent - latent.mean(axis=(1, 2, 3), keepdims=True)  # (C, T, h, w)
    mean = centred.mean(axis=1)  # (C, h, w)
    rows = np.array_split(np.arange(h), grid)
    cols = np.array_split(np.arange(w), grid)
    cells = np.stack([mean[:, r][:, :, k].mean(axis=(1, 2)) for r in rows for k in cols], axis=1)  # (C, g*g)
    peak = centred.max(axis=(1, 2, 3))  # (C,)
    return l2_normalise(np.concatenate([cells.reshape(c * grid * grid), peak]))


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise EmbedderError(f"frames must be uint8 (T, H, W, 3), got {got}")
    if frames.shape[0] == 0 or frames.shape[-1] != 3:
        raise EmbedderError(f"frames must be uint8 (T>0, H, W, 3), got shape {frames.shape}")


class TokenizerEmbedder:
    """Pooled latents of a worldfm tokenizer checkpoint (module docstring).

    Args:
        checkpoint: a tokenizer checkpoint directory (default: the shipped CI8x8 one).
        num_frames: frames sampled per clip.
        grid: side of the coarse layout grid the latents are pooled onto.
        size: (H, W) frames are resized to; default the tokenizer's training size.
    """

    def __init__(
        self,
        checkpoint: str | Path = DEFAULT_TOKENIZER,
        *,
        num_frames: int = 8,
        grid: int = 4,
        size: tuple[int, int] | None = None,
    ) -> None:
        import torch

        from worldmodel import hub

        path = Path(checkpoint)
        if not (path / "config.json").exists():
            raise EmbedderError(
                f"tokenizer checkpoint {path} not found (no config.json); pass a tokenizer checkpoint "
                f"directory such as {DEFAULT_TOKENIZER}"
            )
        if num_frames < 1:
            raise EmbedderError(f"num_frames must be >= 1, got {num_frames}")
        try:
            self.model = hub.load(path, expect_kind="tokenizer")
        except hub.CheckpointError as e:
            raise EmbedderError(str(e)) from None
        self.device = model_device()
        self.model.to(self.device)
        if size is None:
            trained = int(json.loads((path / "config.json").read_text()).get("dataset", {}).get("size", 64))
            size = (trained, trained)
        factor = self.model.spatial_factor
        if size[0] % factor or size[1] % factor or min(size) < factor * grid:
            raise EmbedderError(
                f"size {size} must be multiples of the tokenizer's {factor}x and at least {factor * grid}"
            )
        self.size = size
        self.grid = grid
        self.num_frames = num_frames
        self.name = f"tokenizer:{path.name}"
        self._torch = torch

    @property
    def dim(self) -> int:
        return self.model.latent_channels * (self.grid * self.grid + 1)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """frames: uint8 (T, H, W, 3) -> float32 (dim,), unit norm."""
        import cv2

        torch = self._torch
        _check_frames(frames)
        h, w = self.size
        resized = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        # An image tokenizer (temporal factor 1) codes each frame alone; a video one takes 1 + k*f frames.
        f = self.model.temporal_factor
        keep = 1 + (len(resized) - 1) // f * f
        x = torch.from_numpy(resized[:keep]).float().div(127.5).sub(1.0)  # (T, H, W, 3)
        x = x.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, T, H, W)
        if f == 1:
            x = x.permute(2, 1, 0, 3, 4)  # (T, 3, 1, H, W): frames as a batch of images
        with torch.inference_mode():
            latent = self.model.encode(x.to(self.device))
        if isinstance(latent, tuple):
            latent = latent[0]
        if f == 1:
            latent = latent.permute(2, 1, 0, 3, 4)  # (1, C, T, h, w)
        return pool_latents(latent[0].float().cpu().numpy(), self.grid)


class HFVideoEmbedder:
    """A Hugging Face video model from a local directory, mean-pooled over its tokens.

    The directory must hold the model's ``config.json``, weights and processor config,
    as ``save_pretrained`` writes them; nothing is downloaded.
    """

    def __init__(self, path: str | Path, *, num_frames: int = 16) -> None:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise EmbedderError(
                f"Hugging Face model directory {path} not found (no config.json); download the model "
                "yourself (e.g. `huggingface-cli download MCG-NJU/videomae-base --local-dir DIR`) and pass "
                "--embedder hf:DIR"
            )
        try:
            import torch
            from transformers import AutoModel, AutoProcessor
        except ImportError as e:
            raise EmbedderError(
                f"the hf embedder needs transformers (pip install worldfm[t5]): {e}"
            ) from None
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.device = model_device()
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(self.device)
        self.num_frames = num_frames
        self.name = f"hf:{path.name}"
        self._torch = torch

    def embed(self, frames: np.ndarray) -> np.ndarray:
        _check_frames(frames)
        inputs = self.processor(videos=[list(frames)], return_tensors="pt").to(self.device)
        with self._torch.inference_mode():
            out = self.model(**inputs)
        hidden = out.last_hidden_state  # (1, N, D)
        return l2_normalise(hidden.mean(dim=1)[0].float().cpu().numpy())


def check_embedder_spec(spec: str) -> None:
    """Raise ``EmbedderError`` if ``spec`` names an unknown embedder or a missing model directory
    (without loading anything, so a run can refuse bad arguments before it starts)."""
    kind, _, arg = spec.partition(":")
    if kind not in EMBEDDERS:
        raise EmbedderError(
            f"unknown embedder {spec!r}; use tokenizer, tokenizer:<checkpoint dir> or hf:<model dir>"
        )
    if kind == "hf" and not arg:
        raise EmbedderError("the hf embedder needs a local model directory: --embedder hf:<dir>")
    if arg and not (Path(arg) / "config.json").is_file():
        raise EmbedderError(f"{kind} embedder: {arg} is not a model directory (no config.json)")


def embedder_name(spec: str) -> str:
    """The ``name`` the embedder of ``spec`` gives its vectors (without building it): what a
    classifier trained on its embeddings records, so a run can check the two match."""
    check_embedder_spec(spec)
    kind, _, arg = spec.partition(":")
    return f"{kind}:{Path(arg or DEFAULT_TOKENIZER).name}"


def make_embedder(spec: str = "tokenizer") -> ClipEmbedder:
    """An embedder from ``tokenizer``, ``tokenizer:<checkpoint dir>`` or ``hf:<model dir>``."""
    kind, _, arg = spec.partition(":")
    if kind == "tokenizer":
        return TokenizerEmbedder(arg or DEFAULT_TOKENIZER)
    if kind == "hf":
        if not arg:
            raise EmbedderError("the hf embedder needs a local model directory: --embedder hf:<dir>")
        return HFVideoEmbedder(arg)
    raise EmbedderError(
        f"unknown embedder {spec!r}; use tokenizer, tokenizer:<checkpoint dir> or hf:<model dir>"
    )

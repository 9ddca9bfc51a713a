"""Clips encoded once by a frozen tokenizer, held in memory as latents for world-model training.

World models train on tokenizer latents, never on pixels; encoding every clip
once (instead of every step) makes a CPU step several times cheaper. With an
image tokenizer each frame becomes one latent frame, so one latent frame follows
each action (ARCHITECTURE.md: interactive models predict one frame per action).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from training.data import ClipDataset
from worldmodel.tokenizer import CausalVideoTokenizer

logger = logging.getLogger(__name__)


@dataclass
class LatentClip:
    key: str
    latents: np.ndarray  # float32 (T', C, h, w)
    caption: str
    arrays: dict[str, np.ndarray]  # per-frame (T', ...) or per-step (T'-1, ...) float32


@torch.no_grad()
def encode_frames(tokenizer: CausalVideoTokenizer, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 (T, C, h, w) latents, one per frame (image tokenizers)."""
    device = next(tokenizer.parameters()).device
    out = []
    for start in range(0, len(frames), batch):
        x = torch.from_numpy(frames[start : start + batch]).to(device).permute(0, 3, 1, 2)  # (N, 3, H, W)
        x = (x.float() / 127.5 - 1).unsqueeze(2)  # (N, 3, 1, H, W)
        z = tokenizer.encode(x)
        z = z[0] if tokenizer.is_discrete else z  # (N, C, 1, h, w)
        out.append(z[:, :, 0].float().cpu().numpy())
    return np.concatenate(out)


class LatentClipDataset:
    """Every clip of a ``ClipDataset`` encoded frame by frame; draws windows of latent frames.

    Only image tokenizers (``temporal_compression == 1``) are supported here, so
    latent frame t is pixel frame t and per-frame / per-step arrays keep their rows.
    """

    def __init__(
        self, clips: ClipDataset, tokenizer: CausalVideoTokenizer, *, window: int, max_stride: int = 1
    ) -> None:
        if tokenizer.temporal_factor != 1:
            raise ValueError(
                f"{tokenizer.config.name} compresses time {tokenizer.temporal_factor}x; frame-per-action "
                "world models need an image tokenizer (CI8x8, DI8x8, ...)"
            )
        if window < 2:
            raise ValueError(f"window must be >= 2 latent frames (context + prediction), got {window}")
        if max_stride < 1:
            raise ValueError(f"max_stride must be >= 1, got {max_stride}")
        if max_stride > 1 and any(rows == -1 for rows in clips.arrays.values()):
            raise ValueError(
                "frame strides > 1 need per-frame arrays only (camera, trajectory): per-step ones such as "
                "actions would have to be summed over the skipped steps"
            )
        self.window = window
        self.max_stride = max_stride
        self.arrays = dict(clips.arrays)
        self.clips = [
            LatentClip(c.key, encode_frames(tokenizer, c.frames), c.caption, c.arrays)
            for c in tqdm(clips.clips, desc="encoding clips", unit="clip", leave=False)
        ]
        # The longest span a window covers: window frames, max_stride apart.
        span = (window - 1) * max_stride + 1
        self.clips = [c for c in self.clips if len(c.latents) >= span]
        if not self.clips:
            raise ValueError(
                f"no clip has the {span} frames a window of {window} at stride {max_stride} spans"
            )
        lengths = np.array([len(c.latents) for c in self.clips], dtype=np.float64)
        self._p = (lengths - span + 1) / (lengths - span + 1).sum()
        all_latents = np.concatenate([c.latents for c in self.clips])  # (N, C, h, w)
        self.mean = all_latents.mean(axis=(0, 2, 3))  # (C,)
        self.std = all_latents.std(axis=(0, 2, 3))  # (C,)
        logger.info("encoded %d clips (%d latent frames)", len(self.clips), len(all_latents))

    def __len__(self) -> int:
        return len(self.clips)

    def sample_batch(self, batch_size: int, rng: np.random.Generator) -> dict:
        """Windows of latent frames and their aligned arrays.

        Returns:
            latents: float32 (B, C, window, h, w), raw tokenizer latents.
            actions: float32 (B, window, A) if the clips have actions: row i is the action
                that leads into latent frame i (row 0, with no previous frame, is zero).
            caption, key: lists of length B; other per-frame arrays as (B, window, ...).
            With ``max_stride`` > 1 each window's frames are a random stride in [1, max_stride]
            apart (per-frame arrays follow), so a model learns motions of several sizes.
        """
        w = self.window
        latents, captions, keys = [], [], []
        arrays: dict[str, list[np.ndarray]] = {name: [] for name in self.arrays}
        for index in rng.choice(len(self.clips), size=batch_size, p=self._p):
            clip = self.clips[index]
            # Drawn only when strides vary, so stride-1 runs keep their random streams.
            stride = int(rng.integers(1, self.max_stride + 1)) if self.max_stride > 1 else 1
            span = (w - 1) * stride + 1
            start = int(rng.integers(len(clip.latents) - span + 1))
            latents.append(clip.latents[start : start + span : stride])
            captions.append(clip.caption)
            keys.append(clip.key)
            for name, rows in self.arrays.items():
                value = clip.arrays[name]
                if rows == -1:  # per step: the step into frame i is row start + i - 1
                    steps = value[start : start + w - 1]
                    value = np.concatenate([np.zeros_like(steps[:1]), steps])
                else:
                    value = value[start : start + span : stride]
                arrays[name].append(value)
        batch: dict = {"latents": torch.from_numpy(np.stack(latents)).permute(0, 2, 1, 3, 4).contiguous()}
        for name, values in arrays.items():
            batch[name] = torch.from_numpy(np.stack(values).astype(np.float32))
        batch["caption"], batch["key"] = captions, keys
        return batch

"""``worldfm eval tokenizer``: reconstruction quality of a tokenizer checkpoint on held-out clips.

Reports PSNR / SSIM next to the baseline the issue names: bilinear down- then
up-sampling of each frame to the same number of values as the latent, so a
tokenizer's score says how much better than plain resizing it compresses.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from curation.video_io import write_video
from training.data import ClipDataset
from training.train_tokenizer import to_uint8
from worldmodel import hub
from worldmodel.metrics import video_psnr, video_ssim
from worldmodel.tokenizer import CausalVideoTokenizer

logger = logging.getLogger(__name__)


def bilinear_baseline(frames: np.ndarray, values_per_frame: float) -> np.ndarray:
    """Resize each uint8 (T, H, W, 3) frame down to ``values_per_frame`` values and back up (bilinear)."""
    t, h, w, c = frames.shape
    scale = math.sqrt(values_per_frame / (h * w * c))
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = [
        cv2.resize(cv2.resize(f, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
        for f in frames
    ]
    return np.stack(out)


def compression_stats(model: CausalVideoTokenizer, frames: int, height: int, width: int) -> dict[str, float]:
    c, lt, lh, lw = model.latent_shape(frames, height, width)
    values = c * lt * lh * lw
    stats = {
        "compression_ratio": frames * height * width * 3 / values,
        "latent_values_per_frame": values / frames,
        "tokens_per_frame": lt * lh * lw / frames,
    }
    if model.is_discrete:
        stats["bits_per_token"] = math.log2(model.codebook_size)
    return stats


@torch.no_grad()
def evaluate_tokenizer(
    ckpt: str | Path,
    data: list[str],
    *,
    split: str = "heldout",
    clips: int = 16,
    frames: int | None = None,
    size: int | None = None,
    seed: int = 0,
    video_out: str | Path | None = None,
    heldout_fraction: float | None = None,
    batch_size: int = 4,
) -> dict[str, float]:
    """Score ``ckpt`` on ``clips`` windows of ``data``; optionally write a side-by-side mp4.

    Frames, size and the held-out split default to what the checkpoint was trained with.
    """
    payload = hub.read_config(ckpt)
    trained = payload.get("dataset", {})
    model = hub.load(ckpt, expect_kind="tokenizer")
    frames = (
        frames or trained.get("frames") or (1 if model.config.is_image else 1 + 2 * model.temporal_factor)
    )
    size = size or trained.get("size", 64)
    fraction = heldout_fraction if heldout_fraction is not None else trained.get("heldout_fraction", 0.1)
    dataset = ClipDataset(data, frames=frames, size=size, arrays=(), split=split, heldout_fraction=fraction)
    rng = np.random.default_rng(seed)
    stats = compression_stats(model, frames, size, size)
    psnrs, ssims, base_psnrs, base_ssims, tiles = [], [], [], [], []
    for start in range(0, clips, batch_size):
        batch = dataset.sample_batch(min(batch_size, clips - start), rng)["video"]
        recon, _ = model(batch)
        for target, output in zip(batch, recon, strict=True):
            a, b = to_uint8(target), to_uint8(output)
            base = bilinear_baseline(a, stats["latent_values_per_frame"])
            psnrs.append(video_psnr(a, b))
            ssims.append(video_ssim(a, b))
            base_psnrs.append(video_psnr(a, base))
            base_ssims.append(video_ssim(a, base))
            if len(tiles) < 4:
                tiles.append(np.concatenate([a, b, base], axis=2))
    result = {
        "psnr": float(np.mean(psnrs)),
        "ssim": float(np.mean(ssims)),
        "bilinear_psnr": float(np.mean(base_psnrs)),
        "bilinear_ssim": float(np.mean(base_ssims)),
        "clips": len(psnrs),
        "frames": frames,
        "size": size,
        **stats,
    }
    if video_out is not None:
        grid = np.concatenate(tiles, axis=1)  # rows: clips; columns: original | tokenizer | bilinear
        write_video(video_out, grid, fps=8)
        result["video"] = str(video_out)
    return result

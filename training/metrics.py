"""Reconstruction metrics on uint8 videos, the format users see: PSNR and SSIM.

PSNR follows TokenBench (the Cosmos tokenizer benchmark): one MSE over the
whole clip, so a single perfect frame does not make the score infinite. SSIM
is the per-frame mean of ``worldmodel.tokenizer.ssim.ssim`` (Gaussian 11x11,
sigma 1.5, Wang et al. 2004) on 0..255 values. TokenBench calls skimage's
default SSIM (uniform 7x7 window), whose values differ slightly; compare
numbers only within one implementation.
"""

from __future__ import annotations

import numpy as np
import torch

from worldmodel.tokenizer.ssim import ssim


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, v in (("a", a), ("b", b)):
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"{name} must be a uint8 video (T, H, W, 3), got {v.dtype} {v.shape}")
    if a.shape != b.shape:
        raise ValueError(f"videos differ in shape: {a.shape} vs {b.shape}")


def video_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 ``(T, H, W, 3)`` videos, one MSE over all frames; ``inf`` if equal."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


@torch.no_grad()
def video_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame SSIM of two uint8 ``(T, H, W, 3)`` videos (frames at least 11x11)."""
    _check_pair(a, b)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float()  # (T, 3, H, W), frames as the batch
    y = torch.from_numpy(b).permute(0, 3, 1, 2).float()
    return float(ssim(x, y, data_range=255.0).mean())

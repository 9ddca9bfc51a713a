import math

import numpy as np
import pytest
import torch

from training.metrics import video_psnr, video_ssim
from worldmodel.tokenizer.ssim import ssim


def _video(seed: int = 0, shape: tuple[int, ...] = (3, 16, 16, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_identical_videos_have_infinite_psnr_and_unit_ssim() -> None:
    a = _video()
    assert video_psnr(a, a) == math.inf
    assert video_ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_video_psnr_uses_one_mse_over_all_frames() -> None:
    a = np.full((2, 4, 4, 3), 100, dtype=np.uint8)
    b = a.copy()
    b[1] += 2  # frame 0 exact, frame 1 off by 2: MSE over the clip is 2
    assert video_psnr(a, b) == pytest.approx(10 * math.log10(255.0**2 / 2.0))


def test_video_ssim_is_mean_of_per_frame_ssim_on_0_255_values() -> None:
    a, b = _video(1), _video(2)
    b = ((a.astype(np.int32) + b) // 2).astype(np.uint8)
    frames = [
        ssim(
            torch.from_numpy(x).permute(2, 0, 1)[None].float(),
            torch.from_numpy(y).permute(2, 0, 1)[None].float(),
            data_range=255.0,
        ).item()
        for x, y in zip(a, b, strict=True)
    ]
    assert video_ssim(a, b) == pytest.approx(float(np.mean(frames)), rel=1e-5)


def test_metrics_decrease_with_noise() -> None:
    a = _video(3)
    noise = np.random.default_rng(4).normal(0, 1, a.shape)
    noisy = [np.clip(a + s * noise, 0, 255).astype(np.uint8) for s in (2, 10, 40)]
    psnrs = [video_psnr(a, n) for n in noisy]
    ssims = [video_ssim(a, n) for n in noisy]
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert ssims[0] > ssims[1] > ssims[2]


def test_metrics_reject_non_uint8_or_mismatched_videos() -> None:
    a = _video()
    with pytest.raises(ValueError, match="uint8"):
        video_psnr(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="shape"):
        video_ssim(a, a[:2])

"""The one metrics module: PSNR, SSIM and MS-SSIM on tensors and on uint8 videos, against their
definitions (Wang et al. 2004 eq. 13, Wang et al. 2003 eq. 7, 10 log10(range^2 / MSE))."""

import math

import numpy as np
import pytest
import torch

from worldmodel.metrics import (
    K1,
    K2,
    frame_psnr,
    gaussian_window,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    ssim,
    video_psnr,
    video_ssim,
)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


# ---------------------------------------------------------------- SSIM / MS-SSIM


def _reference_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> float:
    """Wang 2004 eq. 13, one window position at a time, float64, for (C, H, W) images."""
    g = gaussian_window(11, 1.5).double()
    w = torch.outer(g, g)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    x, y = x.double(), y.double()
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                px, py = x[c, i : i + 11, j : j + 11], y[c, i : i + 11, j : j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cov = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(torch.stack(values).mean())


def test_ssim_of_identical_images_is_one() -> None:
    x = _rand(2, 3, 16, 16)
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(2))


def test_ssim_matches_windowed_loop_reference() -> None:
    x, y = _rand(1, 2, 13, 14, seed=1), _rand(1, 2, 13, 14, seed=2)
    y = 0.6 * x + 0.4 * y
    assert ssim(x, y).item() == pytest.approx(_reference_ssim(x[0], y[0], 2.0), abs=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a, b = 0.3, -0.2
    x, y = torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b)
    c1 = (K1 * 2.0) ** 2
    # float32 variances of a constant are not exactly 0, hence the tolerance.
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a**2 + b**2 + c1), abs=1e-4)


def test_ssim_is_symmetric() -> None:
    x, y = _rand(2, 3, 20, 20, seed=3), _rand(2, 3, 20, 20, seed=4)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    torch.testing.assert_close(ms_ssim(x, y), ms_ssim(y, x))


@pytest.mark.parametrize("fn", [ssim, ms_ssim])
def test_ssim_decreases_with_noise(fn) -> None:
    x = torch.nn.functional.avg_pool2d(_rand(1, 3, 36, 36, seed=5), 3, 1)  # smooth, 34x34
    noise = _rand(1, 3, 34, 34, seed=6)
    values = [fn(x, (x + s * noise).clamp(-1, 1)).item() for s in (0.0, 0.05, 0.2, 0.8)]
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_ssim_of_video_is_mean_over_frames() -> None:
    x, y = _rand(2, 3, 4, 16, 16, seed=7), _rand(2, 3, 4, 16, 16, seed=8)
    per_frame = torch.stack([ssim(x[:, :, t], y[:, :, t]) for t in range(4)], dim=1)
    torch.testing.assert_close(ssim(x, y), per_frame.mean(dim=1))


def test_ssim_rejects_images_smaller_than_window() -> None:
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_ms_ssim_uses_fewer_scales_on_small_images() -> None:
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(64, 64) == 3
    assert ms_ssim_scales(16, 16) == 1
    x, y = _rand(1, 3, 16, 16, seed=9), _rand(1, 3, 16, 16, seed=10)
    y = 0.7 * x + 0.3 * y  # positive SSIM: MS-SSIM clamps negative values before the power
    # A single scale is plain SSIM: l * cs at the finest scale with exponent 1.
    torch.testing.assert_close(ms_ssim(x, y), ssim(x, y))


# ---------------------------------------------------------------- PSNR on tensors


def test_psnr_matches_definition_and_is_infinite_for_identical() -> None:
    x = _rand(2, 3, 2, 8, 8)
    y = x + 0.1
    torch.testing.assert_close(psnr(x, y), torch.full((2,), 10 * math.log10(4.0 / 0.01)))
    assert torch.isinf(psnr(x, x)).all()


def test_psnr_takes_the_data_range() -> None:
    x = torch.zeros(1, 3, 4, 4)
    assert psnr(x, x + 1.0, data_range=255.0).item() == pytest.approx(20 * math.log10(255.0))


def test_pooled_psnr_is_one_mse_over_the_batch() -> None:
    x = torch.zeros(2, 1, 4, 4)
    y = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.3)])
    pooled = psnr(x, y, pooled=True)
    assert pooled.shape == ()
    assert pooled.item() == pytest.approx(10 * math.log10(4.0 / ((0.01 + 0.09) / 2)), rel=1e-6)
    # The mean of per-sample PSNRs weighs the better sample more: not the same number.
    assert psnr(x, y).mean().item() > pooled.item()


def test_psnr_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


# ---------------------------------------------------------------- uint8 videos and frames


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


def test_uint8_metrics_reject_non_uint8_or_mismatched_videos() -> None:
    a = _video()
    with pytest.raises(ValueError, match="uint8"):
        video_psnr(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="shape"):
        video_ssim(a, a[:2])


def test_frame_psnr_matches_definition_per_frame() -> None:
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1] += 1  # frame 0 exact, frame 1 has MSE 1
    assert frame_psnr(a, b) == [math.inf, pytest.approx(20 * math.log10(255.0))]
    assert video_psnr(a[1], b[1]) == pytest.approx(20 * math.log10(255.0))  # a frame is a 1-frame video


def test_video_ssim_of_a_frame_is_that_of_a_one_frame_video() -> None:
    a, b = _video(5), _video(6)
    assert video_ssim(a[0], b[0]) == pytest.approx(video_ssim(a[:1], b[:1]), rel=1e-6)

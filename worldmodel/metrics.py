"""Image and video quality metrics, the one copy: PSNR, SSIM (Wang et al. 2004) and MS-SSIM.

Tensor functions take videos ``(B, C, T, H, W)`` (or images ``(B, C, H, W)``) in [-1, 1], or
any range given as ``data_range``, and return one value per sample; the tokenizer's training
loss uses them. The uint8 functions take what users see, ``(T, H, W, 3)`` videos or ``(H, W, 3)``
frames, and return a float; every evaluation, env recording and app tab reports those.

PSNR is 10 log10(data_range^2 / MSE) in dB. On uint8 videos it follows TokenBench (the Cosmos
tokenizer benchmark): one MSE over the whole clip, so a single perfect frame does not make the
score infinite.

SSIM follows "Image Quality Assessment: From Error Visibility to Structural
Similarity" (IEEE TIP 2004), eq. 13 with the Gaussian window of Sec. III-C
(11x11, sigma 1.5) and K1 = 0.01, K2 = 0.03. Local statistics are taken over
the *valid* window positions only (no padding), as in the paper's reference
code, so the border does not bias the mean. On uint8 videos it is the per-frame
mean on 0..255 values. TokenBench calls skimage's default SSIM (uniform 7x7
window), whose values differ slightly; compare numbers only within one
implementation.

MS-SSIM follows "Multi-Scale Structural Similarity for Image Quality
Assessment" (Asilomar 2003), eq. 7: contrast-structure at every scale,
luminance only at the coarsest, with the five exponents of Sec. 3.

SSIM and MS-SSIM fold frames into the batch and average the per-frame values
back per sample. All statistics run in float32 with autocast off: variances are
differences of nearly equal numbers, which bf16 cannot resolve.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

K1 = 0.01
K2 = 0.03
# Wang et al. 2003, Sec. 3: exponents beta_1..beta_5 (= gamma_j, alpha_5), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


# ---------------------------------------------------------------- PSNR


def psnr(x: Tensor, y: Tensor, data_range: float = 2.0, *, pooled: bool = False) -> Tensor:
    """Peak signal-to-noise ratio, 10 log10(data_range^2 / MSE) in dB.

    Args:
        x, y: ``(B, ...)`` e.g. ``(B, C, T, H, W)``.
        data_range: max - min of the signal (2.0 for [-1, 1], 255.0 for uint8 values).
        pooled: one MSE over the whole batch (a 0-d tensor) instead of one per sample; the
            per-sample mean and the pooled value differ when the samples' errors do.

    Returns:
        ``(B,)`` float32 (``()`` if pooled); ``inf`` where x == y.
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    err = (x.float() - y.float()).pow(2)
    mse = err.mean() if pooled else err.flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)


# ---------------------------------------------------------------- SSIM / MS-SSIM


def gaussian_window(size: int, sigma: float, *, device: torch.device | None = None) -> Tensor:
    """Normalised 1-D Gaussian, shape ``(size,)``; the 2-D window is its outer product."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _fold_frames(x: Tensor) -> tuple[Tensor, int]:
    """``(B, C, T, H, W)`` -> ``(B*T, C, H, W)``; images pass through with T = 1."""
    if x.ndim == 4:
        return x, 1
    if x.ndim == 5:
        b, c, t, h, w = x.shape
        return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w), t
    raise ValueError(f"expected (B, C, H, W) or (B, C, T, H, W), got shape {tuple(x.shape)}")


def _check_pair(x: Tensor, y: Tensor, window: int) -> None:
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if window % 2 == 0 or window < 1:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    if min(x.shape[-2:]) < window:
        raise ValueError(f"image size {tuple(x.shape[-2:])} is smaller than the SSIM window {window}")


def _filter(x: Tensor, g: Tensor) -> Tensor:
    """Separable depthwise Gaussian filtering, valid positions only: (N, C, H, W) -> (N, C, H-k+1, W-k+1)."""
    c = x.shape[1]
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_terms(x: Tensor, y: Tensor, g: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Per-channel means of the SSIM map and of its contrast-structure part, each ``(N, C)``.

    SSIM = l * cs with l = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) and
    cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2) (Wang 2004, eq. 13 with C3 = C2 / 2).
    """
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    sigma_xx = _filter(x * x, g) - mu_x**2
    sigma_yy = _filter(y * y, g) - mu_y**2
    sigma_xy = _filter(x * y, g) - mu_x * mu_y
    cs_map = (2 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
    l_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (l_map * cs_map).mean(dim=(-2, -1)), cs_map.mean(dim=(-2, -1))


def ssim(x: Tensor, y: Tensor, *, data_range: float = 2.0, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM per sample (Wang et al. 2004, eq. 13, Gaussian window).

    Args:
        x, y: ``(B, C, H, W)`` or ``(B, C, T, H, W)``; H and W at least ``window``.
        data_range: max - min of the signal (2.0 for [-1, 1], 255.0 for uint8 values).
        window: side of the square Gaussian window (odd).
        sigma: standard deviation of the Gaussian window, in pixels.

    Returns:
        ``(B,)`` SSIM averaged over channels, frames and valid window positions; 1 iff x == y.
    """
    _check_pair(x, y, window)
    with torch.autocast(device_type=x.device.type, enabled=False):
        xf, t = _fold_frames(x.float())
        yf, _ = _fold_frames(y.float())
        g = gaussian_window(window, sigma, device=x.device)
        s, _ = _ssim_terms(xf, yf, g, data_range)
        return s.mean(dim=1).view(-1, t).mean(dim=1)


def ms_ssim_scales(height: int, width: int, window: int = 11) -> int:
    """Number of MS-SSIM scales for an image: at most 5, fewer when the image is small.

    Each scale halves the image; a scale is used only while the window still
    fits, so 256x256 and larger get all 5, 64x64 gets 3 (64, 32, 16) and
    16x16 gets 1 (plain SSIM).
    """
    scales = 0
    size = min(height, width)
    while scales < len(MS_SSIM_WEIGHTS) and size >= window:
        scales += 1
        size //= 2
    return scales


def ms_ssim(x: Tensor, y: Tensor, *, data_range: float = 2.0, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Multi-scale SSIM per sample (Wang et al. 2003, eq. 7).

    MS-SSIM = l_M^beta_M * prod_j cs_j^beta_j over M scales (2x average
    pooling between scales). With fewer than 5 scales (see ``ms_ssim_scales``)
    the first M exponents are used, renormalised to sum to 1 so that the
    value keeps the same [0, 1] range. Per-channel cs and SSIM means are
    clamped at a small positive value before the power, as in common
    implementations, because a negative base has no real fractional power.

    Args:
        x, y: ``(B, C, H, W)`` or ``(B, C, T, H, W)``; H and W at least ``window``.
        data_range, window, sigma: as in ``ssim``.

    Returns:
        ``(B,)`` MS-SSIM averaged over channels and frames; 1 iff x == y.
    """
    _check_pair(x, y, window)
    scales = ms_ssim_scales(*x.shape[-2:], window=window)
    with torch.autocast(device_type=x.device.type, enabled=False):
        xf, t = _fold_frames(x.float())
        yf, _ = _fold_frames(y.float())
        g = gaussian_window(window, sigma, device=x.device)
        weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=x.device)
        weights = weights / weights.sum()
        values = []
        for j in range(scales):
            s, cs = _ssim_terms(xf, yf, g, data_range)
            values.append(s if j == scales - 1 else cs)
            if j < scales - 1:
                xf, yf = F.avg_pool2d(xf, 2), F.avg_pool2d(yf, 2)
        stacked = torch.stack(values, dim=0).clamp(min=1e-6)  # (M, N, C)
        out = (stacked ** weights.view(-1, 1, 1)).prod(dim=0)  # (N, C)
        return out.mean(dim=1).view(-1, t).mean(dim=1)


# ---------------------------------------------------------------- uint8 videos and frames


def _check_uint8_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, v in (("a", a), ("b", b)):
        if v.dtype != np.uint8 or v.ndim not in (3, 4) or v.shape[-1] != 3:
            raise ValueError(
                f"{name} must be a uint8 video (T, H, W, 3) or frame (H, W, 3), got {v.dtype} {v.shape}"
            )
    if a.shape != b.shape:
        raise ValueError(f"videos differ in shape: {a.shape} vs {b.shape}")


def video_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 ``(T, H, W, 3)`` videos (or ``(H, W, 3)`` frames), one MSE over
    all frames, in float64; ``inf`` if equal."""
    _check_uint8_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def frame_psnr(a: np.ndarray, b: np.ndarray) -> list[float]:
    """PSNR in dB of each frame of two uint8 ``(T, H, W, 3)`` videos: ``T`` values."""
    return [video_psnr(x, y) for x, y in zip(a, b, strict=True)]


@torch.no_grad()
def video_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame SSIM of two uint8 ``(T, H, W, 3)`` videos or ``(H, W, 3)`` frames (at
    least 11x11), on 0..255 values."""
    _check_uint8_pair(a, b)
    if a.ndim == 3:
        a, b = a[None], b[None]
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float()  # (T, 3, H, W), frames as the batch
    y = torch.from_numpy(b).permute(0, 3, 1, 2).float()
    return float(ssim(x, y, data_range=255.0).mean())

"""No-reference visual quality of a clip: five measures and one score in [0, 1].

Measured on evenly spaced frames (luma, longer side at most ``max_side``):

- **sharpness**: mean Sobel gradient magnitude of a Gaussian-smoothed (sigma 1) copy, grey
  levels per pixel (blur lowers it; smoothing first keeps noise from passing for detail);
- **noise**: Immerkaer's fast noise estimate (CVIU 64(2), 1996): ``sigma = sqrt(pi/2) / 6 *
  mean |I * N|`` with the Laplacian-difference mask ``N`` below, in grey levels, averaged
  (after Tai and Yang, ICALIP 2008) only over the flattest pixels, so texture does not
  read as noise: the ``flat_share`` with the lowest gradient in a Gaussian-smoothed copy;
- **exposure**: mean luma in [0, 1], the share of clipped pixels (<= 2 or >= 253) and the
  black level (1st percentile of luma in [0, 1]; lifted blacks are a washed-out picture);
- **contrast**: RMS contrast, the standard deviation of luma in [0, 1];
- **blockiness**: mean absolute step across the 8x8 coding-block boundaries over the mean
  step elsewhere (1 for no blocking; heavy compression raises it);
- **frozen**: share of consecutive frame pairs (sampled pairs one frame apart) that do not
  change (mean absolute difference under half a grey level).

``quality_score`` maps each to a factor in (0, 1] and multiplies them, so one bad
property is enough to pull the score down. The factors and their constants live in
``QualityConfig``. ``LearnedQuality`` is the interface of an optional learned
predictor whose score can replace the hand-made one: a ``QualityNet`` (an architecture
defined here) loaded from a local checkpoint folder (``config.json`` + ``model.safetensors``,
``worldmodel.hub`` kind ``quality``), never TorchScript or a pickle, which can run code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own alias)
from torch import nn

from curation.frame_sampling import frame_pairs, sample_frames
from curation.video_io import PathLike
from worldmodel import hub

# Immerkaer's mask: the difference of two Laplacians, blind to edges of constant slope.
NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
BLOCK = 8


@dataclass(frozen=True)
class QualityConfig:
    """How quality is measured and scored.

    Attributes:
        num_frames: frames sampled per clip (and adjacent pairs checked for freezing).
        max_side: frames are downscaled so their longer side is at most this.
        flat_share: share of the flattest pixels the noise is measured on.
        sharpness_half: sharpness (grey levels / pixel) at which its factor ``s^2 / (s^2 + half^2)``
            is 1/2.
        noise_free / noise_scale: noise under ``noise_free`` grey levels costs nothing; above it
            the factor falls as ``exp(-(sigma - noise_free) / noise_scale)``.
        exposure_width: the exposure factor is ``exp(-((mean - 0.5) / width)^2 / 2)`` ...
        clip_scale: ... times ``exp(-clipped / clip_scale)`` ...
        black_free / black_scale: ... times ``exp(-(black - black_free) / black_scale)`` above ``black_free``.
        contrast_half: RMS contrast at which its factor is 1/2.
        block_free / block_scale: the blockiness factor is ``exp(-(blockiness - block_free) /
            block_scale)`` above ``block_free`` (fine texture on the grid lines reads as a little).
        frozen_weight: the frozen factor is ``1 - frozen_weight * frozen``.
    """

    num_frames: int = 8
    max_side: int = 256
    flat_share: float = 0.5
    sharpness_half: float = 4.0
    noise_free: float = 2.0
    noise_scale: float = 2.0
    exposure_width: float = 0.25
    clip_scale: float = 0.2
    black_free: float = 0.15
    black_scale: float = 0.15
    contrast_half: float = 0.05
    block_free: float = 1.5
    block_scale: float = 0.3
    frozen_weight: float = 0.5

    def __post_init__(self) -> None:
        for name in ("num_frames", "max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"QualityConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "sharpness_half",
            "noise_scale",
            "exposure_width",
            "clip_scale",
            "black_scale",
            "contrast_half",
            "block_scale",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"QualityConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.flat_share <= 1:
            raise ValueError(f"QualityConfig.flat_share must be in (0, 1], got {self.flat_share}")
        for name in ("noise_free", "black_free", "block_free"):
            if getattr(self, name) < 0:
                raise ValueError(f"QualityConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.frozen_weight < 1:
            raise ValueError(f"QualityConfig.frozen_weight must be in [0, 1), got {self.frozen_weight}")


def luma(frame: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Rec. 601 luma (H, W) float32 in grey levels [0, 255] of an RGB frame, longer side <= ``max_side``."""
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        frame = cv2.resize(
            frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def sharpness(y: np.ndarray, smooth: float = 0.0) -> float:
    """Mean Sobel gradient magnitude of luma ``y`` (H, W), grey levels per pixel, after a
    Gaussian blur of sigma ``smooth`` pixels (0: none)."""
    if smooth > 0:
        y = cv2.GaussianBlur(y, (0, 0), smooth)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3) / 8
    return float(np.hypot(gx, gy).mean())


def noise_sigma(y: np.ndarray, flat_share: float = 1.0) -> float:
    """Immerkaer's noise standard deviation of luma ``y`` (H, W) in grey levels (module docstring).

    ``flat_share`` < 1 averages over that share of the pixels only, those whose gradient in a
    Gaussian-smoothed (sigma 1) copy is lowest; 1 is Immerkaer's estimate over the whole frame.
    """
    h, w = y.shape
    if h < 3 or w < 3:
        raise ValueError(f"noise needs a frame of at least 3x3, got {h}x{w}")
    if not 0 < flat_share <= 1:
        raise ValueError(f"flat_share must be in (0, 1], got {flat_share}")
    response = np.abs(cv2.filter2D(y, cv2.CV_32F, NOISE_MASK)[1:-1, 1:-1])
    if flat_share < 1:
        smooth = cv2.GaussianBlur(y, (0, 0), 1.0)
        gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
        gradient = gradient[1:-1, 1:-1].ravel()
        keep = np.argsort(gradient, kind="stable")[: max(1, round(flat_share * gradient.size))]
        response = response.ravel()[keep]
    return float(math.sqrt(math.pi / 2) * response.mean() / 6)


def blockiness(y: np.ndarray, block: int = BLOCK) -> float:
    """Mean |step| across ``block``-pixel grid lines over the mean |step| elsewhere (1: no blocking)."""
    dx = np.abs(np.diff(y, axis=1))  # steps between columns x and x+1
    dy = np.abs(np.diff(y, axis=0))
    on_x = (np.arange(dx.shape[1]) % block) == block - 1
    on_y = (np.arange(dy.shape[0]) % block) == block - 1
    if not on_x.any() or not on_y.any():
        return 1.0
    across = np.concatenate([dx[:, on_x].ravel(), dy[on_y].ravel()]).mean()
    inside = np.concatenate([dx[:, ~on_x].ravel(), dy[~on_y].ravel()]).mean()
    return float((across + 1e-3) / (inside + 1e-3))


def frame_measures(frames: np.ndarray, max_side: int = 256, flat_share: float = 0.5) -> dict:
    """Sharpness, noise, exposure, clipping, contrast and blockiness of frames (T, H, W, 3), averaged."""
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (T>0, H, W, 3), got shape {frames.shape}")
    ys = [luma(f, max_side) for f in frames]
    return {
        "sharpness": float(np.mean([sharpness(y, smooth=1.0) for y in ys])),
        "noise": float(np.mean([noise_sigma(y, flat_share) for y in ys])),
        "brightness": float(np.mean([y.mean() / 255 for y in ys])),
        "clipped": float(np.mean([((y <= 2) | (y >= 253)).mean() for y in ys])),
        "black": float(np.mean([np.percentile(y, 1) / 255 for y in ys])),
        "contrast": float(np.mean([y.std() / 255 for y in ys])),
        "blockiness": float(np.mean([blockiness(y) for y in ys])),
    }


def frozen_share(pairs: np.ndarray, tolerance: float = 0.5) -> float:
    """Share of frame pairs (N, 2, H, W, 3) whose mean absolute difference is under ``tolerance``."""
    if pairs.ndim != 5 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"pairs must be (N>0, 2, H, W, 3), got shape {pairs.shape}")
    diffs = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in pairs]
    return float(np.mean(np.array(diffs) < tolerance))


def quality_factors(measures: dict, config: QualityConfig = QualityConfig()) -> dict:
    """Each measure's factor in (0, 1] (``QualityConfig`` gives the formulas)."""
    s = measures["sharpness"]
    return {
        "sharpness": s**2 / (s**2 + config.sharpness_half**2),
        "noise": math.exp(-max(0.0, measures["noise"] - config.noise_free) / config.noise_scale),
        "exposure": math.exp(-(((measures["brightness"] - 0.5) / config.exposure_width) ** 2) / 2)
        * math.exp(-measures["clipped"] / config.clip_scale)
        * math.exp(-max(0.0, measures["black"] - config.black_free) / config.black_scale),
        "contrast": measures["contrast"] / (measures["contrast"] + config.contrast_half),
        "blockiness": math.exp(-max(0.0, measures["blockiness"] - config.block_free) / config.block_scale),
        "frozen": 1 - config.frozen_weight * measures["frozen"],
    }


def quality_score(measures: dict, config: QualityConfig = QualityConfig()) -> float:
    """The product of ``quality_factors``: 1 is flawless, 0 unusable."""
    return float(np.prod(list(quality_factors(measures, config).values())))


class LearnedQuality(Protocol):
    """An optional learned quality / aesthetic predictor: frames (T, H, W, 3) uint8 -> score in [0, 1]."""

    def __call__(self, frames: np.ndarray) -> float: ...


QUALITY_KIND = "quality"


@dataclass(frozen=True)
class QualityNetConfig:
    """Shape of a learned quality predictor.

    Attributes:
        size: frames are resized to ``size x size`` before the network sees them.
        channels: output channels of the stride-2 3x3 conv blocks, in order.
    """

    size: int = 64
    channels: tuple[int, ...] = (16, 32, 64)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if not 8 <= self.size <= 1024:
            raise ValueError(f"QualityNetConfig.size must be in [8, 1024], got {self.size}")
        if not self.channels or not all(isinstance(c, int) and 1 <= c <= 1024 for c in self.channels):
            raise ValueError(f"QualityNetConfig.channels must be 1..1024 each, got {self.channels}")


@hub.register(QUALITY_KIND)
class QualityNet(nn.Module):
    """A small CNN scoring frames: ``x (T, 3, H, W)`` in [0, 1] -> per-frame scores ``(T,)`` in (0, 1)."""

    def __init__(self, config: QualityNetConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        width = 3
        for out in config.channels:
            blocks += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.GELU()]
            width = out
        self.features = nn.Sequential(*blocks)
        self.score = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (self.config.size, self.config.size)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        h = self.features(x * 2 - 1).mean(dim=(2, 3))  # (T, C)
        return torch.sigmoid(self.score(h)).squeeze(-1)  # (T,)


def check_quality_weights(path: str | Path) -> None:
    """Refuse (``ValueError``) anything but a quality checkpoint folder, reading only its config."""
    path = Path(path)
    if not path.exists():
        raise ValueError(
            f"{path} not found; pass a local quality checkpoint folder ({hub.CONFIG_FILE} + "
            f"{hub.WEIGHTS_FILE} of a curation.quality.QualityNet; nothing is downloaded)"
        )
    if path.is_file():
        raise ValueError(
            f"{path} is a file; pass a quality checkpoint folder ({hub.CONFIG_FILE} + {hub.WEIGHTS_FILE}). "
            "TorchScript and pickle files are not loaded: they can run arbitrary code"
        )
    kind = hub.read_config(path).get("kind")
    if kind != QUALITY_KIND:
        raise ValueError(f"{path} is a {kind!r} checkpoint, not a {QUALITY_KIND!r} one")


def load_learned_quality(path: str | Path) -> LearnedQuality:
    """The ``QualityNet`` in the local checkpoint folder ``path`` (``hub.save`` of one), as a
    ``LearnedQuality``; nothing is downloaded, and a TorchScript or pickle file is refused unread.

    Raises:
        FileNotFoundError: no such folder.
        hub.CheckpointError: not a quality checkpoint (the message says what it is and the fix).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"learned quality weights {path} not found; pass a local quality checkpoint folder "
            f"({hub.CONFIG_FILE} + {hub.WEIGHTS_FILE} of a curation.quality.QualityNet)"
        )
    if path.is_file():
        raise hub.CheckpointError(
            f"{path} is a file; learned quality weights are a checkpoint folder ({hub.CONFIG_FILE} + "
            f"{hub.WEIGHTS_FILE} of a curation.quality.QualityNet, written by worldmodel.hub.save). "
            "TorchScript and pickle files are not loaded: they can run arbitrary code"
        )
    model = hub.load(path, expect_kind=QUALITY_KIND)

    def predict(frames: np.ndarray) -> float:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
        with torch.inference_mode():
            scores = model(x).float().reshape(-1)
        return float(scores.clamp(0, 1).mean())

    return predict


def clip_quality(
    frames: np.ndarray,
    pairs: np.ndarray,
    config: QualityConfig = QualityConfig(),
    learned: LearnedQuality | None = None,
) -> dict:
    """The measures, factors and ``score`` of a clip from sampled frames (T, H, W, 3) and adjacent
    pairs (N, 2, H, W, 3); with ``learned``, its score is reported as ``learned`` and replaces ``score``."""
    measures = {**frame_measures(frames, config.max_side, config.flat_share), "frozen": frozen_share(pairs)}
    factors = quality_factors(measures, config)
    result = {k: round(v, 6) for k, v in measures.items()}
    result["factors"] = {k: round(v, 6) for k, v in factors.items()}
    result["score"] = round(float(np.prod(list(factors.values()))), 6)
    if learned is not None:
        result["no_reference_score"] = result["score"]
        result["learned"] = result["score"] = round(float(learned(frames)), 6)
    return result


def video_quality(
    path: PathLike | bytes, config: QualityConfig = QualityConfig(), learned: LearnedQuality | None = None
) -> dict:
    """``clip_quality`` of a video file or its bytes."""
    frames, _, _ = sample_frames(path, config.num_frames)
    pairs, _, _, _ = frame_pairs(path, config.num_frames, 1)
    return clip_quality(frames, pairs, config, learned)

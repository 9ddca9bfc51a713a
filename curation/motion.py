"""Camera motion of a clip: optical flow statistics and a motion-type label from a global fit.

Pairs of frames ``gap`` apart (about ``pair_seconds``) are sampled over the clip,
downscaled and passed through OpenCV's DIS optical flow (Kroeger et al., ECCV 2016).
Each flow field is fitted with a global affine motion in coordinates normalised by
half the frame's longer side, ``u = tx + a x + b y``, ``v = ty + c x + d y``, by least
squares refitted on its inliers. From the fit:

- translation ``(tx, ty)``: the image content moves right / down, so the camera pans
  left (``tx > 0``) or right, tilts up (``ty > 0``, content moves down) or down;
- divergence ``(a + d) / 2``: the content expands (zoom in, or dolly in) or shrinks;
- shear ``b``: the bottom of the frame (near ground) moves sideways against its top
  (the far background), the parallax of a camera arcing around the subject: an orbit
  to the left (``b > 0``) or right;
- residual: flow the global fit does not explain, i.e. things moving on their own.

All speeds are per second, in units of half the frame's longer side, so they do not
depend on resolution or frame rate. ``classify_motion`` turns the per-pair fits into
one label of ``MOTION_LABELS`` with the thresholds of ``MotionConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from curation.frame_sampling import frame_pairs
from curation.video_io import PathLike, probe

MOTION_LABELS = (
    "static",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "orbit_left",
    "orbit_right",
    "object_motion",
    "shaky",
)


@dataclass(frozen=True)
class MotionConfig:
    """How motion is measured and labelled (speeds in half-frames per second).

    Attributes:
        num_pairs: frame pairs sampled per clip.
        pair_seconds: time between the two frames of a pair (at least one frame).
        max_side: frames are downscaled so their longer side is at most this (never upscaled).
        min_gradient: the fit uses the pixels with at least this grey-level gradient per pixel
            (flow on flat sky or walls is a guess).
        static_speed: below this median flow speed a clip is ``static``.
        object_residual: above this share of the flow left unexplained by the global fit,
            the motion is ``object_motion`` (the camera may move too).
        shaky_reversals: the camera is ``shaky`` when at least this share of consecutive pairs
            translate in opposing directions (negative dot product: it shakes back and forth) ...
        shaky_speed: ... and the translations' median distance from their median exceeds this.
        zoom_weight: divergence is multiplied by this before it is compared with translation
            (a divergence ``s`` moves the frame's edge by ``s``, its average point by ~0.5 s).
        orbit_weight: shear is multiplied by this before it is compared with translation
            (a shear ``b`` moves the top and bottom edges by ``b``, in opposite directions).
    """

    num_pairs: int = 8
    pair_seconds: float = 0.125
    max_side: int = 128
    min_gradient: float = 4.0
    static_speed: float = 0.02
    object_residual: float = 0.65
    shaky_reversals: float = 0.3
    shaky_speed: float = 0.3
    zoom_weight: float = 0.5
    orbit_weight: float = 0.5

    def __post_init__(self) -> None:
        for name in ("num_pairs", "max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"MotionConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("pair_seconds", "zoom_weight", "orbit_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MotionConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("static_speed", "shaky_speed"):
            if getattr(self, name) < 0:
                raise ValueError(f"MotionConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.shaky_reversals <= 1:
            raise ValueError(f"MotionConfig.shaky_reversals must be in (0, 1], got {self.shaky_reversals}")
        if not 0 < self.object_residual <= 1:
            raise ValueError(f"MotionConfig.object_residual must be in (0, 1], got {self.object_residual}")


@dataclass(frozen=True)
class GlobalMotion:
    """The global affine fit of one flow field, in half-frames per frame-pair.

    ``speed`` is the mean flow magnitude, ``residual`` the mean magnitude of what the fit
    leaves; ``divergence = (a + d) / 2`` and ``rotation = (c - b) / 2`` (counter-clockwise on
    screen is negative, as image y points down).
    """

    tx: float
    ty: float
    divergence: float
    rotation: float
    shear: float
    speed: float
    residual: float


def optical_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """DIS optical flow from ``first`` to ``second`` (H, W) uint8 grey frames: (H, W, 2) pixels."""
    if first.shape != second.shape or first.ndim != 2 or first.dtype != np.uint8:
        raise ValueError(f"need two equal-size uint8 (H, W) frames, got {first.shape} and {second.shape}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(first, second, None)


def fit_global_motion(flow: np.ndarray, mask: np.ndarray | None = None, *, refits: int = 2) -> GlobalMotion:
    """Least-squares affine fit of a flow field (H, W, 2) in pixels (module docstring).

    Coordinates and flow are divided by half the longer side, centred on the frame
    centre. Only the pixels of ``mask`` (H, W) bool are fitted, if given (flow is only
    measured where there is texture). Each refit drops the points whose residual is
    above twice the median. ``speed`` and ``residual`` average over the fitted pixels.
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if mask is not None and mask.shape != flow.shape[:2]:
        raise ValueError(f"mask must be {flow.shape[:2]}, got {mask.shape}")
    h, w, _ = flow.shape
    half = max(h, w) / 2
    ys, xs = np.mgrid[0:h, 0:w]
    x = ((xs - (w - 1) / 2) / half).ravel()
    y = ((ys - (h - 1) / 2) / half).ravel()
    uv = flow.reshape(-1, 2).astype(np.float64) / half
    if mask is not None:
        keep = mask.ravel()
        x, y, uv = x[keep], y[keep], uv[keep]
    design = np.stack([np.ones_like(x), x, y], axis=1)  # (N, 3)
    inliers = np.ones(len(x), dtype=bool)
    for _ in range(refits + 1):
        coef, *_ = np.linalg.lstsq(design[inliers], uv[inliers], rcond=None)  # (3, 2)
        error = np.linalg.norm(uv - design @ coef, axis=1)  # (N,)
        inliers = error <= 2 * np.median(error) + 1e-9
    (tx, ty), (a, c), (b, d) = coef
    return GlobalMotion(
        tx=float(tx),
        ty=float(ty),
        divergence=float((a + d) / 2),
        rotation=float((c - b) / 2),
        shear=float(b),
        speed=float(np.linalg.norm(uv, axis=1).mean()),
        residual=float(error.mean()),
    )


def _grey(frame: np.ndarray, max_side: int) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    scale = max_side / max(h, w)
    if scale < 1:
        grey = cv2.resize(
            grey, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    return grey


def textured(grey: np.ndarray, min_gradient: float, min_share: float = 0.05) -> np.ndarray | None:
    """Pixels (H, W) bool whose Sobel gradient reaches ``min_gradient`` (grey levels per pixel);
    None (use every pixel) when fewer than ``min_share`` of them do."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8
    mask = np.hypot(gx, gy) >= min_gradient
    return mask if mask.mean() >= min_share else None


def measure_pairs(pairs: np.ndarray, config: MotionConfig = MotionConfig()) -> list[GlobalMotion]:
    """The global motion of each frame pair ``uint8 (N, 2, H, W, 3)``."""
    if pairs.ndim != 5 or pairs.shape[1] != 2 or pairs.shape[-1] != 3 or pairs.dtype != np.uint8:
        raise ValueError(f"pairs must be uint8 (N, 2, H, W, 3), got {pairs.dtype} {pairs.shape}")
    fits = []
    for a, b in pairs:
        first, second = _grey(a, config.max_side), _grey(b, config.max_side)
        mask = textured(first, config.min_gradient)
        fits.append(fit_global_motion(optical_flow(first, second), mask))
    return fits


def classify_motion(
    fits: list[GlobalMotion], per_second: float, config: MotionConfig = MotionConfig()
) -> dict:
    """One motion label and the flow statistics of a clip from its per-pair fits.

    Args:
        fits: the global motion of each sampled pair.
        per_second: pairs per second (fps / gap), turning per-pair motion into speeds.

    Returns:
        ``label`` (one of ``MOTION_LABELS``), ``speed`` (median flow speed) and ``speed_max``,
        ``pan`` (-tx: + pans right), ``tilt`` (ty: + tilts up), ``zoom`` (divergence: + zooms in),
        ``rotation``, ``shear`` (+ orbits left), ``residual`` (share of the flow the global fit
        leaves), ``jitter`` (median distance of the pairs' translations from their median), all
        per second, and ``reversals`` (share of consecutive pairs translating against each other).
    """
    if not fits:
        raise ValueError("need the fits of at least one frame pair")
    if per_second <= 0:
        raise ValueError(f"per_second must be > 0, got {per_second}")
    t = np.array([[f.tx, f.ty] for f in fits]) * per_second  # (N, 2)
    speed = np.array([f.speed for f in fits]) * per_second
    residual = np.array([f.residual for f in fits]) * per_second
    divergence = float(np.median([f.divergence for f in fits])) * per_second
    rotation = float(np.median([f.rotation for f in fits])) * per_second
    shear = float(np.median([f.shear for f in fits])) * per_second
    # Median distance from the median translation: one pair of failed flow cannot make a clip shaky.
    jitter = float(np.median(np.linalg.norm(t - np.median(t, axis=0), axis=1)))
    # Pairs are in time order: a reversal is a translation against the previous one.
    reversals = float(np.mean((t[1:] * t[:-1]).sum(axis=1) < 0)) if len(t) > 1 else 0.0
    median_speed = float(np.median(speed))
    # Per pair, then the median: as for the jitter, a pair of failed flow does not decide.
    residual_share = float(np.median(residual / np.maximum(speed, 1e-12)))
    tx, ty = float(np.median(t[:, 0])), float(np.median(t[:, 1]))
    if median_speed < config.static_speed:
        label = "static"
    elif jitter > config.shaky_speed and reversals >= config.shaky_reversals:
        label = "shaky"
    elif residual_share > config.object_residual:
        label = "object_motion"
    else:
        zoom = config.zoom_weight * abs(divergence)
        orbit = config.orbit_weight * abs(shear)
        axis = int(np.argmax([abs(tx), abs(ty), zoom, orbit]))
        label = (
            ("pan_left" if tx > 0 else "pan_right"),
            ("tilt_up" if ty > 0 else "tilt_down"),
            ("zoom_in" if divergence > 0 else "zoom_out"),
            ("orbit_left" if shear > 0 else "orbit_right"),
        )[axis]
    return {
        "label": label,
        "speed": round(median_speed, 6),
        "speed_max": round(float(speed.max()), 6),
        "pan": round(-tx, 6),
        "tilt": round(ty, 6),
        "zoom": round(divergence, 6),
        "rotation": round(rotation, 6),
        "shear": round(shear, 6),
        "residual": round(residual_share, 6),
        "jitter": round(jitter, 6),
        "reversals": round(reversals, 6),
    }


def clip_motion(pairs: np.ndarray, gap: int, fps: float, config: MotionConfig = MotionConfig()) -> dict:
    """``classify_motion`` of frame pairs (N, 2, H, W, 3) ``gap`` frames apart at ``fps``."""
    if gap < 1 or fps <= 0:
        raise ValueError(f"need gap >= 1 and fps > 0, got {gap} and {fps}")
    return classify_motion(measure_pairs(pairs, config), fps / gap, config)


def video_motion(path: PathLike | bytes, config: MotionConfig = MotionConfig()) -> dict:
    """The motion of a video file (or its bytes): ``clip_motion`` on ``config.num_pairs`` sampled pairs."""
    fps = probe(path).fps
    gap = max(1, round(config.pair_seconds * fps))
    pairs, _, gap, fps = frame_pairs(path, config.num_pairs, gap)
    return clip_motion(pairs, gap, fps, config)

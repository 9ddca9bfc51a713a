"""Text-aware clip features: where thin, high-contrast strokes stay put while the scene moves.

Burned-in text (subtitles, captions, timestamps, logos' lettering) is drawn after the
camera: its strokes are a few pixels wide, contrast strongly with what is around
them (often through an outline), pack densely along a horizontal line, and sit at
the same pixels in every frame while the scene under them changes. A pooled image
latent at 64 px keeps none of that, so ``text_features`` measures it directly from a
few sampled frames at up to ``long_side`` pixels (native size if smaller), with
OpenCV only:

1. **strokes** per frame: the larger of the white and black top-hat of the grey
   frame with a ``kernel``-pixel square, i.e. bright or dark structures narrower
   than the kernel (text strokes; not large objects or smooth gradients);
2. **persistent strokes**: their minimum over the sampled frames, thresholded:
   a stroke counts only if it is there, at that pixel, in every sampled frame;
3. **line density**: the share of persistent-stroke pixels in a wide, short box
   around each pixel, high where strokes pack along a text line;
4. pooled onto ``bands`` horizontal bands (mean and peak line density; subtitles
   sit low, timestamps high), a ``grid x grid`` layout, the ``top_cells`` densest
   cells of a ``fine_grid x fine_grid`` grid sorted (text placed anywhere), an
   ``orientations``-bin histogram of gradient directions on the persistent strokes
   (letters mix vertical, horizontal and diagonal strokes; scene edges are mostly
   long lines), and global shares (persistent vs all strokes, i.e. how much of the
   fine structure stays still).

Nothing looks at colour, so text of any colour counts the same, and nothing relies
on exact pixel values a generator might leave behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from curation.frame_sampling import sample_indices

NAME = "text-strokes-v1"


@dataclass(frozen=True)
class TextFeatureConfig:
    """How ``text_features`` samples and pools a clip (recorded in a classifier's config.json).

    Attributes:
        num_frames: frames sampled per clip; strokes must persist through all of them.
        long_side: frames larger than this are shrunk (aspect kept) so the long side is this.
        kernel: top-hat square side in pixels: strokes narrower than this count.
        threshold: stroke contrast (0-1 grey levels) a persistent stroke needs.
        bands: horizontal bands pooled.
        grid: side of the coarse layout grid.
        fine_grid: side of the fine grid whose densest cells are kept.
        top_cells: how many of the fine grid's densest cells are kept, sorted.
        orientations: bins of the gradient-direction histogram over [0, pi).
    """

    num_frames: int = 6
    long_side: int = 256
    kernel: int = 5
    threshold: float = 0.12
    bands: int = 8
    grid: int = 4
    fine_grid: int = 8
    top_cells: int = 8
    orientations: int = 8

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (persistence needs two frames), got {self.num_frames}")
        if self.long_side < 16 or self.kernel < 3 or self.kernel % 2 == 0:
            raise ValueError(
                f"long_side must be >= 16 and kernel odd and >= 3, got {self.long_side}, {self.kernel}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if min(self.bands, self.grid, self.fine_grid, self.orientations) < 1:
            raise ValueError("bands, grid, fine_grid and orientations must be >= 1")
        if not 1 <= self.top_cells <= self.fine_grid**2:
            raise ValueError(f"top_cells must be in [1, {self.fine_grid**2}], got {self.top_cells}")

    @property
    def dim(self) -> int:
        return 2 * self.bands + self.grid**2 + self.top_cells + self.orientations + 4

    def to_dict(self) -> dict:
        return {"name": NAME, **asdict(self)}


def _grey(frame: np.ndarray, long_side: int) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (h, w) in [0, 1], shrunk so max(h, w) <= long_side."""
    h, w = frame.shape[:2]
    scale = long_side / max(h, w)
    if scale < 1.0:
        frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _strokes(grey: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(h, w) -> (h, w): contrast of bright or dark structures narrower than ``kernel``."""
    bright = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    return np.maximum(bright, dark)


def _cells(x: np.ndarray, rows: int, cols: int, reduce: str = "mean") -> np.ndarray:
    """(h, w) -> (rows, cols) of the mean (or max) over each cell of an even split."""
    r = np.array_split(np.arange(x.shape[0]), rows)
    c = np.array_split(np.arange(x.shape[1]), cols)
    fn = np.mean if reduce == "mean" else np.max
    return np.array([[fn(x[np.ix_(i, j)]) for j in c] for i in r], dtype=np.float32)


def text_features(frames: np.ndarray, config: TextFeatureConfig | None = None) -> np.ndarray:
    """frames: uint8 (T, H, W, 3) with T >= 2 -> float32 (config.dim,) text-stroke features.

    ``config.num_frames`` of the frames, spread evenly, are used (all if fewer).
    """
    config = config or TextFeatureConfig()
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {getattr(frames, 'shape', type(frames))}")
    if frames.shape[0] < 2 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T>=2, H, W, 3), got shape {frames.shape}")
    grey = np.stack([_grey(frames[i], config.long_side) for i in sample_indices(len(frames), config.num_frames)])
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (config.kernel, config.kernel))
    strokes = np.stack([_strokes(g, kernel) for g in grey])  # (T, h, w)
    persistent = strokes.min(axis=0)  # (h, w)
    on = (persistent > config.threshold).astype(np.float32)  # (h, w)
    anywhere = (strokes > config.threshold).mean(axis=0)  # (h, w)
    h, w = on.shape
    # A text line: strokes every few pixels along a row, a glyph's height tall.
    line = cv2.boxFilter(on, -1, (max(3, w // 12), 3))  # (h, w)

    band_mean = _cells(on, config.bands, 1)[:, 0]
    band_peak = _cells(line, config.bands, 1, reduce="max")[:, 0]
    layout = _cells(on, config.grid, config.grid).ravel()
    fine = np.sort(_cells(on, config.fine_grid, config.fine_grid).ravel())[::-1][: config.top_cells]

    mean_grey = grey.mean(axis=0)
    gx = cv2.Sobel(mean_grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(mean_grey, cv2.CV_32F, 0, 1, ksize=3)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    weight = np.hypot(gx, gy) * on
    hist, _ = np.histogram(angle, bins=config.orientations, range=(0.0, np.pi), weights=weight)
    hist = hist / max(float(hist.sum()), 1e-6)

    still = float(on.sum()) / max(float((anywhere > 0).sum()), 1.0)
    stats = [on.mean(), float((anywhere > 0).mean()), still, float(line.max())]
    return np.concatenate([band_mean, band_peak, layout, fine, hist, stats]).astype(np.float32)

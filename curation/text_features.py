"""Text-aware clip features: lines of thin, high-contrast strokes that stay put while the scene moves.

Burned-in text (subtitles, captions, timestamps) is drawn after the camera: its strokes
are a few pixels wide, contrast strongly with what is around them (often through an
outline), sit at the same pixels in every frame while the scene under them changes, and
pack into a line of letters with clear rows above and below. A pooled image latent at
64 px keeps none of that, so ``text_features`` measures it directly from a few sampled
frames at up to ``long_side`` pixels (native size if smaller), with OpenCV only:

1. **strokes** per frame: the larger of the white and black top-hat with a
   ``kernel``-pixel square, in whichever colour channel shows it best, i.e. bright or
   dark structures narrower than the kernel (text strokes; not large objects or smooth
   gradients), whatever the text's colour;
2. **persistent strokes**: their minimum over the sampled frames, thresholded at each of
   ``thresholds``: a stroke counts only if it is there, at that pixel, in every sampled
   frame (text painted on a sign moves with the scene and drops out);
3. **line contrast** (a Haar-like line detector): for each glyph height ``g`` of
   ``line_heights`` (shares of the frame height) and box width ``m * g`` of
   ``line_widths``, the persistent-stroke density of every ``m g x g`` box minus the
   larger density of the boxes just above and below it. A line of letters is dense
   between clear rows; floor texture, checkerboards and lone edges are as dense around
   as inside. Each (threshold, height, width) gives the best contrast and the box
   density there.

Nothing looks at colour or exact pixel values, so text of any colour counts the same and
nothing rests on what a particular generator leaves behind. Still scenes have persistent
strokes everywhere; there only the line structure tells text apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from curation.frame_sampling import sample_indices

NAME = "text-lines-v1"


@dataclass(frozen=True)
class TextFeatureConfig:
    """How ``text_features`` samples and pools a clip (recorded in a classifier's config.json).

    Attributes:
        num_frames: frames sampled per clip; strokes must persist through all of them.
        long_side: frames larger than this are shrunk (aspect kept) so the long side is this.
        kernel: top-hat square side in pixels: strokes narrower than this count.
        thresholds: stroke contrasts (0-1 levels) a persistent stroke needs; each is pooled
            (faint coloured words and outlined white subtitles differ by several times).
        line_heights: glyph heights looked for, as shares of the frame height (timestamps
            and subtitles about 0.06-0.1, big captions up to 0.22).
        line_widths: box widths in glyph heights (a short word, a few words).
    """

    num_frames: int = 6
    long_side: int = 256
    kernel: int = 5
    thresholds: tuple[float, ...] = (0.06, 0.1, 0.15, 0.2, 0.3)
    line_heights: tuple[float, ...] = (0.06, 0.1, 0.15, 0.22)
    line_widths: tuple[int, ...] = (2, 4)

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (persistence needs two frames), got {self.num_frames}")
        if self.long_side < 16 or self.kernel < 3 or self.kernel % 2 == 0:
            raise ValueError(
                f"long_side must be >= 16 and kernel odd and >= 3, got {self.long_side}, {self.kernel}"
            )
        for name in ("thresholds", "line_heights"):
            values = getattr(self, name)
            if not values or not all(0.0 < v < 1.0 for v in values):
                raise ValueError(f"{name} must be non-empty and in (0, 1), got {values}")
        if not self.line_widths or min(self.line_widths) < 1:
            raise ValueError(f"line_widths must be non-empty and >= 1, got {self.line_widths}")

    @property
    def dim(self) -> int:
        return 2 * len(self.thresholds) * len(self.line_heights) * len(self.line_widths)

    def to_dict(self) -> dict:
        """The json a classifier checkpoint records: ``NAME`` and the fields (lists for tuples)."""
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        return {"name": NAME, **fields}


def _shrink(frame: np.ndarray, long_side: int) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (h, w, 3) in [0, 1], shrunk so max(h, w) <= long_side."""
    h, w = frame.shape[:2]
    scale = long_side / max(h, w)
    if scale < 1.0:
        frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return frame.astype(np.float32) / 255.0


def _strokes(frame: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(h, w, 3) -> (h, w): contrast of bright or dark structures narrower than ``kernel``, in
    whichever colour channel shows them best (text in a colour of the scene's brightness)."""
    bright = cv2.morphologyEx(frame, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(frame, cv2.MORPH_BLACKHAT, kernel)
    return np.maximum(bright, dark).max(axis=-1)


def line_contrast(on: np.ndarray, height: int, width: int) -> tuple[float, float]:
    """Best contrast of a ``width x height`` box of stroke mask ``on`` (h, w) against the boxes just
    above and below it (outside the frame counts as empty), and the box's density there."""
    h, w = on.shape
    inside = cv2.boxFilter(on, -1, (min(width, w), height), borderType=cv2.BORDER_CONSTANT)  # (h, w)
    pad = np.zeros((height, w), np.float32)
    above = np.concatenate([pad, inside[:-height]])[:h]  # (h, w)
    below = np.concatenate([inside[height:], pad])[:h]  # (h, w)
    contrast = inside - np.maximum(above, below)
    best = int(np.argmax(contrast))
    return float(contrast.flat[best]), float(inside.flat[best])


def text_features(frames: np.ndarray, config: TextFeatureConfig | None = None) -> np.ndarray:
    """frames: uint8 (T, H, W, 3) with T >= 2 -> float32 (config.dim,) text-line features.

    ``config.num_frames`` of the frames, spread evenly, are used (all if fewer). Order:
    thresholds, then line heights, then line widths, each giving (contrast, density).
    """
    config = config or TextFeatureConfig()
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {getattr(frames, 'shape', type(frames))}")
    if frames.shape[0] < 2 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T>=2, H, W, 3), got shape {frames.shape}")
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (config.kernel, config.kernel))
    picked = sample_indices(len(frames), config.num_frames)
    strokes = np.stack([_strokes(_shrink(frames[i], config.long_side), kernel) for i in picked])  # (T, h, w)
    persistent = strokes.min(axis=0)  # (h, w)
    h = persistent.shape[0]
    out: list[float] = []
    for threshold in config.thresholds:
        on = (persistent > threshold).astype(np.float32)  # (h, w)
        for share in config.line_heights:
            g = max(3, round(share * h))
            for m in config.line_widths:
                out += line_contrast(on, g, m * g)
    return np.asarray(out, dtype=np.float32)

"""Burned-in text of the kinds curation must detect: subtitles, captions of words, timestamps.

An ``Overlay`` is planned once (text, place, size) so its pixel box is known before
anything is drawn; ``burn_overlays`` then draws it into every frame of its span.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("subtitle", "words", "timestamp")
WORDS = (
    "live", "breaking", "news", "sale", "today", "only", "subscribe", "channel", "sports", "replay",
    "weather", "update", "exclusive", "the", "and", "we", "will", "see", "you", "there", "look",
    "at", "this", "now", "really", "amazing", "robot", "camera", "road", "city", "tomorrow",
)  # fmt: skip
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Outline width drawn under subtitles and timestamps, as broadcast text has.
OUTLINE = 2


@dataclass(frozen=True)
class Overlay:
    """Text burned into frames ``[start, end)``.

    Attributes:
        kind: one of ``KINDS``.
        text: the drawn string; for a timestamp, the one shown at ``start`` (it ticks
            with the video's clock after that; ``TIME_FORMATS`` gives its format).
        origin: ``(x, y)`` pixel of the text baseline's left end (OpenCV ``putText``).
        scale: OpenCV font scale.
        colour: RGB 0-255.
        box: ``(x0, y0, x1, y1)`` pixel bounds (inclusive x0, y0; exclusive x1, y1) that
            contain every drawn pixel, clipped to the frame.
    """

    start: int
    end: int
    kind: str
    text: str
    origin: tuple[int, int]
    scale: float
    colour: tuple[int, int, int]
    box: tuple[int, int, int, int]


def _random_text(kind: str, rng: np.random.Generator) -> str:
    if kind == "timestamp":
        moment = dt.datetime(2020, 1, 1) + dt.timedelta(seconds=int(rng.integers(0, 5 * 365 * 86400)))
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    count = int(rng.integers(4, 9)) if kind == "subtitle" else int(rng.integers(1, 4))
    text = " ".join(str(w) for w in rng.choice(WORDS, count))
    return text.capitalize() if kind == "subtitle" else text.upper()


# Full timestamps, or just the clock where the date does not fit the frame.
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%H:%M:%S")


def timestamp_at(first: str, frames_since_start: int, fps: float) -> str:
    """The timestamp ``first`` (either of ``TIME_FORMATS``) advanced by ``frames_since_start`` frames."""
    fmt = TIME_FORMATS[0] if " " in first else TIME_FORMATS[1]
    moment = dt.datetime.strptime(first, fmt) + dt.timedelta(seconds=int(frames_since_start / fps))
    return moment.strftime(fmt)


def _fit_text(text: str, kind: str, scale: float, thickness: int, width: int) -> tuple[str, float]:
    """Shorten, then shrink, ``text`` until it fits ``width`` with a 2 px margin each side.

    Dropping words first keeps text at a size that stays readable on small frames.
    """

    def too_wide(t: str, s: float) -> bool:
        return cv2.getTextSize(t, FONT, s, thickness)[0][0] > width - 4

    words = text.split(" ")
    while too_wide(" ".join(words), scale) and len(words) > 1:
        # A timestamp keeps its clock (the last word); other text keeps its first words.
        words = words[1:] if kind == "timestamp" else words[:-1]
    text = " ".join(words)
    while too_wide(text, scale) and scale > 0.1:
        scale *= 0.9
    return text, scale


def plan_overlay(
    kind: str, start: int, end: int, height: int, width: int, rng: np.random.Generator
) -> Overlay:
    """Draw the text, size and place of one overlay on a ``height`` x ``width`` frame."""
    base = {"subtitle": height / 200, "timestamp": height / 240, "words": height / rng.uniform(100, 220)}
    thickness = OUTLINE + 1 if kind != "words" else 1
    text, scale = _fit_text(_random_text(kind, rng), kind, base[kind], thickness, width)
    (w, h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    if kind == "subtitle":
        x, y = (width - w) // 2, height - baseline - 2
    elif kind == "timestamp":
        x = 2 if rng.random() < 0.5 else width - w - 2
        y = h + 2
    else:
        x = int(rng.integers(0, max(width - w, 1)))
        y = int(rng.integers(h, max(height - baseline, h + 1)))
    colour = (255, 255, 255) if kind != "words" else tuple(int(c) for c in rng.integers(0, 256, 3))
    # getTextSize reports the stroke-centre extent; thick strokes spill by about half their width.
    pad = thickness
    box = (max(x - pad, 0), max(y - h - pad, 0), min(x + w + pad, width), min(y + baseline + pad, height))
    return Overlay(start, end, kind, text, (int(x), int(y)), float(scale), colour, box)


def burn_overlays(frames: np.ndarray, overlays: list[Overlay], fps: float) -> np.ndarray:
    """Copy of ``frames`` (T, H, W, 3) uint8 with every overlay drawn over its span."""
    out = frames.copy()
    for ov in overlays:
        for t in range(ov.start, ov.end):
            text = timestamp_at(ov.text, t - ov.start, fps) if ov.kind == "timestamp" else ov.text
            frame = out[t]
            if ov.kind != "words":
                cv2.putText(frame, text, ov.origin, FONT, ov.scale, (0, 0, 0), OUTLINE + 1, cv2.LINE_AA)
            cv2.putText(frame, text, ov.origin, FONT, ov.scale, ov.colour, 1, cv2.LINE_AA)
    return out

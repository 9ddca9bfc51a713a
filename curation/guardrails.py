"""Generation guardrails: refuse blocked prompts before generating, blur faces after.

Cosmos wraps its world models in a pre-guard on the prompt and a post-guard on
the video that blurs faces (arXiv 2501.03575, guardrails). This is the small offline
version of both:

- ``PromptBlocklist``: whole-word, case-insensitive matching of a configurable
  term list, robust to simple obfuscations (spacing, punctuation, accents,
  letter repeats, leetspeak, spelled-out letters).
- ``blur_faces``: detect frontal faces frame by frame and Gaussian-blur them.
  OpenCV 5 dropped ``CascadeClassifier`` and ships no cascades or face models, so
  the default detector is scikit-image's multi-block LBP cascade, which runs
  OpenCV's ``lbpcascade_frontalface`` shipped inside the scikit-image wheel.
- ``Guardrails``: both, with switches, for the generation entry points.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skimage_data
from skimage.feature import Cascade

logger = logging.getLogger(__name__)

DEFAULT_BLOCKLIST: tuple[str, ...] = (
    # sexual content
    "porn", "porno", "pornography", "pornographic", "nsfw", "xxx", "nude", "nudity", "naked",
    "topless", "sex", "sexual", "sexy", "erotic", "hentai", "orgasm", "genitals", "masturbation",
    # sexual content involving minors
    "child porn", "underage sex", "loli", "lolicon", "pedophile", "pedophilia",
    # sexual violence
    "rape", "raped", "molest", "molestation",
    # graphic violence
    "gore", "gory", "beheading", "beheaded", "decapitation", "decapitated", "dismemberment",
    "dismembered", "mutilation", "mutilated", "disembowel", "torture", "massacre",
    "mass shooting", "school shooting", "terrorist attack", "bomb making",
    # self-harm
    "suicide", "self harm", "kill myself", "kill yourself",
)  # fmt: skip

# Leetspeak digits and symbols that stand in for letters.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_WORD = re.compile(r"[a-z0-9]+")

Box = tuple[int, int, int, int]
# (x, y, width, height) in pixels of the image given to the detector.
FaceDetector = Callable[[np.ndarray], Sequence[Box]]
# gray uint8 (H, W) -> face boxes.


class BlockedPromptError(ValueError):
    """A prompt matched the blocklist; the message names the blocked term."""

    def __init__(self, term: str) -> None:
        super().__init__(
            f"prompt refused by the guardrail: it contains the blocked term {term!r}. Rephrase the prompt; "
            "the list is configurable with Guardrails(blocklist=PromptBlocklist(...))"
        )
        self.term = term


def normalize_words(text: str) -> list[str]:
    """The words of ``text``: accents stripped, casefolded, leetspeak undone, split at non-alphanumerics."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain.casefold().translate(_LEET))


def _spelled_runs(words: list[str]) -> list[str]:
    """Runs of two or more one-letter words joined up: 'n u d e' and 'n.u.d.e' -> 'nude'."""
    runs, current = [], []
    for word in [*words, ""]:
        if len(word) == 1:
            current.append(word)
            continue
        if len(current) >= 2:
            runs.append("".join(current))
        current = []
    return runs


@dataclass(frozen=True)
class _Term:
    text: str
    words_pattern: re.Pattern[str]
    # whole words, each letter allowed to repeat ('sexxx'), optional plural ending.
    letters_pattern: re.Pattern[str]
    # the letters alone, searched inside spelled-out runs.

    @classmethod
    def compile(cls, text: str) -> _Term:
        words = normalize_words(text)
        if not words:
            raise ValueError(f"blocklist term {text!r} has no letters or digits")
        # 'self harm' -> 's+e+l+f+ h+a+r+m+'
        repeatable = ["".join(f"{re.escape(c)}+" for c in word) for word in words]
        words_pattern = re.compile(r"(?<![a-z0-9])" + " ".join(repeatable) + r"(?:e?s)?(?![a-z0-9])")
        return cls(text, words_pattern, re.compile("".join(repeatable)))


class PromptBlocklist:
    """Refuses prompts containing any of ``words`` or ``extra`` as whole words.

    Matching ignores case, accents, punctuation and spacing between words,
    letter repeats and common leetspeak; a plural 's'/'es' still matches. Words
    spelled out letter by letter ('p o r n') are matched inside the run, so a
    term may also match a spelled-out longer word ('c l a s s' for 'ass'):
    refusing an obfuscated prompt is the safe side.
    """

    def __init__(self, words: Iterable[str] = DEFAULT_BLOCKLIST, extra: Iterable[str] = ()) -> None:
        self.terms = tuple(dict.fromkeys([*words, *extra]))
        self._compiled = [_Term.compile(t) for t in self.terms]

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, include_default: bool = True) -> PromptBlocklist:
        """Terms from a text file, one per line ('#' starts a comment), plus the defaults unless told not."""
        lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines())
        terms = [line for line in lines if line]
        return cls(DEFAULT_BLOCKLIST if include_default else (), extra=terms)

    def find(self, prompt: str) -> str | None:
        """The first blocked term in ``prompt``, or None."""
        words = normalize_words(prompt)
        text, runs = " ".join(words), _spelled_runs(words)
        for term in self._compiled:
            if term.words_pattern.search(text) or any(term.letters_pattern.search(run) for run in runs):
                return term.text
        return None

    def check(self, prompt: str) -> None:
        """Raise ``BlockedPromptError`` naming the term if ``prompt`` contains a blocked one."""
        term = self.find(prompt)
        if term is not None:
            raise BlockedPromptError(term)


class LBPFaceDetector:
    """Frontal faces via scikit-image's multi-block LBP cascade (OpenCV's ``lbpcascade_frontalface``).

    The cascade window is 24 px: smaller faces are missed, so callers upsample
    small frames first (``blur_faces`` does).
    """

    def __init__(self, scale_factor: float = 1.2, min_neighbors: int = 4, min_size: int = 24) -> None:
        self.cascade = Cascade(skimage_data.lbp_frontal_face_cascade_filename())
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def __call__(self, gray: np.ndarray) -> list[Box]:
        """gray: (H, W) uint8 -> face boxes (x, y, w, h)."""
        side = min(gray.shape)
        if side < self.min_size:
            return []
        found = self.cascade.detect_multi_scale(
            img=gray,
            scale_factor=self.scale_factor,
            step_ratio=1.0,
            min_size=(self.min_size, self.min_size),
            max_size=(side, side),
            min_neighbor_number=self.min_neighbors,
        )
        return [(d["c"], d["r"], d["width"], d["height"]) for d in found]


@functools.cache
def default_face_detector() -> LBPFaceDetector:
    """One shared detector: loading the cascade parses its XML."""
    return LBPFaceDetector()


def blur_box(frame: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.2) -> None:
    """Gaussian-blur ``box`` (x, y, w, h) of ``frame`` (H, W, 3) uint8 in place, grown by ``margin`` per side.

    sigma is a quarter of the box side: strong enough that no facial feature survives.
    """
    x, y, w, h = box
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(width, math.ceil(x + w + margin * w)), min(height, math.ceil(y + h + margin * h))
    if x1 <= x0 or y1 <= y0:
        return
    sigma = max(1.0, max(w, h) / 4)
    frame[y0:y1, x0:x1] = cv2.GaussianBlur(frame[y0:y1, x0:x1], (0, 0), sigmaX=sigma, sigmaY=sigma)


def blur_faces(
    frames: np.ndarray, *, detector: FaceDetector | None = None, detect_min_side: int = 192
) -> tuple[np.ndarray, int]:
    """Blur every detected face in a video.

    Args:
        frames: (T, H, W, 3) uint8 RGB; not modified.
        detector: gray (H, W) uint8 -> boxes (x, y, w, h); default ``default_face_detector()``.
        detect_min_side: frames whose shorter side is smaller are upsampled to at least
            this before detection (a face in a 64 px frame is ~10 px, under the 24 px
            cascade window), and the boxes are mapped back.

    Returns:
        The blurred copy (T, H, W, 3) uint8 and the number of face boxes over all frames.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    detector = detector or default_face_detector()
    out = frames.copy()
    height, width = frames.shape[1:3]
    scale = max(1, math.ceil(detect_min_side / min(height, width)))
    num_faces = 0
    for frame in out:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale > 1:
            gray = cv2.resize(gray, (width * scale, height * scale), interpolation=cv2.INTER_LINEAR)
        boxes = list(detector(gray))
        for x, y, w, h in boxes:
            blur_box(frame, (x / scale, y / scale, w / scale, h / scale))
        num_faces += len(boxes)
    return out, num_faces


@dataclass
class Guardrails:
    """The prompt check before generation and the face blur after it, each with a switch."""

    blocklist: PromptBlocklist = field(default_factory=PromptBlocklist)
    prompt_check_enabled: bool = True
    face_blur_enabled: bool = True
    detector: FaceDetector | None = None
    # None: default_face_detector().

    def check_prompt(self, prompt: str | None) -> None:
        """Raise ``BlockedPromptError`` for a blocked prompt; None or '' (no text) passes."""
        if self.prompt_check_enabled and prompt:
            self.blocklist.check(prompt)

    def postprocess(self, frames: np.ndarray) -> np.ndarray:
        """frames: (T, H, W, 3) uint8 -> the same with faces blurred (unchanged when disabled)."""
        return self.postprocess_report(frames)[0]

    def postprocess_report(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """``postprocess`` and how many face boxes it blurred, so a page can say it happened."""
        if not self.face_blur_enabled:
            return frames, 0
        frames, num_faces = blur_faces(frames, detector=self.detector)
        if num_faces:
            logger.info("guardrail blurred %d face detections in %d frames", num_faces, len(frames))
        return frames, num_faces

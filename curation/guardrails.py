"""Generation guardrails: refuse blocked prompts before generating, blur faces after.

Cosmos wraps its world models in a pre-guard on the prompt and a post-guard on
the video that blurs faces (arXiv 2501.03575, guardrails). This is the small offline
version of both:

- ``PromptBlocklist``: case-insensitive matching of a configurable term list on
  normalised text (``normalize_text``: NFKC, Cyrillic / Greek look-alike letters to
  ASCII, accents, zero-width characters and soft hyphens removed), robust to
  obfuscations (spacing, punctuation and separators between letters, letter repeats,
  leetspeak digits, spelled-out letters) and to terms glued to other words.
- ``blur_faces``: detect frontal faces frame by frame and Gaussian-blur them.
  OpenCV 5 dropped ``CascadeClassifier`` and ships no cascades or face models, so
  the default detector is scikit-image's multi-block LBP cascade, which runs
  OpenCV's ``lbpcascade_frontalface`` shipped inside the scikit-image wheel.
  That cascade also fires on rendered scenes (a grey facade in the driving simulator),
  so only confident detections are blurred (``FaceConfidence``: enough merged windows,
  a plausible size, skin colour, and recurring in neighbouring frames), and
  ``Guardrails.postprocess_report`` says how many, for the page to tell the user.
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

# Symbols that stand in for letters, as the digit that stands for the same letter (below).
_SYMBOLS = str.maketrans({"@": "4", "$": "5", "!": "1", "|": "1", "€": "3"})
# Leetspeak: the digits a letter of a term may be written as ('n00d3' for 'nude').
_LEET = {"a": "4", "b": "8", "e": "3", "g": "9", "i": "1", "l": "1", "o": "0", "s": "5", "t": "7", "u": "0"}
_WORD = re.compile(r"[a-z0-9]+")
# Letters of other scripts drawn like ASCII ones (Unicode's confusables, the common subset):
# capitals first (a Greek capital nu is an N, its small letter a v), then small letters.
_CONFUSABLE_CAPITALS = str.maketrans(
    dict(zip("АВЕКМНОРСТХУІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abekmhopctxyijsabezhikmnoptyx", strict=True))
)
_CONFUSABLE_SMALL = str.maketrans(
    dict(zip("аеорсухіјѕԁһԛԝкмнтвїёαεικνορτυχγωıɑɡ", "aeopcyxijsdhqwkmhtbieaeikvoptuxywiag", strict=True))
    # Latin small capitals, which NFKC leaves alone.
    | dict(zip("ᴀʙᴄᴅᴇғɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz", strict=True))
)
# Terms this long or longer also match glued to other words, at the start or end of a longer one
# ('nudebeach', 'robotnude'); shorter ones ('sex', 'ass') only as whole words, as 'Essex',
# 'sextant' and 'assess' would otherwise be refused.
COMPOUND_MIN_LETTERS = 4
# Ordinary words that start or end with a blocked term: never refused for holding it.
COMPOUND_EXCEPTIONS = frozenset((
    "grape", "grapes", "grapefruit", "grapevine", "drape", "drapes", "scrape", "scrapes", "rapeseed",
    "crape", "category", "allegory", "gregory", "lolipop", "denude", "denudes", "asexual", "bisexual",
    "homosexual", "heterosexual", "pansexual", "sexuality", "asexuality", "bisexuality",
))  # fmt: skip

Box = tuple[int, int, int, int]
# (x, y, width, height) in pixels of the image given to the detector.
FaceDetector = Callable[[np.ndarray], Sequence[Box]]
# gray uint8 (H, W) -> face boxes.

DETECT_MIN_SIDE = 192
# frames are upsampled to at least this shorter side before detection (see ``blur_faces``).
_GROUP_OVERLAP = 0.5
# scikit-image's default: windows (and detections in neighbouring frames) overlapping more than
# this, intersection over the smaller box, are one face.
_NO_MERGE = 1.5
# an intersection score no two boxes reach: scikit-image then merges no windows.

# What makes a detection confident (``FaceConfidence``), chosen with benchmarks/face_blur.py: no
# blurred frame on the simulators' tuning clips and the most face frames found.
MIN_NEIGHBORS = 3
# merged cascade windows (OpenCV's minNeighbors); one fewer than the old rule's 4, as size, skin
# and persistence now reject what the count let through.
MIN_SKIN = 0.7
# share of skin-coloured pixels in the box's centre.
MIN_FACE_SIDE = 10.0
# box side in frame pixels.
PERSIST_WINDOW = 3
PERSIST_FRAMES = 3
# a detection must recur (overlapping) in PERSIST_FRAMES of the 2 * PERSIST_WINDOW + 1 frames around it.
SKIN_CR = (133, 173)
SKIN_CB = (77, 127)
# Chai and Ngan's (1999) skin cluster in YCrCb chroma; chroma barely depends on brightness, so it
# holds dark skin as well as light.
SKIN_CORE = 0.6
# the box's centre, 60 % of its side: on a frontal face forehead, eyes, cheeks and nose, mostly skin.
GRAY_CHROMA = 3.0
# mean |Cr - 128| + |Cb - 128| under which a frame is black and white and skin can't be told; the
# simulators' frames are all above 10.


class BlockedPromptError(ValueError):
    """A prompt matched the blocklist; the message names the blocked term."""

    def __init__(self, term: str) -> None:
        super().__init__(
            f"prompt refused by the guardrail: it contains the blocked term {term!r}. Rephrase the prompt; "
            "the list is configurable with Guardrails(blocklist=PromptBlocklist(...))"
        )
        self.term = term


def normalize_text(text: str) -> str:
    """``text`` as the blocklist reads it: NFKC (full-width and styled letters to plain ones),
    invisible format characters removed (zero-width spaces and joiners, soft hyphens), look-alike
    Cyrillic and Greek letters as their ASCII twins, casefolded, accents stripped, and leetspeak
    symbols as the digits for the same letters (``@`` as ``4``)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.translate(_CONFUSABLE_CAPITALS).casefold().translate(_CONFUSABLE_SMALL)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_SYMBOLS)


def normalize_words(text: str) -> list[str]:
    """The words of ``normalize_text(text)``: runs of ASCII letters and digits."""
    return _WORD.findall(normalize_text(text))


def joined_tokens(text: str) -> list[str]:
    """The whitespace-separated pieces of ``normalize_text(text)``, each with its separators
    dropped: 'nu-de', 'n.u.d.e' and 'nu_de' -> 'nude'."""
    tokens = ("".join(_WORD.findall(piece)) for piece in normalize_text(text).split())
    return [t for t in tokens if t]


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


def _letters(word: str) -> str:
    """'nude' -> 'n+u+d+e+' with each letter's leetspeak digits: '[n]+[u0]+[d]+[e3]+'."""
    return "".join(f"[{re.escape(c)}{_LEET.get(c, '')}]+" for c in word)


@dataclass(frozen=True)
class _Term:
    text: str
    words_pattern: re.Pattern[str]
    # whole words, each letter allowed to repeat ('sexxx'), optional plural ending.
    letters_pattern: re.Pattern[str]
    # the letters alone, searched inside spelled-out runs.
    token_pattern: re.Pattern[str]
    # the letters as a whole separator-joined token ('nu-de'), or for long terms at the start or
    # end of one ('nudebeach', 'robotnude').

    @classmethod
    def compile(cls, text: str) -> _Term:
        words = normalize_words(text)
        if not words:
            raise ValueError(f"blocklist term {text!r} has no letters or digits")
        # 'self harm' -> 's+e+l+f+ h+a+r+m+'
        repeatable = [_letters(word) for word in words]
        words_pattern = re.compile(r"(?<![a-z0-9])" + " ".join(repeatable) + r"(?:e?s)?(?![a-z0-9])")
        letters = "".join(repeatable)
        if len("".join(words)) >= COMPOUND_MIN_LETTERS:
            token = rf"(?:{letters}.*|.*{letters}(?:e?s)?)"
        else:
            token = rf"{letters}(?:e?s)?"
        return cls(text, words_pattern, re.compile(letters), re.compile(token))

    def in_token(self, token: str) -> bool:
        return token not in COMPOUND_EXCEPTIONS and self.token_pattern.fullmatch(token) is not None


class PromptBlocklist:
    """Refuses prompts containing any of ``words`` or ``extra``.

    The prompt is normalised first (``normalize_text``: look-alike letters, invisible
    characters, accents). Matching ignores case, punctuation and spacing between words,
    separators between letters ('nu-de'), letter repeats and leetspeak digits ('n00d3'); a
    plural 's'/'es' still matches. Words spelled out letter by letter ('p o r n') are matched
    inside the run, so a term may also match a spelled-out longer word ('c l a s s' for 'ass').

    False positives, the policy: a term of ``COMPOUND_MIN_LETTERS`` or more letters is refused
    at the start or end of a longer word too ('nudebeach'), except in the ordinary words of
    ``COMPOUND_EXCEPTIONS`` ('grapes', 'category'); inside a word it is not ('therapeutic'), and
    shorter terms only as whole words ('Essex'). What is obfuscated is refused even if a reading
    of it is innocent: the safe side. A deployment extends the list (``extra``, ``from_file``),
    not the code.
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
        tokens = set(words) | set(joined_tokens(prompt))
        for term in self._compiled:
            if (
                term.words_pattern.search(text)
                or any(term.letters_pattern.search(run) for run in runs)
                or any(term.in_token(token) for token in tokens)
            ):
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
    small frames first (``blur_faces`` does). ``detect_scored`` also says how many
    cascade windows each face merges, the cascade's own measure of confidence.
    """

    def __init__(self, scale_factor: float = 1.2, min_neighbors: int = 4, min_size: int = 24) -> None:
        self.cascade = Cascade(skimage_data.lbp_frontal_face_cascade_filename())
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def windows(self, gray: np.ndarray) -> np.ndarray:
        """gray: (H, W) uint8 -> every window the cascade accepts, (N, 4) int (x, y, w, h), ungrouped.

        An intersection threshold above 1 keeps scikit-image from merging any two windows, so
        ``group_windows`` can count them (scikit-image's grouping drops the counts).
        """
        side = min(gray.shape)
        if side < self.min_size:
            return np.zeros((0, 4), dtype=np.int64)
        found = self.cascade.detect_multi_scale(
            img=gray,
            scale_factor=self.scale_factor,
            step_ratio=1.0,
            min_size=(self.min_size, self.min_size),
            max_size=(side, side),
            min_neighbor_number=1,
            intersection_score_threshold=_NO_MERGE,
        )
        boxes = [(d["c"], d["r"], d["width"], d["height"]) for d in found]
        return np.array(boxes, dtype=np.int64).reshape(-1, 4)

    def detect_scored(self, gray: np.ndarray, min_neighbors: int | None = None) -> list[tuple[Box, int]]:
        """gray: (H, W) uint8 -> [(face box (x, y, w, h), windows merged into it)].

        Faces of fewer than ``min_neighbors`` windows (None: ``self.min_neighbors``) are left out.
        """
        return group_windows(
            self.windows(gray), self.min_neighbors if min_neighbors is None else min_neighbors
        )

    def __call__(self, gray: np.ndarray) -> list[Box]:
        """gray: (H, W) uint8 -> face boxes (x, y, w, h)."""
        return [box for box, _ in self.detect_scored(gray)]


def group_windows(
    windows: np.ndarray, min_neighbors: int = 1, overlap: float = _GROUP_OVERLAP
) -> list[tuple[Box, int]]:
    """Merge cascade windows into faces the way scikit-image does, keeping how many each merges.

    Each window, in order, joins the cluster whose mean box it overlaps most (intersection over the
    smaller box above ``overlap``) or starts its own; clusters of at least ``min_neighbors`` windows
    are returned as (mean box, count).
    """
    sums: list[np.ndarray] = []
    counts: list[int] = []
    for window in np.asarray(windows, dtype=np.int64).reshape(-1, 4):
        best, best_score = -1, overlap
        for i, (total, count) in enumerate(zip(sums, counts, strict=True)):
            score = _intersection_score(window, total // count)
            if score > best_score:
                best, best_score = i, score
        if best < 0:
            sums.append(window.copy())
            counts.append(1)
        else:
            sums[best] += window
            counts[best] += 1
    return [
        (tuple(int(v) for v in total // count), count)
        for total, count in zip(sums, counts, strict=True)
        if count >= min_neighbors
    ]


def _intersection_score(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection of boxes ``a`` and ``b`` (x, y, w, h) over the smaller one's area."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return float(ix * iy / min(a[2] * a[3], b[2] * b[3]))


@functools.cache
def default_face_detector() -> LBPFaceDetector:
    """One shared detector: loading the cascade parses its XML."""
    return LBPFaceDetector()


@dataclass(frozen=True)
class FaceDetection:
    """One face found in one frame, with what ``FaceConfidence`` judges it by."""

    box: tuple[float, float, float, float]
    # (x, y, w, h) in the frame's pixels.
    neighbors: int | None
    # cascade windows merged into it; None from a detector that gives no count.
    skin: float | None
    # ``skin_share`` of the box; None in a black-and-white frame, where skin can't be told.


def detection_scale(height: int, width: int, detect_min_side: int) -> int:
    """The integer factor ``blur_faces`` upsamples a (height, width) frame by before detection."""
    return max(1, math.ceil(detect_min_side / min(height, width)))


def detection_gray(frame: np.ndarray, scale: int) -> np.ndarray:
    """frame: (H, W, 3) uint8 RGB -> the gray image the detector sees, upsampled ``scale`` times."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale > 1:
        height, width = gray.shape
        gray = cv2.resize(gray, (width * scale, height * scale), interpolation=cv2.INTER_LINEAR)
    return gray


def detect_faces(
    frames: np.ndarray,
    detector: FaceDetector | None = None,
    detect_min_side: int = DETECT_MIN_SIDE,
    min_neighbors: int | None = None,
) -> list[list[FaceDetection]]:
    """Every face ``detector`` finds in each frame (T, H, W, 3) uint8, boxes mapped back to frame pixels.

    Detectors with a ``detect_scored`` method (``LBPFaceDetector``) give their window counts and
    take ``min_neighbors`` (None: their own); other detectors' boxes come with no count.
    """
    detector = detector or default_face_detector()
    scale = detection_scale(*frames.shape[1:3], detect_min_side)
    scored = _scored(detector)
    found = []
    for frame in frames:
        boxes = scored(detection_gray(frame, scale), min_neighbors)
        found.append(measure_detections(frame, [(tuple(v / scale for v in box), n) for box, n in boxes]))
    return found


def _scored(detector: FaceDetector) -> Callable[[np.ndarray, int | None], list[tuple[Box, int | None]]]:
    """``detector.detect_scored``, or for a detector that gives no counts, its boxes with None."""
    if hasattr(detector, "detect_scored"):
        return detector.detect_scored
    return lambda gray, _min_neighbors: [(box, None) for box in detector(gray)]


def measure_detections(
    frame: np.ndarray, boxes: Sequence[tuple[tuple[float, float, float, float], int | None]]
) -> list[FaceDetection]:
    """``FaceDetection``s in ``frame`` (H, W, 3) uint8 of (box (x, y, w, h) in its pixels, window count)."""
    if not boxes:
        return []
    grayscale = is_grayscale(frame)
    return [FaceDetection(box, n, None if grayscale else skin_share(frame, box)) for box, n in boxes]


def is_grayscale(frame: np.ndarray) -> bool:
    """Whether an RGB uint8 frame is black and white, its mean chroma under ``GRAY_CHROMA``."""
    chroma = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.int16) - 128
    return float(np.abs(chroma).sum(-1).mean()) < GRAY_CHROMA


def skin_share(frame: np.ndarray, box: Sequence[float], core: float = SKIN_CORE) -> float:
    """Skin-coloured share (``SKIN_CR``, ``SKIN_CB``) of the centre ``core`` of ``box`` (x, y, w, h).

    A frontal face's centre is mostly skin whatever its lighting; the cascade's false positives on
    rendered scenes (grey facades, asphalt, tables) mostly are not skin-coloured.
    """
    x, y, w, h = box
    height, width = frame.shape[:2]
    cx, cy, hw, hh = x + w / 2, y + h / 2, core * w / 2, core * h / 2
    x0, y0 = max(0, int(cx - hw)), max(0, int(cy - hh))
    x1, y1 = min(width, math.ceil(cx + hw)), min(height, math.ceil(cy + hh))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    ycrcb = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    return float(skin.mean())


@dataclass(frozen=True)
class FaceConfidence:
    """When a detection is confident enough to blur.

    Upsampled 64 px simulator frames, the more so once generated (noise, compression), give
    the cascade face-like texture: a grey building's dark window bands merge as many windows as
    a real face of that size does, and stay put for frames. So a detection needs, besides the
    count, a plausible size, a face's colour and persistence.

    Attributes:
        min_neighbors: cascade windows merged into it; detectors that give no count skip this.
        min_skin: share of skin-coloured pixels in the box's centre (``skin_share``); black-and-white
            frames (``is_grayscale``), where skin can't be told, skip this.
        min_side: box side in frame pixels. The cascade's smallest windows on a 3x upsampled 64 px
            frame are 8 px: there rendered texture (a sandy floor, a brick wall) passes for a face,
            and a face that small is not recognisable anyway.
        window, min_frames: it must overlap a detection passing the checks above in at least
            ``min_frames`` of the ``2 * window + 1`` frames centred on it, its own frame included;
            a shorter video needs all its frames.
    """

    min_neighbors: int = MIN_NEIGHBORS
    min_skin: float = MIN_SKIN
    min_side: float = MIN_FACE_SIDE
    window: int = PERSIST_WINDOW
    min_frames: int = PERSIST_FRAMES

    def plausible(self, detection: FaceDetection) -> bool:
        """The single-frame checks: window count, size and skin colour."""
        if detection.neighbors is not None and detection.neighbors < self.min_neighbors:
            return False
        if min(detection.box[2:]) < self.min_side:
            return False
        return detection.skin is None or detection.skin >= self.min_skin

    def select(self, detections: Sequence[Sequence[FaceDetection]]) -> list[list[FaceDetection]]:
        """Of ``detections`` (one list per frame of a video), those confident enough to blur."""
        plausible = [[d for d in found if self.plausible(d)] for found in detections]
        need = min(self.min_frames, len(detections))
        kept = []
        for t, found in enumerate(plausible):
            near = plausible[max(0, t - self.window) : t + self.window + 1]
            kept.append([d for d in found if sum(_seen_in(d, others) for others in near) >= need])
        return kept


def _seen_in(detection: FaceDetection, others: Sequence[FaceDetection]) -> bool:
    """Whether any of ``others`` overlaps ``detection`` (intersection over the smaller box above 0.5)."""
    return any(_intersection_score(detection.box, o.box) > _GROUP_OVERLAP for o in others)


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
    frames: np.ndarray,
    *,
    detector: FaceDetector | None = None,
    detect_min_side: int = DETECT_MIN_SIDE,
    confidence: FaceConfidence | None = FaceConfidence(),
) -> tuple[np.ndarray, int]:
    """Blur every confidently detected face in a video.

    Args:
        frames: (T, H, W, 3) uint8 RGB; not modified.
        detector: gray (H, W) uint8 -> boxes (x, y, w, h); default ``default_face_detector()``.
        detect_min_side: frames whose shorter side is smaller are upsampled to at least
            this before detection (a face in a 64 px frame is ~10 px, under the 24 px
            cascade window), and the boxes are mapped back.
        confidence: which detections to blur; None blurs every one the detector reports (the
            old rule, which also blurred the cascade's false positives on rendered scenes).

    Returns:
        The blurred copy (T, H, W, 3) uint8 and the number of face boxes blurred over all frames.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    min_neighbors = None if confidence is None else confidence.min_neighbors
    detections = detect_faces(frames, detector, detect_min_side, min_neighbors)
    if confidence is not None:
        detections = confidence.select(detections)
    out = frames.copy()
    for frame, found in zip(out, detections, strict=True):
        for detection in found:
            blur_box(frame, detection.box)
    return out, sum(len(found) for found in detections)


@dataclass
class Guardrails:
    """The prompt check before generation and the face blur after it, each with a switch."""

    blocklist: PromptBlocklist = field(default_factory=PromptBlocklist)
    prompt_check_enabled: bool = True
    face_blur_enabled: bool = True
    detector: FaceDetector | None = None
    # None: default_face_detector().
    confidence: FaceConfidence | None = field(default_factory=FaceConfidence)
    # which detections are blurred; None: every one the detector reports.

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
        frames, num_faces = blur_faces(frames, detector=self.detector, confidence=self.confidence)
        if num_faces:
            logger.info("guardrail blurred %d confident face detections in %d frames", num_faces, len(frames))
        return frames, num_faces

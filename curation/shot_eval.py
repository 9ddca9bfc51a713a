"""Transition precision / recall / F1 against labelled footage (``labels.json``).

Matching, as in the shot-boundary literature (TRECVID; TransNetV2, arXiv 2008.04838,
section 4): a labelled hard cut is found when a predicted transition has a boundary
within ``tolerance`` (2) frames of it; a labelled gradual transition (dissolve, fade)
is found when a predicted transition overlaps it. Each prediction matches at most
one label and the reverse, closest pairs first; unmatched predictions are false
positives, unmatched labels false negatives.

Boundaries are counted between frames: boundary ``i`` lies between frames ``i`` and
``i + 1``, and a transition ``(start, end)`` covers boundaries ``start .. end - 1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from curation.shots import Transition

TOLERANCE = 2


@dataclass
class Counts:
    """True positives, false positives and false negatives, with the scores they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class ShotScores:
    """Scores over all videos, plus the recall of each labelled transition type."""

    overall: Counts = field(default_factory=Counts)
    found: dict[str, int] = field(default_factory=dict)
    labelled: dict[str, int] = field(default_factory=dict)

    def recall_of(self, kind: str) -> float:
        return self.found.get(kind, 0) / self.labelled[kind] if self.labelled.get(kind) else 1.0

    def as_dict(self) -> dict:
        out = self.overall.as_dict()
        out["recall_by_type"] = {k: round(self.recall_of(k), 4) for k in sorted(self.labelled)}
        out["labelled_by_type"] = dict(sorted(self.labelled.items()))
        return out


def _gap(label: Mapping, pred: Transition, tolerance: int) -> int | None:
    """How far ``pred`` is from ``label`` (0 = overlapping), or None when they do not match."""
    lo, hi = int(label["start"]), int(label["end"]) - 1  # the label's boundaries
    plo, phi = pred.start, pred.end - 1
    slack = tolerance if label["type"] == "cut" else 0
    gap = max(lo - phi, plo - hi, 0)
    return gap if gap <= slack else None


def match_video(
    labels: Sequence[Mapping], predictions: Sequence[Transition], *, tolerance: int = TOLERANCE
) -> tuple[Counts, list[Mapping]]:
    """Match one video's predictions to its labelled transitions.

    Returns:
        counts: tp / fp / fn for this video; found: the labels that were matched.
    """
    pairs = []
    for i, label in enumerate(labels):
        for j, pred in enumerate(predictions):
            gap = _gap(label, pred, tolerance)
            if gap is not None:
                centre = abs((label["start"] + label["end"]) - (pred.start + pred.end))
                pairs.append((gap, centre, i, j))
    used_labels: set[int] = set()
    used_preds: set[int] = set()
    for _, _, i, j in sorted(pairs):
        if i not in used_labels and j not in used_preds:
            used_labels.add(i)
            used_preds.add(j)
    counts = Counts(
        tp=len(used_labels), fp=len(predictions) - len(used_preds), fn=len(labels) - len(used_labels)
    )
    return counts, [labels[i] for i in sorted(used_labels)]


def evaluate(
    labels: Mapping[str, Mapping],
    predictions: Mapping[str, Sequence[Transition]],
    *,
    tolerance: int = TOLERANCE,
) -> ShotScores:
    """Score predictions for every labelled video.

    Args:
        labels: video name -> its labels (``{"transitions": [{"type", "start", "end"}, ...]}``).
        predictions: video name -> predicted transitions; every labelled video needs an entry.
    """
    missing = sorted(set(labels) - set(predictions))
    if missing:
        raise ValueError(f"no predictions for {len(missing)} labelled video(s), e.g. {missing[0]!r}")
    scores = ShotScores()
    for name, video in labels.items():
        transitions = video["transitions"]
        counts, found = match_video(transitions, predictions[name], tolerance=tolerance)
        scores.overall.add(counts)
        for t in transitions:
            scores.labelled[t["type"]] = scores.labelled.get(t["type"], 0) + 1
        for t in found:
            scores.found[t["type"]] = scores.found.get(t["type"], 0) + 1
    return scores


def load_labels(path: str | os.PathLike) -> dict[str, dict]:
    """The per-video labels of a ``labels.json`` (``{"videos": {name: labels}}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such labels file; write one with `worldfm simulate raw --out DIR` (DIR/labels.json)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("transitions"), list) for v in videos.values()
    ):
        raise ValueError(
            f"{path} is not a labels file: it needs {{'videos': {{name: {{'transitions': [...]}}}}}}, "
            "as `worldfm simulate raw` writes"
        )
    return videos


@dataclass
class SplitterRun:
    """A splitter's predictions over a labelled set, and what they cost."""

    name: str
    predictions: dict[str, list[Transition]]
    frames: int
    seconds: float
    network_frames: int | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def run_splitter(splitter, labels: Mapping[str, Mapping], video_dir: str | os.PathLike) -> SplitterRun:  # noqa: ANN001
    """Run ``splitter`` (``curation.splitters``) on every labelled video, timing decode + detection.

    Model construction is outside the timing (it happens once per worker in a run).
    """
    import time

    from curation.splitters import decode_for_splitting

    if hasattr(splitter, "net"):
        splitter.net  # noqa: B018 - build the network before the clock starts
    predictions: dict[str, list[Transition]] = {}
    frames = 0
    start = time.perf_counter()
    for name, video in labels.items():
        path = Path(video_dir) / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: labelled video not found; pass the folder holding it (--videos)"
            )
        decoded = decode_for_splitting(path)
        frames += len(decoded)
        predictions[name] = splitter.detect(decoded, float(video.get("fps", 24.0)))
    seconds = time.perf_counter() - start
    return SplitterRun(
        splitter.name, predictions, frames, seconds, getattr(splitter, "frames_to_network", None)
    )

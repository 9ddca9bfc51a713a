"""Shot detection: F1 and frames/s of our cascade vs raw TransNetV2 and raw PySceneDetect, one table.

    python benchmarks/shot_detection.py [--videos 12] [--seed 23] [--data data/bench/shots]

The footage is ``worldfm simulate raw`` (hard cuts, dissolves, fades through black,
static shots, burned-in text; rendered once into ``--data/clean``). A second copy,
``--data/hard``, adds hard negatives inside shots, away from every transition:
white flashes (1-2 frames) and whip pans (4 frames smeared sideways and back). They
are not transitions, so every detection on them is a false positive.

Rows:

- ``cascade (ours)``: ``CascadeSplitter``, the default of ``worldfm curate``.
- ``TransNetV2 + extents (ours)``: the network on every frame, gradual extents from its
  many-hot head (``--splitter transnetv2``).
- ``TransNetV2 raw``: the package as shipped: ``predict_frames``, one-frame head > 0.5.
- ``PySceneDetect content`` / ``adaptive``: ``ContentDetector`` / ``AdaptiveDetector``
  with their default settings.

frames/s counts decoding (PyAV, 48x27) plus detection, one core; building the
network is not timed. Both TransNetV2 rows share one pass of the network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from curation.shot_eval import evaluate, load_labels
from curation.shots import normalise, transitions_from_runs
from curation.splitters import (
    MERGE_GAP,
    CascadeSplitter,
    PySceneDetectSplitter,
    _IsolatedTransNetV2,
    decode_for_splitting,
    read_network,
)
from curation.video_io import read_video, write_video
from envs.sim.raw import write_raw_footage


def _hard_negatives(frames: np.ndarray, video: dict, rng: np.random.Generator) -> np.ndarray:
    """Three flashes and one whip pan inside shots, at least 12 frames from any transition."""
    frames = frames.copy()
    n, _, width, _ = frames.shape
    allowed = np.zeros(n, bool)
    for shot in video["shots"]:
        allowed[shot["start"] + 12 : shot["end"] - 12] = True
    spots = np.flatnonzero(allowed)
    if len(spots) == 0:
        return frames
    for k, t in enumerate(sorted(rng.choice(spots, size=min(4, len(spots)), replace=False))):
        if k < 3:  # a flash: one or two near-white frames
            for j in range(t, min(n, t + 1 + k % 2)):
                frames[j] = np.clip(frames[j] * 0.25 + 230, 0, 255).astype(np.uint8)
        else:  # a whip pan: four frames smeared sideways and back
            for j, shift in zip(range(t, min(n, t + 4)), (0.25, 0.5, 0.5, 0.25), strict=False):
                rolled = np.roll(frames[j], int(shift * width), axis=1)
                frames[j] = cv2.blur(rolled, (max(3, width // 3), 1))
    return frames


def make_sets(data: Path, videos: int, seed: int) -> dict[str, Path]:
    clean = data / "clean"
    labels_path = write_raw_footage(
        clean, videos, seed=seed, size=64, min_seconds=20, max_seconds=40, long_fraction=0
    )
    hard = data / "hard"
    labels = load_labels(labels_path)
    if (
        not (hard / "labels.json").exists()
        or json.loads((hard / "labels.json").read_text())["videos"] != labels
    ):
        hard.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for name, video in labels.items():
            frames, _ = read_video(clean / name)
            write_video(hard / name, _hard_negatives(frames, video, rng), video["fps"])
        shutil.copy(labels_path, hard / "labels.json")
    return {"clean": clean, "hard negatives": hard}


def _timed(fn, labels: dict, folder: Path) -> tuple[dict, float, int]:  # noqa: ANN001
    predictions, frames, start = {}, 0, time.perf_counter()
    for name, video in labels.items():
        decoded = decode_for_splitting(folder / name)
        frames += len(decoded)
        predictions[name] = fn(decoded, video["fps"])
    return predictions, time.perf_counter() - start, frames


def run_set(folder: Path, net: _IsolatedTransNetV2) -> list[dict]:
    labels = load_labels(folder / "labels.json")
    rows = []

    def add(name: str, predictions: dict, seconds: float, frames: int, network: int | None = None) -> None:
        scores = evaluate(labels, predictions)
        rows.append(
            {
                "splitter": name,
                **scores.as_dict(),
                "fps": frames / seconds,
                "network_share": network,
                "frames": frames,
                "predictions": predictions,  # for per-video figures (real_shots.py)
            }
        )

    cascade = CascadeSplitter()
    cascade._net = net
    predictions, seconds, frames = _timed(cascade.detect, labels, folder)
    add("cascade (ours)", predictions, seconds, frames, cascade.frames_to_network / frames)

    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def network(decoded: np.ndarray, fps: float) -> list:
        outputs[str(len(outputs))] = net.predict(decoded)
        return []

    _, seconds, frames = _timed(network, labels, folder)
    ours, raw = {}, {}
    for (name, video), (single, many) in zip(labels.items(), outputs.values(), strict=True):
        ours[name] = normalise(read_network(single, many), video["num_frames"], gap=MERGE_GAP)
        raw[name] = transitions_from_runs(single > 0.5)
    add("TransNetV2 + extents (ours)", ours, seconds, frames, 1.0)
    add("TransNetV2 raw", raw, seconds, frames, 1.0)
    for detector in ("content", "adaptive"):
        predictions, seconds, frames = _timed(PySceneDetectSplitter(detector).detect, labels, folder)
        add(f"PySceneDetect {detector}", predictions, seconds, frames)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--data", default="data/bench/shots")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = make_sets(Path(args.data), args.videos, args.seed)
    net = _IsolatedTransNetV2()
    print(
        "| set | splitter | precision | recall | F1 | R cut | R dissolve | R fade | frames/s | to network |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for set_name, folder in sets.items():
        for r in run_set(folder, net):
            rec = r["recall_by_type"]
            share = "" if r["network_share"] is None else f"{r['network_share']:.0%}"
            print(
                f"| {set_name} | {r['splitter']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                f"{r['f1']:.3f} | "
                f"{rec.get('cut', 1):.3f} | {rec.get('dissolve', 1):.3f} | {rec.get('fade', 1):.3f} | "
                f"{r['fps']:.0f} | {share} |",
                flush=True,
            )
    frames = sum(v["num_frames"] for v in load_labels(sets["clean"] / "labels.json").values())
    print(f"\n{args.videos} videos, {frames} frames per set, seed {args.seed}; one CPU thread.")


if __name__ == "__main__":
    main()

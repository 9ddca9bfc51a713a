"""Visual quality on synthetic degradations: how often the score ranks degraded below clean, one table.

    python benchmarks/quality_ranking.py [--clips 40] [--seed 0] [--size 96]

Clean clips are ``worldfm simulate orbit`` episodes (2 s at 24 fps, every camera
path, a new random scene each) encoded as the curate transcode does (H.264, crf 18).
Each is degraded five ways, then encoded the same way:

- ``blur``: Gaussian blur, sigma 1.5 px;
- ``noise``: additive Gaussian noise, sigma 12 grey levels, new every frame;
- ``under-exposed``: intensities times 0.35;
- ``over-exposed``: intensities times 1.8 plus 60, clipped;
- ``compressed``: encoded at crf 45 instead of 18.

A pair (clean, degraded) is ranked right when the degraded clip scores lower.
Rows: the share of pairs ranked right per degradation and over all (want >= 95%),
for our no-reference score (``curation.quality``) and for two one-measure
baselines: sharpness alone (variance-of-gradient style blur detectors) and RMS
contrast alone.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from curation.quality import QualityConfig, video_quality
from curation.video_io import encode_video
from envs.sim.orbit import FPS, generate_episodes


def degrade(frames: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Degraded frames (T, H, W, 3) uint8 and the crf to encode them at."""
    x = frames.astype(np.float32)
    if kind == "blur":
        return np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames]), 18
    if kind == "noise":
        return np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.uint8), 18
    if kind == "under-exposed":
        return np.clip(x * 0.35, 0, 255).astype(np.uint8), 18
    if kind == "over-exposed":
        return np.clip(x * 1.8 + 60, 0, 255).astype(np.uint8), 18
    if kind == "compressed":
        return frames, 45
    raise ValueError(f"unknown degradation {kind!r}")


DEGRADATIONS = ("blur", "noise", "under-exposed", "over-exposed", "compressed")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=96, help="frame height and width, pixels")
    args = parser.parse_args()
    config = QualityConfig()
    rng = np.random.default_rng(args.seed)
    right = {name: {k: [] for k in DEGRADATIONS} for name in ("ours", "sharpness", "contrast")}
    scores: dict[str, list[float]] = {k: [] for k in ("clean", *DEGRADATIONS)}
    start, measured = time.perf_counter(), 0
    for ep in generate_episodes(args.clips, size=args.size, seed=args.seed):
        frames = ep.frames["main"]
        clean = video_quality(encode_video(frames, FPS, crf=18), config)
        scores["clean"].append(clean["score"])
        for kind in DEGRADATIONS:
            bad_frames, crf = degrade(frames, kind, rng)
            bad = video_quality(encode_video(bad_frames, FPS, crf=crf), config)
            scores[kind].append(bad["score"])
            right["ours"][kind].append(bad["score"] < clean["score"])
            right["sharpness"][kind].append(bad["sharpness"] < clean["sharpness"])
            right["contrast"][kind].append(bad["contrast"] < clean["contrast"])
            measured += 1
        measured += 1
    seconds = time.perf_counter() - start
    print(f"{args.clips} clean orbit clips at {args.size}x{args.size}, seed {args.seed}, 5 degradations each")
    print("| degradation | pairs | ours | sharpness only | contrast only | median score (ours) |")
    print("|---|---|---|---|---|---|")
    print(f"| clean | | | | | {np.median(scores['clean']):.3f} |")
    for kind in DEGRADATIONS:
        cells = " | ".join(f"{np.mean(right[name][kind]):.0%}" for name in right)
        print(f"| {kind} | {len(right['ours'][kind])} | {cells} | {np.median(scores[kind]):.3f} |")
    totals = " | ".join(f"**{np.mean(sum(right[name].values(), [])):.1%}**" for name in right)
    print(f"| **all** | {sum(len(v) for v in right['ours'].values())} | {totals} | |")
    print(f"{measured / seconds:.1f} clips/s (decode + measures, 1 core, clip building included)")


if __name__ == "__main__":
    main()

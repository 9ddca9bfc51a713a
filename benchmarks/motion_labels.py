"""Motion labels vs known camera paths: accuracy per label, ours vs a translation-only fit, one table.

    python benchmarks/motion_labels.py [--clips-per-path 10] [--seed 0] [--size 64]

Clips are ``worldfm simulate orbit`` episodes (2 s at 24 fps, a new random scene
each), one camera path per clip, encoded as the curate transcode does (H.264,
crf 18) and measured from the mp4 as the ``motion`` stage does (``video_motion``).
Every path of ``envs.sim.camera_paths.MOTIONS`` has a known label; a dolly moves the
image as a zoom does, so ``dolly_in`` / ``dolly_out`` expect ``zoom_in`` / ``zoom_out``.
Two more known paths are rendered here, in the same scenes:

- ``shaky``: the orbit camera driven by random pan and tilt velocities that flip sign
  every one to three frames (a hand-held wobble with no net direction);
- ``object_motion``: a still camera with a textured block (cut from another scene)
  sliding across the frame.

Rows: accuracy per path (want >= 90% over the orbit paths), then the totals.
``translation only`` labels each clip from its mean flow vector alone (static, pan,
tilt), the baseline that a global motion fit improves on.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from curation.motion import MotionConfig, video_motion
from curation.video_io import encode_video
from envs.sim.camera_paths import MOTIONS
from envs.sim.orbit import FPS, OrbitSimEnv, generate_episodes

EXPECTED = {m: {"dolly_in": "zoom_in", "dolly_out": "zoom_out"}.get(m, m) for m in MOTIONS}
EXPECTED |= {"shaky": "shaky", "object_motion": "object_motion"}
FRAMES = 48


def shaky_clip(rng: np.random.Generator, size: int) -> np.ndarray:
    """A hand-held wobble: pan and tilt velocities flipping sign every 1-3 frames (T, H, W, 3)."""
    env = OrbitSimEnv(height=size)
    try:
        frame, _ = env.reset(seed=int(rng.integers(2**31)))
        frames = [frame]
        signs = rng.choice([-1.0, 1.0], 2)
        for _ in range(FRAMES - 1):
            flip = rng.random(2) < 0.5
            signs = np.where(flip, -signs, signs)
            action = np.zeros(5, np.float32)
            action[2:4] = signs * rng.uniform(0.4, 1.0, 2)
            frames.append(env.step(action)[0])
    finally:
        env.close()
    return np.stack(frames)


def object_clip(rng: np.random.Generator, size: int) -> np.ndarray:
    """A still camera on a still scene with a textured block sliding across it (T, H, W, 3)."""
    first, other = (
        ep.frames["main"][0]
        for ep in generate_episodes(2, size=size, seed=int(rng.integers(2**31)), frames_per_episode=1)
    )
    side = size // 3
    block = other[size // 3 : size // 3 + side, size // 3 : size // 3 + side]
    y = int(rng.integers(0, size - side))
    direction = rng.choice([-1, 1])
    frames = []
    for t in range(FRAMES):
        x = int(round((t / (FRAMES - 1)) * (size - side)))
        x = x if direction > 0 else size - side - x
        frame = first.copy()
        frame[y : y + side, x : x + side] = block
        frames.append(frame)
    return np.stack(frames)


def translation_only(m: dict, config: MotionConfig) -> str:
    """The baseline: static below the static speed, else the mean flow vector's axis and sign."""
    if m["speed"] < config.static_speed:
        return "static"
    pan, tilt = m["pan"], m["tilt"]
    if abs(pan) >= abs(tilt):
        return "pan_right" if pan > 0 else "pan_left"
    return "tilt_up" if tilt > 0 else "tilt_down"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips-per-path", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64, help="frame height and width, pixels")
    parser.add_argument("--pair-seconds", type=float, default=MotionConfig.pair_seconds)
    parser.add_argument("--num-pairs", type=int, default=MotionConfig.num_pairs)
    args = parser.parse_args()
    config = MotionConfig(pair_seconds=args.pair_seconds, num_pairs=args.num_pairs)
    clips: list[tuple[str, np.ndarray]] = []
    for k, motion in enumerate(MOTIONS):
        for ep in generate_episodes(
            args.clips_per_path, size=args.size, seed=args.seed * 100 + k, motions=(motion,)
        ):
            clips.append((motion, ep.frames["main"]))
    rng = np.random.default_rng(args.seed)
    for _ in range(args.clips_per_path):
        clips.append(("shaky", shaky_clip(rng, args.size)))
        clips.append(("object_motion", object_clip(rng, args.size)))

    start = time.perf_counter()
    results = []
    for path, frames in clips:
        m = video_motion(encode_video(frames, FPS, crf=18), config)
        results.append((path, m["label"], translation_only(m, config)))
    seconds = time.perf_counter() - start

    print(f"{len(clips)} clips of {FRAMES} frames at {args.size}x{args.size}, seed {args.seed}")
    print("| camera path | expected label | clips | ours | translation only | ours' mistakes |")
    print("|---|---|---|---|---|---|")
    for path in EXPECTED:
        rows = [r for r in results if r[0] == path]
        ours = np.mean([r[1] == EXPECTED[path] for r in rows])
        base = np.mean([r[2] == EXPECTED[path] for r in rows])
        wrong = collections.Counter(r[1] for r in rows if r[1] != EXPECTED[path])
        mistakes = ", ".join(f"{label} {n}" for label, n in wrong.most_common()) or "-"
        print(f"| {path} | {EXPECTED[path]} | {len(rows)} | {ours:.0%} | {base:.0%} | {mistakes} |")
    for name, paths in (("orbit paths", MOTIONS), ("all paths", tuple(EXPECTED))):
        rows = [r for r in results if r[0] in paths]
        ours = np.mean([r[1] == EXPECTED[r[0]] for r in rows])
        base = np.mean([r[2] == EXPECTED[r[0]] for r in rows])
        print(f"| **{name}** | | {len(rows)} | **{ours:.1%}** | {base:.1%} | |")
    print(
        f"{len(clips) / seconds:.1f} clips/s "
        f"(decode + {config.num_pairs} DIS flows at <= {config.max_side} px, 1 core)"
    )


if __name__ == "__main__":
    main()

"""Face blur: false positives on the simulators' frames and recall on real faces, old rule vs new.

    python benchmarks/face_blur.py [--clips 4] [--frames 16] [--face-clips 10] [--workers 2]

The generation guardrail (``curation.guardrails.blur_faces``) runs scikit-image's LBP face
cascade on frames upsampled to a 192 px side. The old rule blurred every detection of 4 or more
merged windows; on driving scenes, which hold no face, it blurred grey facades. The new rule
(``FaceConfidence``) blurs a detection only with enough windows, a box side of at least 10 px,
skin colour in the box's centre (colour frames only) and overlapping detections in enough of the
neighbouring frames.

False positives: clips from Fetch push (expert, noisy-expert and random policies), the driving
simulator (scripted maneuvers and smooth random steering; its left, front and right 64 px views,
and the 64 x 192 left | front | right canvas the driving world model generates) and the orbit
simulator (smooth random camera motion), at 64 px, as rendered and "generated": blurred, noisy and
JPEG-compressed as a world model's output is. None holds a face, so every blurred frame is a false
positive.

Recall: faces pasted into 64 and 128 px clips of 8-32 frames over the simulators' frames, drifting
slowly, at 12-28 px per 64 px of frame, then "generated" the same way: scikit-image's astronaut in
colour (brightness scaled 0.6-1.1) and the 100 LFW faces of ``skimage.data.lfw_subset`` in
black-and-white clips (they are grey). A face frame counts as found when a blurred box, grown by
the blur margin, covers half of the face and is at most three times its side.

Splits: "tuning" (simulator and placement seeds 0-2, LFW faces 0-49) and "held-out" (seeds 3 and
4, LFW faces 50-99), reported separately. The grid ranks rules on the tuning split: no blurred
simulator frame, then the most face frames found, then the fewest boxes off the faces, then the
simplest. ``FaceConfidence()``'s defaults come from the larger run ``--clips 6 --frames 24
--face-clips 16`` (6 minutes on 2 cores; the default run takes about 3): there the 8 best rules
that blur no simulator frame all need 3 windows, and 3 windows, skin >= 0.7, side >= 10 px, in 3
of 7 frames ranks second, its recall within 0.1 point of the first's (80.1%), with fewer boxes
off the faces (16 against 40). The default run has too few simulator frames to rule 2 windows
out, so its grid may rank such a rule first.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

from curation.guardrails import (
    DETECT_MIN_SIDE,
    FaceConfidence,
    FaceDetection,
    default_face_detector,
    detection_gray,
    detection_scale,
    group_windows,
    measure_detections,
)

SPLITS = {"tuning": (0, 1, 2), "held-out": (3, 4)}
# simulator and placement seeds; LFW faces 0-49 are the tuning split's, 50-99 the held-out one's.
OLD_RULE = FaceConfidence(min_neighbors=4, min_skin=0.0, min_side=0.0, window=0, min_frames=1)
# what blur_faces did before: every detection of OpenCV's default 4 merged windows.
GRID = {
    "min_neighbors": (2, 3, 4, 5, 6),
    "min_skin": (0.0, 0.5, 0.7),
    "min_side": (0.0, 10.0, 12.0),
    "persistence": ((0, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4)),
}
# (window, min_frames) pairs for FaceConfidence.
VIEWS = ("left", "front", "right")
# the driving world model's canvas order.
FACE_SIDE_PER_64 = (12.0, 28.0)
BLUR_MARGIN = 0.2
# curation.guardrails.blur_box's default.


@dataclass
class Clip:
    """Frames (T, H, W, 3) uint8 of one source, and the face box (x, y, w, h) in each frame, if any."""

    source: str
    frames: np.ndarray
    faces: list[tuple[float, float, float, float]] | None = None


# -- simulator clips ----------------------------------------------------------------------------------


def fetch_clips(seed: int, clips: int, frames: int) -> list[np.ndarray]:
    """Fetch push episodes under the expert, noisy-expert and random policies in turn."""
    import gymnasium as gym

    from envs.sim.fetch import POLICIES, make_policy

    env = gym.make("worldfm/FetchPush-v0", size=64)
    rng = np.random.default_rng([seed, 1])
    out = []
    for i in range(clips):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        policy = make_policy("push", POLICIES[i % len(POLICIES)], rng)
        policy.reset()
        video = [env.render()]
        for _ in range(frames - 1):
            obs, *_ = env.step(np.clip(policy(obs), -1.0, 1.0).astype(np.float32))
            video.append(env.render())
        out.append(np.stack(video))
    env.close()
    return out


def driving_clips(seed: int, clips: int, frames: int) -> list[dict[str, np.ndarray]]:
    """Driving episodes, {view: (T, 64, 64, 3)}: half scripted maneuvers, half smooth random steering."""
    from envs.sim.driving import DrivingSimEnv, generate_episodes

    scripted = clips // 2
    out = [
        dict(ep.frames) for ep in generate_episodes(scripted, size=64, seed=seed, frames_per_episode=frames)
    ]
    env = DrivingSimEnv(size=64)
    rng = np.random.default_rng([seed, 2])
    for _ in range(clips - scripted):
        _, info = env.reset(seed=int(rng.integers(2**31)))
        action, views = np.array([0.0, 0.5]), {v: [] for v in VIEWS}
        for _ in range(frames):
            for v in VIEWS:
                views[v].append(info["views"][v])
            action = np.clip(0.7 * action + 0.3 * rng.uniform(-1.0, 1.0, 2), -1.0, 1.0)
            *_, info = env.step(action.astype(np.float32))
        out.append({v: np.stack(f) for v, f in views.items()})
    env.close()
    return out


def orbit_clips(seed: int, clips: int, frames: int) -> list[np.ndarray]:
    """Orbit scenes filmed by a camera under smooth random orbit, dolly, pan, tilt and zoom."""
    from envs.sim.orbit import OrbitSimEnv

    env = OrbitSimEnv(height=64)
    rng = np.random.default_rng([seed, 3])
    out = []
    for _ in range(clips):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        action, video = rng.uniform(-1.0, 1.0, 5), [obs]
        for _ in range(frames - 1):
            action = 0.8 * action + 0.2 * rng.uniform(-1.0, 1.0, 5)
            obs, *_ = env.step(action.astype(np.float32))
            video.append(obs)
        out.append(np.stack(video))
    env.close()
    return out


def generated_look(frames: np.ndarray, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    """A world model's version of ``frames``: slightly blurred, noisy, JPEG-compressed (one level per clip).

    ``gray`` clips get luminance noise only, so black and white stays black and white.
    """
    sigma, noise, quality = rng.uniform(0.3, 1.0), rng.uniform(1.0, 5.0), int(rng.integers(40, 91))
    out = []
    for frame in frames:
        x = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), sigma)
        x += rng.normal(0.0, noise, x.shape[:2] + ((1,) if gray else (3,)))
        x = np.clip(x, 0, 255).astype(np.uint8)
        _, jpeg = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out)


def simulator_clips(seed: int, clips: int, frames: int) -> list[Clip]:
    """Every simulator source, as rendered and as generated."""
    videos: dict[str, list[np.ndarray]] = {"Fetch push": fetch_clips(seed, clips, frames)}
    driving = driving_clips(seed, clips, frames)
    videos["driving, views"] = [ep[v] for ep in driving for v in VIEWS]
    videos["driving, canvas"] = [np.concatenate([ep[v] for v in VIEWS], axis=2) for ep in driving]
    videos["orbit"] = orbit_clips(seed, clips, frames)
    rng = np.random.default_rng([seed, 4])
    out = []
    for name, group in videos.items():
        out += [Clip(name, v) for v in group]
        out += [Clip(f"{name}, generated", generated_look(v, rng)) for v in group]
    return out


# -- face clips ---------------------------------------------------------------------------------------


def face_sources(split: str) -> dict[str, tuple[list[np.ndarray], float, bool]]:
    """{name: (face patches (h, w, 3) uint8, face side / patch side, black and white)} of a split."""
    from skimage import data

    astronaut = data.astronaut()[28:208, 125:305]
    # her head and shoulders, face centred, the face about half the side.
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    # the first 100 are tight face crops (the other 100 are not faces).
    half = slice(0, 50) if split == "tuning" else slice(50, 100)
    return {
        "astronaut, colour": ([astronaut], 0.5, False),
        "LFW faces, black and white": ([np.repeat(f[..., None], 3, -1) for f in lfw[half]], 1.0, True),
    }


def paste(background: np.ndarray, patch: np.ndarray, side: float, centre: np.ndarray) -> np.ndarray:
    """``background`` with ``patch``, resized to ``side`` px, pasted at ``centre`` (x, y), clipped."""
    side_px = max(2, round(side))
    patch = cv2.resize(patch, (side_px, side_px), interpolation=cv2.INTER_AREA)
    out = background.copy()
    height, width = out.shape[:2]
    x0, y0 = (int(round(c - side_px / 2)) for c in centre)
    xs, ys, xe, ye = max(0, x0), max(0, y0), min(width, x0 + side_px), min(height, y0 + side_px)
    if xe > xs and ye > ys:
        out[ys:ye, xs:xe] = patch[ys - y0 : ye - y0, xs - x0 : xe - x0]
    return out


def face_clips(split: str, seed: int, count: int, backgrounds: list[np.ndarray]) -> list[Clip]:
    """``count`` clips per face source, alternating 64 and 128 px, 8-32 frames, faces drifting."""
    rng = np.random.default_rng([seed, 5])
    out = []
    for name, (patches, face_frac, gray) in face_sources(split).items():
        for i in range(count):
            size, length = (64, 128)[i % 2], int(rng.choice([8, 16, 32]))
            patch = patches[rng.integers(len(patches))]
            background = cv2.resize(backgrounds[rng.integers(len(backgrounds))], (size, size))
            if gray:
                background = np.repeat(cv2.cvtColor(background, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
            face = rng.uniform(*FACE_SIDE_PER_64) * size / 64
            start, velocity = rng.uniform(0.25, 0.75, 2) * size, rng.uniform(-0.5, 0.5, 2) * size / 64
            frames, boxes = [], []
            for t in range(length):
                centre = start + velocity * t
                frames.append(paste(background, patch, face / face_frac, centre))
                boxes.append((centre[0] - face / 2, centre[1] - face / 2, face, face))
            frames = np.stack(frames)
            if not gray:
                frames = np.clip(frames * rng.uniform(0.6, 1.1), 0, 255).astype(np.uint8)
            out.append(Clip(name, generated_look(frames, rng, gray=gray), boxes))
    return out


# -- detection and scoring ----------------------------------------------------------------------------


def detect_all(frames: np.ndarray) -> list[list[FaceDetection]]:
    """Every cascade detection any rule here could keep, in each frame, as ``blur_faces`` sees the frames.

    The windows are found once and grouped once; the rules then only filter.
    """
    detector = default_face_detector()
    scale = detection_scale(*frames.shape[1:3], DETECT_MIN_SIDE)
    fewest = min(OLD_RULE.min_neighbors, *GRID["min_neighbors"])
    out = []
    for frame in frames:
        grouped = group_windows(detector.windows(detection_gray(frame, scale)), min_neighbors=fewest)
        out.append(measure_detections(frame, [(tuple(v / scale for v in box), n) for box, n in grouped]))
    return out


def covers(box: tuple[float, ...], face: tuple[float, ...]) -> bool:
    """Whether ``box``, grown by the blur margin, covers half of ``face`` and is at most 3x its side."""
    x, y, w, h = box
    if max(w, h) > 3 * face[2]:
        return False
    x, y, w, h = (
        x - BLUR_MARGIN * w,
        y - BLUR_MARGIN * h,
        w * (1 + 2 * BLUR_MARGIN),
        h * (1 + 2 * BLUR_MARGIN),
    )
    ix = min(x + w, face[0] + face[2]) - max(x, face[0])
    iy = min(y + h, face[1] + face[3]) - max(y, face[1])
    return ix > 0 and iy > 0 and ix * iy >= 0.5 * face[2] * face[3]


@dataclass
class Score:
    """One source's counts under one rule."""

    frames: int = 0
    hit_frames: int = 0
    # simulator clips: frames with any blur; face clips: frames whose face was blurred.
    boxes: int = 0
    # blurred boxes (face clips: those that miss the face).


def score(clips: list[Clip], detections: list, rule: FaceConfidence) -> dict[str, Score]:
    """Per source: frames, frames with a blur (or the face blurred) and boxes, under ``rule``."""
    out: dict[str, Score] = {}
    for clip, found in zip(clips, detections, strict=True):
        kept = rule.select(found)
        s = out.setdefault(clip.source, Score())
        s.frames += len(kept)
        for t, boxes in enumerate(kept):
            if clip.faces is None:
                s.hit_frames += bool(boxes)
                s.boxes += len(boxes)
            else:
                on_face = [covers(d.box, clip.faces[t]) for d in boxes]
                s.hit_frames += any(on_face)
                s.boxes += on_face.count(False)
    return out


def grid_rules() -> list[FaceConfidence]:
    """Every combination in ``GRID``, simplest first (lower thresholds, shorter windows)."""
    return [
        FaceConfidence(min_neighbors=n, min_skin=skin, min_side=side, window=w, min_frames=k)
        for n, skin, side, (w, k) in itertools.product(
            GRID["min_neighbors"], GRID["min_skin"], GRID["min_side"], GRID["persistence"]
        )
    ]


def choose(sims: list[Clip], sim_found: list, faces: list[Clip], face_found: list) -> list[tuple]:
    """The grid's rules with no simulator frame blurred, best first: most face frames found, then
    fewest boxes off the faces, then the simplest. Rows: (rule, simulator Score, face Score)."""
    rows = []
    for order, rule in enumerate(grid_rules()):
        fp, rec = total(score(sims, sim_found, rule)), total(score(faces, face_found, rule))
        if fp.hit_frames == 0:
            rows.append(((-rec.hit_frames, rec.boxes, order), rule, fp, rec))
    return [row[1:] for row in sorted(rows, key=lambda row: row[0])]


def total(scores: dict[str, Score]) -> Score:
    """All sources' counts together."""
    return Score(*(sum(getattr(s, f) for s in scores.values()) for f in ("frames", "hit_frames", "boxes")))


def describe(rule: FaceConfidence) -> str:
    """The rule in words, for the tables."""
    persistence = "1 frame" if rule.min_frames <= 1 else f"{rule.min_frames} of {2 * rule.window + 1} frames"
    sizes = f"windows >= {rule.min_neighbors}, skin >= {rule.min_skin:g}, side >= {rule.min_side:g} px"
    return f"{sizes}, {persistence}"


def collect(seeds: tuple[int, ...], split: str, args: argparse.Namespace) -> tuple[list[Clip], list[Clip]]:
    """The simulator clips and face clips of one split."""
    sims, faces = [], []
    for seed in seeds:
        new = simulator_clips(seed, args.clips, args.frames)
        backgrounds = [c.frames[0] for c in new if "canvas" not in c.source and "generated" not in c.source]
        sims += new
        faces += face_clips(split, seed, args.face_clips, backgrounds)
    return sims, faces


def print_split(split: str, clips: tuple[list[Clip], list[Clip]], found: tuple[list, list]) -> None:
    """The old rule against ``FaceConfidence()`` on one split: false positives, then recall."""
    (sims, faces), (sim_found, face_found), new = clips, found, FaceConfidence()
    old_fp, new_fp = score(sims, sim_found, OLD_RULE), score(sims, sim_found, new)
    old_rec, new_rec = score(faces, face_found, OLD_RULE), score(faces, face_found, new)
    seeds = SPLITS[split]
    print(f"### {split} split (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))})\n")
    print(
        "| simulator frames (no faces) | frames | old: frames blurred | old: boxes / 1000 frames "
        "| new: frames blurred | new: boxes / 1000 frames |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for source in [*old_fp, "all"]:
        o, n = (total(old_fp), total(new_fp)) if source == "all" else (old_fp[source], new_fp[source])
        print(
            f"| {source} | {o.frames} | {o.hit_frames} ({o.hit_frames / o.frames:.1%}) "
            f"| {1000 * o.boxes / o.frames:.1f} | {n.hit_frames} ({n.hit_frames / n.frames:.1%}) "
            f"| {1000 * n.boxes / n.frames:.1f} |"
        )
    print(
        "\n| face clips | clips | frames | old: face blurred | new: face blurred "
        "| old: boxes off the face | new: boxes off the face |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for source in [*old_rec, "all"]:
        o, n = (total(old_rec), total(new_rec)) if source == "all" else (old_rec[source], new_rec[source])
        num = sum(source in (c.source, "all") for c in faces)
        print(
            f"| {source} | {num} | {o.frames} | {o.hit_frames / o.frames:.1%} "
            f"| {n.hit_frames / n.frames:.1%} | {o.boxes} | {n.boxes} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=4, help="episodes per simulator and seed")
    parser.add_argument("--frames", type=int, default=16, help="frames per simulator episode")
    parser.add_argument("--face-clips", type=int, default=10, help="clips per face source and seed")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    start = time.perf_counter()
    print("python benchmarks/face_blur.py " + " ".join(sys.argv[1:]) + "\n")

    clips = {split: collect(seeds, split, args) for split, seeds in SPLITS.items()}
    everything = [c for sims, faces in clips.values() for c in sims + faces]
    rendered = time.perf_counter() - start
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        found = iter(pool.map(detect_all, [c.frames for c in everything], chunksize=1))
    detections = {
        split: ([next(found) for _ in sims], [next(found) for _ in faces])
        for split, (sims, faces) in clips.items()
    }

    (sims, faces), (sim_found, face_found) = clips["tuning"], detections["tuning"]
    ranked = choose(sims, sim_found, faces, face_found)
    print("Tuning split, the grid's rules that blur no simulator frame, best first:\n")
    print("| rule | simulator frames blurred | face frames found | boxes off the faces |")
    print("|---|---:|---:|---:|")
    for rule, fp, rec in ranked[:8]:
        print(
            f"| {describe(rule)} | {fp.hit_frames}/{fp.frames} "
            f"| {rec.hit_frames / rec.frames:.1%} | {rec.boxes} |"
        )
    default = FaceConfidence()
    rank = next((i + 1 for i, row in enumerate(ranked) if row[0] == default), None)
    print(f"\nbest on this tuning split: {describe(ranked[0][0]) if ranked else 'none'}")
    place = f"ranked {rank} of {len(ranked)}" if rank else "blurs simulator frames here"
    print(f"FaceConfidence() default:  {describe(default)} ({place})\n")

    for split in SPLITS:
        print_split(split, clips[split], detections[split])
    print(
        f"{len(everything)} clips, {sum(len(c.frames) for c in everything)} frames; "
        f"{rendered:.0f} s rendering, {time.perf_counter() - start:.0f} s in all with {args.workers} workers"
    )


if __name__ == "__main__":
    main()

"""Shot detection on real renderers' footage: a development set with a held-out part.

    MUJOCO_GL=egl python benchmarks/real_shots.py [--videos 16] [--still 4] [--seed 26]
        [--data data/bench/real_shots]

``benchmarks/shot_detection.py`` scores the splitters on ``worldfm simulate raw``
footage, which the project's own renderers draw. This set films real ones instead:
Atari 2600 games through ``ale-py`` (the emulator and the ROMs it ships, played by a
random policy that holds each action a few frames) and MuJoCo models from Gymnasium
(driven by random controls, filmed by a free camera that orbits, pans, cranes or
dollies around the body). Shots are edited with ``envs.sim.raw``'s own machinery
(``render_video``'s blending, ``video_labels``' ground truth), so transitions are
labelled by construction: hard cuts, cross-dissolves and fades through black, 6-16
frames a side. Consecutive shots come from different games or models. Inside shots,
away from every transition, each video gets hard negatives that are not transitions:
three white flashes and a whip pan (``shot_detection._hard_negatives``) and a crash
zoom (3 frames zooming in to 2x, 6 held, 3 back out).

Two parts, split by source rather than by seed, so tuning cannot learn a game:

- ``tuning``: Pong, Breakout, Space Invaders, Freeway; HalfCheetah, Hopper.
- ``held-out``: Ms. Pac-Man, Seaquest, Boxing, River Raid; Ant, Walker2d.

Each part has ``--videos`` videos (10-16 s, 24 fps, 64-160 px wide) with transitions
plus ``--still`` videos that hold a single shot (flashes, whip pans, zooms and all),
where every detection is a false alarm. Rows are ``shot_detection.run_set``'s: the
default cascade, TransNetV2 (ours and raw) and PySceneDetect (content, adaptive);
frames/s counts decoding (48x27) plus detection on one CPU thread. Rendering is
cached under ``--data`` (the same arguments reuse it) and is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark scripts

from env_speed import cpu_name  # noqa: E402
from shot_detection import _hard_negatives, run_set  # noqa: E402

from curation.shot_eval import load_labels  # noqa: E402
from curation.splitters import _IsolatedTransNetV2  # noqa: E402
from curation.video_io import write_video  # noqa: E402
from envs.sim.episode import Episode  # noqa: E402
from envs.sim.raw import (  # noqa: E402
    FPS,
    FRAME_SHAPES,
    ShotPlan,
    TransitionPlan,
    VideoPlan,
    _even,
    render_video,
    video_labels,
)
from worldmodel.atomic import atomic_write_bytes  # noqa: E402

PARTS = {
    "tuning": (
        "atari:pong",
        "atari:breakout",
        "atari:space_invaders",
        "atari:freeway",
        "mujoco:HalfCheetah-v5",
        "mujoco:Hopper-v5",
    ),
    "held-out": (
        "atari:ms_pacman",
        "atari:seaquest",
        "atari:boxing",
        "atari:riverraid",
        "mujoco:Ant-v5",
        "mujoco:Walker2d-v5",
    ),
}
# Each video's joins go through a shuffled cycle of these: half cuts, and every kind in each
# video with four joins, so a part of a few videos still labels enough of each to measure.
TRANSITION_CYCLE = ("cut", "cut", "dissolve", "fade")
SHOT_SECONDS = (1.5, 5.0)
VIDEO_SECONDS = (10.0, 16.0)
CAMERA_MOVES = ("orbit", "pan", "crane", "dolly")
ATARI_FRAME_SKIP = 2  # emulator frames per video frame: 30 game fps played at 24


def _atari_frames(game: str, seed: int, n: int) -> np.ndarray:
    """``n`` frames (n, 210, 160, 3) of ``game`` under a random policy, after a random warm-up."""
    from ale_py import ALEInterface, LoggerMode, roms

    ALEInterface.setLoggerMode(LoggerMode.Error)
    rng = np.random.default_rng(seed)
    ale = ALEInterface()
    ale.setInt("random_seed", int(seed % 2**31))
    ale.setFloat("repeat_action_probability", 0.0)  # the policy below is the only randomness
    ale.loadROM(roms.get_rom_path(game))
    actions = ale.getMinimalActionSet()
    action, hold = actions[0], 0
    frames: list[np.ndarray] = []
    last_reset = -1  # frame index of the first frame after the last game over
    # A warm-up moves shots of one game to different moments of play.
    warm_up = int(rng.integers(30, 450))
    step = 0
    # A game over restarts the game, a jump no editor made: play on until n frames follow it.
    while len(frames) < warm_up + n or len(frames) - last_reset < n:
        if hold == 0:
            action, hold = actions[int(rng.integers(len(actions)))], int(rng.integers(1, 8))
        hold -= 1
        ale.act(action)
        if ale.game_over():
            ale.reset_game()
            last_reset = len(frames) + 1
        if step % ATARI_FRAME_SKIP == 0:
            frames.append(ale.getScreenRGB())
        step += 1
    return np.stack(frames[-n:])


_mujoco_renderers: dict[tuple[str, int], object] = {}


def _mujoco_frames(env_id: str, seed: int, n: int, size: int) -> tuple[np.ndarray, str]:
    """``n`` square frames of ``env_id`` under random controls, filmed by a moving free camera."""
    import gymnasium as gym
    import mujoco

    rng = np.random.default_rng(seed)
    env = gym.make(env_id)
    env.reset(seed=int(seed % 2**31))
    model, data = env.unwrapped.model, env.unwrapped.data
    frame_skip = env.unwrapped.frame_skip
    # One renderer (one GL context) per model and size: a new context recompiles shaders.
    key = (env_id, size)
    if key not in _mujoco_renderers:
        _mujoco_renderers[key] = mujoco.Renderer(model, size, size)
    renderer = _mujoco_renderers[key]
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    move = str(rng.choice(CAMERA_MOVES))
    azimuth, elevation, distance = rng.uniform(0, 360), rng.uniform(-35, -10), rng.uniform(2.5, 4.5)
    speed = rng.uniform(0.6, 1.5) * rng.choice([-1, 1])  # per frame, in the move's own units
    low, high = model.actuator_ctrlrange.T
    frames = []
    for t in range(n):
        data.ctrl[:] = rng.uniform(low, high)
        mujoco.mj_step(model, data, nstep=frame_skip)
        camera.lookat[:] = data.subtree_com[1]
        camera.azimuth = azimuth + (speed * t if move == "orbit" else 0)
        camera.elevation = elevation + (0.3 * speed * t if move == "crane" else 0)
        camera.distance = distance * (1 + (0.01 * speed * t if move == "dolly" else 0))
        if move == "pan":  # the camera turns past the body: the look-at point slides sideways
            camera.lookat[1] += 0.03 * speed * (t - n / 2)
        camera.elevation = float(np.clip(camera.elevation, -80, -5))
        camera.distance = float(np.clip(camera.distance, 1.0, 10.0))
        renderer.update_scene(data, camera=camera)
        frames.append(renderer.render())
    env.close()
    return np.stack(frames), move


def real_source(name: str):  # noqa: ANN201 - an envs.sim.raw EpisodeSource
    """An ``envs.sim.raw`` episode source that films ``name`` (``atari:<rom>`` or ``mujoco:<env id>``)."""
    kind, target = name.split(":", 1)

    def generate(count: int, *, size: int, seed: int, frames_per_episode: int) -> Iterator[Episode]:
        for i in range(count):
            if kind == "atari":
                frames, caption = _atari_frames(target, seed + i, frames_per_episode), f"{target} play"
            else:
                frames, move = _mujoco_frames(target, seed + i, frames_per_episode, min(size, 128))
                caption = f"{target} filmed by a camera that moves: {move}"
            yield Episode(
                kind,
                f"{target}-{seed + i}".replace("_", "-"),
                FPS,
                {"main": frames},
                meta={"caption": caption},
            )

    return generate


def plan_real_video(
    rng: np.random.Generator, sources: tuple[str, ...], *, size: int, transitions: bool
) -> VideoPlan:
    """A video of shots from ``sources``, consecutive shots from different ones; with
    ``transitions=False``, one shot throughout."""
    height, width = (_even(v * size / 128) for v in FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))])
    target = round(rng.uniform(*VIDEO_SECONDS) * FPS)
    min_len = round(SHOT_SECONDS[0] * FPS)
    shots: list[ShotPlan] = []
    joins: list[TransitionPlan] = []
    remaining, previous = target, None
    cycle = [str(k) for k in rng.permutation(TRANSITION_CYCLE)]
    while remaining > 0:
        source = str(rng.choice([s for s in sources if s != previous]))
        previous = source
        length = remaining if not transitions else round(rng.uniform(*SHOT_SECONDS) * FPS)
        if shots:
            kind = cycle[len(joins) % len(cycle)]
            join = TransitionPlan(kind, 0 if kind == "cut" else int(rng.integers(6, 17)))
            if remaining - join.blended < min_len:
                join = TransitionPlan("cut", 0)
            joins.append(join)
            remaining -= join.blended
        if remaining - length < min_len:
            length = remaining
        motion = "game" if source.startswith("atari:") else "moving"
        shots.append(ShotPlan(source, motion, False, length, int(rng.integers(2**31 - 1))))
        remaining -= length
    return VideoPlan(height, width, tuple(shots), tuple(joins), ())


def _crash_zoom(frames: np.ndarray, video: dict, rng: np.random.Generator) -> np.ndarray:
    """A crash zoom inside a shot, 12+ frames from any transition: 3 frames in to 2x, 6 held, 3 out."""
    frames = frames.copy()
    n, height, width, _ = frames.shape
    scales = (1.33, 1.67, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.67, 1.33)
    allowed = np.zeros(n, bool)
    for shot in video["shots"]:
        allowed[shot["start"] + 12 : shot["end"] - 12 - len(scales)] = True
    spots = np.flatnonzero(allowed)
    if len(spots) == 0:
        return frames
    start = int(rng.choice(spots))
    for j, scale in enumerate(scales):
        h, w = round(height / scale), round(width / scale)
        y, x = (height - h) // 2, (width - w) // 2
        frames[start + j] = cv2.resize(frames[start + j, y : y + h, x : x + w], (width, height))
    return frames


def _changed_runs(before: np.ndarray, after: np.ndarray, kinds: tuple[str, str]) -> list[dict]:
    """Runs of frames that differ, as ``{kind, start, end}`` (half-open); runs of 1-2 frames are
    ``kinds[0]`` (flashes), longer ones ``kinds[1]``."""
    changed = np.any(before != after, axis=(1, 2, 3))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], changed.astype(np.int8), [0]])))
    return [
        {"kind": kinds[0] if end - start <= 2 else kinds[1], "start": int(start), "end": int(end)}
        for start, end in zip(edges[::2], edges[1::2], strict=True)
    ]


def alarms_at_distractors(labels: dict, predictions: dict) -> int:
    """Predicted transitions touching a flash, whip pan or crash zoom (within 2 frames); these
    lie 12+ frames from every labelled transition, so each is a false alarm."""
    alarms = 0
    for name, video in labels.items():
        for t in predictions[name]:
            alarms += any(
                t.start <= d["end"] + 1 and t.end >= d["start"] - 2 for d in video.get("distractors", [])
            )
    return alarms


def write_real_footage(
    out_dir: Path, part: str, videos: int, still: int, *, seed: int, size: int = 128
) -> Path:
    """Render one part's videos (``real_%04d.mp4``) and their ``labels.json`` into ``out_dir``.

    Video ``i`` depends only on ``(seed, part, i)``; a ``labels.json`` written with the same
    arguments is reused as it is.

    Args:
        videos: videos with transitions; still: single-shot videos after them.
        size: frame-shape scale; 128 gives ``envs.sim.raw.FRAME_SHAPES`` (64x64 to 160x90, W x H).
    """
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; use one of {sorted(PARTS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / "labels.json"
    params = {"version": 3, "part": part, "videos": videos, "still": still, "seed": seed, "size": size}
    if labels_path.exists():
        previous = json.loads(labels_path.read_text())
        if previous.get("params") == params and all((out_dir / n).exists() for n in previous["videos"]):
            return labels_path
    sources = {name: real_source(name) for name in PARTS[part]}
    part_index = sorted(PARTS).index(part)
    labels: dict[str, dict] = {}
    for i in range(videos + still):
        rng = np.random.default_rng([seed, part_index, i])
        plan = plan_real_video(rng, PARTS[part], size=size, transitions=i < videos)
        frames, captions = render_video(plan, sources)
        video = video_labels(plan, captions)
        flashed = _hard_negatives(frames, video, rng)
        zoomed = _crash_zoom(flashed, video, rng)
        # Where the hard negatives went, so false alarms can be traced to them.
        video["distractors"] = _changed_runs(frames, flashed, ("flash", "whip pan")) + _changed_runs(
            flashed, zoomed, ("crash zoom", "crash zoom")
        )
        frames = zoomed
        name = f"real_{i:04d}.mp4"
        write_video(out_dir / name, frames, FPS)
        labels[name] = video
    while _mujoco_renderers:  # before exit: EGL's own exit handler would pull the display first
        _mujoco_renderers.popitem()[1].close()
    atomic_write_bytes(labels_path, json.dumps({"params": params, "videos": labels}, indent=1).encode())
    return labels_path


def still_false_alarms(labels: dict, predictions: dict) -> int:
    """Detections on the videos that hold no transition."""
    return sum(len(predictions[n]) for n, v in labels.items() if not v["transitions"])


# A small grid around the default cascade's false-alarm and candidate rules, searched on the
# tuning part only (--tune).
TUNE_GRID = {"return_ratio": (0.6, 0.7, 0.8), "candidate_ratio": (2.0, 2.5, 3.0), "blend_ratio": (0.15, 0.2)}


def tune(folders: dict[str, Path], net: _IsolatedTransNetV2) -> None:
    """Score every ``TUNE_GRID`` setting of the cascade on the tuning part; print the best beside
    the default on both parts. Only the tuning part's F1 picks the setting."""
    import itertools
    from dataclasses import fields

    from curation.shot_eval import evaluate
    from curation.splitters import CascadeSplitter, decode_for_splitting

    decoded = {
        part: {n: decode_for_splitting(folder / n) for n in load_labels(folder / "labels.json")}
        for part, folder in folders.items()
    }
    labels = {part: load_labels(folder / "labels.json") for part, folder in folders.items()}

    def f1(params: dict, part: str) -> float:
        cascade = CascadeSplitter(**params)
        cascade._net = net
        predictions = {n: cascade.detect(f, labels[part][n]["fps"]) for n, f in decoded[part].items()}
        return evaluate(labels[part], predictions).overall.f1

    defaults = {f.name: f.default for f in fields(CascadeSplitter) if f.name in TUNE_GRID}
    scored = []
    for values in itertools.product(*TUNE_GRID.values()):
        params = dict(zip(TUNE_GRID, values, strict=True))
        scored.append((f1(params, "tuning"), params == defaults, params))
        print(f"tuning F1 {scored[-1][0]:.3f}  {params}", flush=True)
    best = max(scored, key=lambda s: (s[0], s[1]))[2]
    print("\n| cascade setting | tuning F1 | held-out F1 |\n|---|---:|---:|")
    for name, params in (("default", defaults), ("best on tuning", best)):
        print(f"| {name} {params} | {f1(params, 'tuning'):.3f} | {f1(params, 'held-out'):.3f} |")


def cascade_speed(folders: dict[str, Path], net: _IsolatedTransNetV2) -> None:
    """The default cascade alone: scores, frames/s of wall clock and per CPU-second of this process
    (decode at 48x27 + detection), and the share of frames it shows the network. CPU time is the
    steadier figure on a machine that other jobs share."""
    from curation.shot_eval import evaluate
    from curation.splitters import CascadeSplitter, decode_for_splitting

    print("| part | F1 | frames/s (wall) | frames per CPU-s | frames to the network | load |")
    print("|---|---:|---:|---:|---:|---:|")
    for part, folder in folders.items():
        labels = load_labels(folder / "labels.json")
        cascade = CascadeSplitter()
        cascade._net = net
        predictions, frames = {}, 0
        wall, cpu = time.perf_counter(), time.process_time()
        for name, video in labels.items():
            decoded = decode_for_splitting(folder / name)
            frames += len(decoded)
            predictions[name] = cascade.detect(decoded, video["fps"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"| {part} | {evaluate(labels, predictions).overall.f1:.3f} | {frames / wall:.0f} | "
            f"{frames / cpu:.0f} | {cascade.frames_to_network / frames:.0%} | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 16 + 4 videos a part label 10-24 transitions of each kind: 8 + 2 labelled 5-12, too few to
    # tell one setting from the next.
    parser.add_argument("--videos", type=int, default=16, help="videos with transitions per part")
    parser.add_argument("--still", type=int, default=4, help="single-shot videos per part")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--size", type=int, default=128, help="frame-width scale (128: 64-160 px wide)")
    parser.add_argument("--data", default="data/bench/real_shots")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--tune", action="store_true", help="search TUNE_GRID on the tuning part instead")
    parser.add_argument(
        "--cascade-speed", action="store_true", help="time the default cascade alone (wall and CPU) instead"
    )
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(1)
    start = time.perf_counter()
    folders = {
        part: write_real_footage(
            Path(args.data) / part, part, args.videos, args.still, seed=args.seed, size=args.size
        ).parent
        for part in PARTS
    }
    print(f"footage ready in {time.perf_counter() - start:.0f} s", flush=True)
    net = _IsolatedTransNetV2()
    if args.tune:
        tune(folders, net)
        return
    if args.cascade_speed:
        cascade_speed(folders, net)
        return
    print(
        "| part | splitter | precision | recall | F1 | R cut | R dissolve | R fade | "
        "false alarms: still videos | at hard negatives | frames/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    report = {}
    for part, folder in folders.items():
        labels = load_labels(folder / "labels.json")
        report[part] = rows = run_set(folder, net)
        for r in rows:
            rec = r["recall_by_type"]
            predictions = r.pop("predictions")
            r["still_false_alarms"] = still_false_alarms(labels, predictions)
            r["alarms_at_distractors"] = alarms_at_distractors(labels, predictions)
            print(
                f"| {part} | {r['splitter']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                f"{rec.get('cut', 1):.3f} | {rec.get('dissolve', 1):.3f} | {rec.get('fade', 1):.3f} | "
                f"{r['still_false_alarms']} | {r['alarms_at_distractors']} | {r['fps']:.0f} |",
                flush=True,
            )
    for part, folder in folders.items():
        labels = load_labels(folder / "labels.json")
        counts: dict[str, int] = {}
        for v in labels.values():
            for t in v["transitions"]:
                counts[t["type"]] = counts.get(t["type"], 0) + 1
        frames = sum(v["num_frames"] for v in labels.values())
        print(f"{part}: {len(labels)} videos ({args.still} still), {frames} frames, transitions {counts}")
    print(f"seed {args.seed}; one CPU thread; {cpu_name()}; load average {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

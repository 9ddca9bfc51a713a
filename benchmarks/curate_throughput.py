"""Curation throughput: video-seconds/s and clips/s of ``worldfm curate`` vs a decode-only pass, one table.

    python benchmarks/curate_throughput.py [--inputs data/bench/shots/clean] [--cpus 2] [--profile]

Both run in this process on one local Ray with ``--cpus`` CPUs, over the same
videos (default: the ``simulate raw`` set of ``benchmarks/shot_detection.py``,
rendered first if missing). The decode-only pass is the bound: every frame of
every input decoded to RGB by PyAV, as Ray Data tasks, and nothing else. The
pipeline decodes each video once (the splitter's 48x27 frames and the clips' from
one pass), but also splits it and re-encodes every kept frame with libx264, so it
cannot reach the bound. ``--profile`` then prints where a video's CPU time goes,
each part in one process, one after the other, as a multiple of the decode bound's.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import ray.data

from curation.local_ray import init_local_ray
from curation.pipeline import CurateConfig, curate, find_inputs
from curation.shots import plan_clips, shots_between
from curation.splitters import SPLIT_SIZE, make_splitter
from curation.transcode import encode_clips, output_size
from curation.video_io import iter_frames, iter_frames_at_sizes, probe
from envs.sim.raw import write_raw_footage


def _decode(row: dict) -> dict:
    frames = sum(1 for _ in iter_frames(row["path"]))
    return {"path": row["path"], "frames": frames, "seconds": frames / probe(row["path"]).fps}


def decode_pass(paths: list[str]) -> tuple[float, float]:
    """``(wall seconds, video seconds)`` of decoding every frame of ``paths`` on the cluster."""
    start = time.perf_counter()
    rows = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=len(paths)).map(_decode)
    video_seconds = sum(r["seconds"] for r in rows.iter_rows())
    return time.perf_counter() - start, video_seconds


def cpu_profile(paths: list[str]) -> dict[str, float]:
    """CPU seconds of each part of curating ``paths`` with the default settings (one process)."""
    import torch

    torch.set_num_threads(1)  # as in a Ray task of one CPU
    config = CurateConfig()
    cascade, pyscenedetect = make_splitter("cascade"), make_splitter("pyscenedetect")
    parts = dict.fromkeys(
        ["decode bound", "decode (both sizes)", "cascade: scores", "cascade: TransNetV2"], 0.0
    )
    parts |= {"pyscenedetect": 0.0, "encode clips": 0.0}
    predict = cascade.net.predict_window

    def timed(frames):  # noqa: ANN001, ANN202
        start = time.process_time()
        out = predict(frames)
        parts["cascade: TransNetV2"] += time.process_time() - start
        return out

    cascade.net.predict_window = timed
    for path in paths:
        start = time.process_time()
        sum(1 for _ in iter_frames(path))
        parts["decode bound"] += time.process_time() - start
        info = probe(path)
        size = output_size(info.height, info.width, config.transcode())
        start = time.process_time()
        small, kept = [], []
        for seconds, (frame, clip_frame) in iter_frames_at_sizes(path, (SPLIT_SIZE, size)):
            small.append(frame)
            kept.append((seconds, clip_frame))
        frames = np.stack(small)
        parts["decode (both sizes)"] += time.process_time() - start
        start = time.process_time()
        transitions = cascade.detect(frames, info.fps)
        parts["cascade: scores"] += time.process_time() - start
        start = time.process_time()
        pyscenedetect.detect(frames, info.fps)
        parts["pyscenedetect"] += time.process_time() - start
        rules = config.rules()
        shots = shots_between(transitions, len(frames), margin=rules.margin_frames(info.fps))
        clips, _ = plan_clips(shots, info.fps, rules)
        start = time.process_time()
        list(encode_clips(kept, clips, fps=info.fps, size=size, config=config.transcode()))
        parts["encode clips"] += time.process_time() - start
    parts["cascade: scores"] -= parts["cascade: TransNetV2"]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", default="data/bench/shots/clean")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--splitters", nargs="+", default=["cascade", "pyscenedetect"])
    parser.add_argument("--profile", action="store_true", help="then CPU seconds per part, one process")
    args = parser.parse_args()
    if not Path(args.inputs).exists():  # the clean set of benchmarks/shot_detection.py
        write_raw_footage(
            Path(args.inputs), 12, seed=23, size=64, min_seconds=20, max_seconds=40, long_fraction=0
        )
    init_local_ray(args.cpus)
    ray.data.DataContext.get_current().enable_progress_bars = False
    paths = [str(p) for p in find_inputs(args.inputs)[0]]
    decode_pass(paths[:1])  # warm the workers up, as the pipeline's own first tasks are
    decode_s, video_s = decode_pass(paths)
    print(f"{len(paths)} videos, {video_s:.1f} s of video, {args.cpus} CPUs\n")
    print("| run | wall s | video-s/s | clips/s | share of decode bound |")
    print("|---|---:|---:|---:|---:|")
    print(f"| decode only (bound) | {decode_s:.1f} | {video_s / decode_s:.1f} | | 100% |", flush=True)
    stage_lines = []
    for splitter in args.splitters:
        out = Path(tempfile.mkdtemp(prefix="curate-bench-"))
        try:
            start = time.perf_counter()
            manifest = curate(args.inputs, out, CurateConfig(splitter=splitter)).manifest
            wall = time.perf_counter() - start
        finally:
            shutil.rmtree(out, ignore_errors=True)
        rate = video_s / wall
        clips = manifest["stats"]["clips"]
        print(
            f"| curate, {splitter} splitter | {wall:.1f} | {rate:.1f} | {clips / wall:.2f} | "
            f"{rate / (video_s / decode_s):.0%} |",
            flush=True,
        )
        stages = manifest["stats"]["stages"]
        stage_lines.append(
            f"{splitter}: " + ", ".join(f"{name} {s['seconds']:.1f} s" for name, s in stages.items())
        )
    print("\nworker seconds per stage (summed over workers):\n" + "\n".join(stage_lines))
    ray.shutdown()
    if args.profile:
        parts = cpu_profile(paths)
        print("\n| part (one process) | CPU s | x decode bound |\n|---|---:|---:|")
        for name, seconds in parts.items():
            print(f"| {name} | {seconds:.2f} | {seconds / parts['decode bound']:.2f} |")


if __name__ == "__main__":
    main()

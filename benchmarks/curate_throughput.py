"""Curation throughput: video-seconds/s and clips/s of ``worldfm curate`` vs a decode-only pass, one table.

    python benchmarks/curate_throughput.py [--inputs data/bench/shots/clean] [--cpus 2]

Both run in this process on one local Ray with ``--cpus`` CPUs, over the same
videos (default: the ``simulate raw`` set of ``benchmarks/shot_detection.py``,
rendered first if missing). The decode-only pass is the bound: every frame of
every input decoded to RGB by PyAV, as Ray Data tasks, and nothing else. The
pipeline decodes each video twice (48x27 for the splitter, full size for the
clips) and re-encodes every kept frame with libx264, so it cannot reach the bound.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import ray
import ray.data

from curation.local_ray import init_local_ray
from curation.pipeline import CurateConfig, curate, find_inputs
from curation.video_io import iter_frames, probe
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", default="data/bench/shots/clean")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--splitters", nargs="+", default=["cascade", "pyscenedetect"])
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


if __name__ == "__main__":
    main()

"""Simulator throughput: frames/s of each source (step + render + policy) at 64² and 128².

    python benchmarks/simulate.py [--episodes 2] [--frames 48]

Prints one table; multi-view sources count every rendered view in ``views·frames/s``.
"""

from __future__ import annotations

import argparse
import time

from envs.sim import driving, fetch, orbit

SOURCES = {
    "fetch (push)": lambda n, size, frames: fetch.generate_episodes(n, size=size, frames_per_episode=frames),
    "orbit": lambda n, size, frames: orbit.generate_episodes(n, size=size, frames_per_episode=frames),
    "driving (3 views)": lambda n, size, frames: driving.generate_episodes(
        n, size=size, frames_per_episode=frames
    ),
}


def measure(make, episodes: int, size: int, frames: int) -> tuple[float, float]:
    start = time.perf_counter()
    total_frames = total_views = 0
    for episode in make(episodes, size, frames):
        total_frames += episode.num_frames
        total_views += episode.num_frames * len(episode.frames)
    elapsed = time.perf_counter() - start
    return total_frames / elapsed, total_views / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    print("| source | frames/s @64² | views·frames/s @64² | frames/s @128² | views·frames/s @128² |")
    print("|---|---:|---:|---:|---:|")
    for name, make in SOURCES.items():
        row = []
        for size in (64, 128):
            fps, vps = measure(make, args.episodes, size, args.frames)
            row += [f"{fps:.0f}", f"{vps:.0f}"]
        print(f"| {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

"""Per-stage throughput and drop share of ``worldfm curate`` with every stage, on ``simulate raw`` footage.

    python benchmarks/curate_stages.py [--videos 4] [--seed 0] [--data data/raw-bench]

Renders ``--videos`` raw videos (``worldfm simulate raw``), curates them with
split, transcode, motion (--min-motion 0.02), quality (--min-quality 0.3), embed,
text_overlay (drops clips with text), category, caption (metadata) and dedup on a local
Ray, and prints one table from the manifest: per stage, the items it processed
(videos for split, clips for the rest), its throughput per CPU (items per second of the
stage's own compute, summed over workers) and the share of its clips it dropped.
"""

from __future__ import annotations

import argparse
import logging
import time

from curation.pipeline import CurateConfig, curate
from envs.sim.raw import write_raw_footage

STAGES = ("split", "transcode", "motion", "quality", "embed", "text_overlay", "category", "caption", "dedup")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/raw-bench")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    write_raw_footage(args.data, args.videos, seed=args.seed, min_seconds=15, max_seconds=25, long_fraction=0)
    config = CurateConfig(stages=STAGES, min_motion=0.02, min_quality=0.3)
    start = time.perf_counter()
    result = curate(args.data, f"{args.data}-curated", config, overwrite=True, num_cpus=args.cpus)
    wall = time.perf_counter() - start
    stats = result.manifest["stats"]
    print(
        f"{stats['inputs']} raw videos ({stats['video_seconds']:.0f} s) -> {stats['clips']} clips kept "
        f"in {wall:.0f} s wall on {args.cpus} CPUs; dropped: {stats['dropped']}\n"
    )
    print("| stage | items | throughput (items/s per CPU) | dropped | share dropped |")
    print("|---|---|---|---|---|")
    for stage in STAGES:
        entry = stats["stages"].get(stage, {})
        items = entry.get("clips", entry.get("inputs", 0))
        unit = "clips" if "clips" in entry else "videos"
        dropped = int(entry.get("dropped", 0))
        rate = items / entry["seconds"] if entry.get("seconds") else float("inf")
        share = f"{dropped / items:.1%}" if unit == "clips" and items else "-"
        print(f"| {stage} | {items} {unit} | {rate:.1f} | {dropped if unit == 'clips' else '-'} | {share} |")


if __name__ == "__main__":
    main()

"""Coverage of recorded Fetch episodes: how often the block moves, gets off the straight path to its goal,
and reaches the goal, for each named policy mix, one table (then one row per policy kind).

    python benchmarks/fetch_coverage.py [--episodes 50] [--frames 50] [--size 32] [--seed 0]

The same episodes ``worldfm simulate fetch --policy-mix NAME`` records with the same seed
(``envs.sim.fetch.generate_episodes``, ``envs.sim.fetch_coverage``). Random motion alone is the
baseline: it seldom reaches the block.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from envs.sim.episode import Episode
from envs.sim.fetch import POLICY_MIXES, generate_episodes
from envs.sim.fetch_coverage import coverage

MIXES = {**POLICY_MIXES, "random only": {"random": 1.0}}


def row(name: str, episodes: list[Episode], extra: str = "") -> str:
    c = coverage(episodes)
    return (
        f"| {name} | {c['episodes']} | {c['block_moved']:.0%} | {c['block_moved_off_goal']:.0%} | "
        f"{c['reached_goal']:.0%} |{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=50, help="episodes per mix")
    parser.add_argument("--frames", type=int, default=50, help="frames per episode")
    parser.add_argument("--size", type=int, default=32, help="render size (coverage does not depend on it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    header = "| {} | episodes | block moved > 2 cm | block > 4 cm off its path to the goal | reached goal |"
    rule = "|---|---|---|---|---|"
    t0 = time.perf_counter()
    by_kind: dict[str, list[Episode]] = defaultdict(list)
    print(header.format("mix"), rule, sep="\n")
    for name, mix in MIXES.items():
        episodes = list(
            generate_episodes(
                args.episodes, size=args.size, seed=args.seed, frames_per_episode=args.frames, policy_mix=mix
            )
        )
        for episode in episodes:
            by_kind[episode.meta["policy"]].append(episode)
        print(row(name, episodes))
    print("", header.format("policy"), rule, sep="\n")
    for kind, episodes in sorted(by_kind.items()):
        print(row(kind, episodes))
    print(
        f"\n{args.frames} frames per episode at {args.size} px, seed {args.seed}, "
        f"{time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()

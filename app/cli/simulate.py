"""``worldfm simulate``: record simulator episodes as training shards, or raw footage for curation.

The simulators' generators take plain keyword arguments (no run dataclass), so the options are
written here; their values are recorded in the shards' manifest as the run's settings.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.common import UserError, summary

if TYPE_CHECKING:
    from envs.sim.episode import Episode

EXAMPLES = """examples:
  worldfm simulate fetch --episodes 20 --out data/fetch
  worldfm simulate fetch --policy-mix coverage --episodes 2000 --out data/fetch-coverage
  worldfm simulate fetch --task pickandplace --episodes 50 --size 128 --seed 1 --out data/pick
  worldfm simulate orbit --episodes 20 --out data/orbit
  worldfm simulate driving --episodes 20 --out data/driving
  worldfm simulate driving --backend carla --host 127.0.0.1 --port 2000 --out data/carla
  worldfm simulate raw --episodes 4 --out data/raw      # raw footage + labels.json, not shards
  worldfm simulate gym --env Pendulum-v1 --episodes 20 --size 32 --out data/pendulum
  worldfm simulate gym --env my_pkg.envs:MyRobot-v0 --env-kwargs '{"level": 2}' \
      --policy my_pkg.policies:scripted --episodes 100 --out data/my-robot
"""
FRAMES_PER_SOURCE = {"fetch": 50, "orbit": 48, "driving": 48, "gym": 50}
"""``--frames`` when not given: about two seconds of each simulator (gym: at most, as its episodes
end when the env terminates or truncates)"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser(
        "simulate",
        help="record simulator episodes as training shards",
        description="Record episodes from a ground-truth simulator into WebDataset shards "
        "(<out>/<H>x<W>_<duration>/shard-*.tar + manifest.json), or raw footage for curation.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument(
        "source", choices=["fetch", "orbit", "driving", "raw", "gym"], help="which simulator (gym: your own)"
    )
    sim.add_argument("--episodes", type=int, default=10, help="episodes to record (raw: videos to write)")
    sim.add_argument("--size", type=int, default=64, help="render size in pixels (square; raw: base height)")
    sim.add_argument("--seed", type=int, default=0, help="seed for scenes, policies and noise")
    sim.add_argument("--frames", type=int, default=None, help="frames per episode (default per source)")
    sim.add_argument("--out", required=True, help="output folder")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing shard set in --out")
    fetch = sim.add_argument_group("fetch")
    fetch.add_argument("--task", choices=["push", "pickandplace"], default="push")
    fetch.add_argument(
        "--policy-mix",
        choices=["default", "coverage"],
        default="default",
        help="scripted policies to record: 'default' (half clean expert demonstrations) or "
        "'coverage' (noisy experts at four noise levels, pushes from every angle, random motion "
        "started at the block: episodes that touch and move the block)",
    )
    driving = sim.add_argument_group("driving")
    driving.add_argument("--backend", choices=["embedded", "carla"], default="embedded")
    driving.add_argument("--host", default="127.0.0.1", help="CARLA server host")
    driving.add_argument("--port", type=int, default=2000, help="CARLA server RPC port")
    driving.add_argument("--timeout", type=float, default=10.0, help="CARLA connection timeout, seconds")
    gym = sim.add_argument_group("gym (any registered Gymnasium env that renders rgb_array)")
    gym.add_argument("--env", help="its Gymnasium id; 'module:Id' imports module first")
    gym.add_argument("--env-kwargs", default="{}", help="gym.make keyword arguments, as a JSON object")
    gym.add_argument(
        "--policy",
        default="random",
        help="'random' (samples the action space) or 'module:callable', policy(observation) -> action",
    )
    raw = sim.add_argument_group("raw")
    raw.add_argument("--min-seconds", type=float, default=20.0, help="shortest raw video")
    raw.add_argument("--max-seconds", type=float, default=45.0, help="longest raw video (before long ones)")
    raw.add_argument("--long-fraction", type=float, default=0.25, help="share of videos over 60 s")
    raw.add_argument(
        "--labelled-clips",
        action="store_true",
        help="write single-shot clips labelled by category and burned-in text (--episodes of them, "
        "--frames long) for `worldfm train classifier`, instead of raw videos",
    )
    sim.set_defaults(func=cmd_simulate)


def _episodes(args: argparse.Namespace) -> Iterator[Episode]:
    common = {"size": args.size, "seed": args.seed, "frames_per_episode": args.frames}
    if args.source == "fetch":
        from envs.sim.fetch import generate_episodes

        return generate_episodes(args.episodes, task=args.task, policy_mix=args.policy_mix, **common)
    if args.source == "orbit":
        from envs.sim.orbit import generate_episodes

        return generate_episodes(args.episodes, **common)
    if args.source == "driving":
        from envs.sim.driving import generate_episodes

        return generate_episodes(
            args.episodes,
            backend=args.backend,
            host=args.host,
            port=args.port,
            timeout=args.timeout,
            **common,
        )
    if args.source == "gym":
        from envs.sim.gym_env import generate_episodes

        return generate_episodes(
            args.episodes, env_id=args.env, env_kwargs=args.env_kwargs, policy=args.policy, **common
        )
    raise UserError(f"unknown source {args.source!r}")


def _check_gym_args(args: argparse.Namespace) -> None:
    """--env is given and --env-kwargs is a JSON object (parsed in place)."""
    if not args.env:
        raise UserError("simulate gym needs --env ID (a registered Gymnasium id, e.g. Pendulum-v1)")
    try:
        args.env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as e:
        raise UserError(f"--env-kwargs is not JSON ({e}); pass an object, e.g. '{{\"g\": 9.81}}'") from None
    if not isinstance(args.env_kwargs, dict):
        raise UserError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")


def cmd_simulate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {args.episodes}")
    if args.size < 16:
        raise UserError(f"--size must be >= 16 pixels, got {args.size}")
    out = Path(args.out)
    if args.source == "raw" and args.labelled_clips:
        from envs.sim.raw_clips import write_labelled_clips

        labels = write_labelled_clips(
            out, args.episodes, seed=args.seed, size=args.size, frames=args.frames or 48
        )
        summary(f"wrote {args.episodes} labelled clips and {labels} in {time.perf_counter() - start:.1f} s")
        return 0
    if args.source == "raw":
        from envs.sim.raw import write_raw_footage

        labels = write_raw_footage(
            out,
            args.episodes,
            seed=args.seed,
            size=args.size,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            long_fraction=args.long_fraction,
        )
        summary(f"wrote {args.episodes} raw videos and {labels} in {time.perf_counter() - start:.1f} s")
        return 0

    from gymnasium.error import DependencyNotInstalled

    from envs.record import record_episodes

    if args.source == "gym":
        _check_gym_args(args)
    if args.frames is None:
        args.frames = FRAMES_PER_SOURCE[args.source]
    run_info = {k: v for k, v in vars(args).items() if k != "func"}
    try:
        manifest = record_episodes(
            _episodes(args), out, total=args.episodes, overwrite=args.overwrite, run_info=run_info
        )
    except (ValueError, ImportError, DependencyNotInstalled) as e:
        if args.source != "gym":
            raise
        # The user's env, kwargs or policy (or a package its rendering needs): say what, no traceback.
        raise UserError(str(e)) from None
    stats = manifest["stats"]
    extra = f", scripted success {stats['success_rate']:.0%}" if "success_rate" in stats else ""
    summary(
        f"wrote {manifest['num_samples']} {args.source} episodes ({stats['frames']} frames) in "
        f"{len(manifest['shards'])} shard(s) to {out} in {time.perf_counter() - start:.1f} s{extra}"
    )
    return 0

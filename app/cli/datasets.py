"""``worldfm import`` / ``worldfm export``: other projects' dataset formats in and out of shards.

``import lerobot DIR --camera NAME --out SHARDS`` writes a LeRobot dataset's episodes as training
shards (``envs.lerobot.read_lerobot`` through the one shard writer, ``envs.record``);
``export lerobot SHARDS --out DIR`` writes robot episodes (clips with ``actions.npy``) as a LeRobot
v3.0 dataset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.cli.common import UserError, summary

RAW = argparse.RawDescriptionHelpFormatter


def add_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser(
        "import",
        help="turn another format's dataset into training shards (lerobot)",
        description="Write a dataset of another format as worldfm shards "
        "(<out>/<H>x<W>_<duration>/shard-*.tar + manifest.json).",
        epilog="examples:\n"
        "  worldfm import lerobot ~/data/my_robot --camera observation.images.top --out data/my-robot\n"
        "  worldfm train posttrain --task robot --from checkpoints/fetchpush-wm-dit --data data/my-robot \\\n"
        "      --out runs/my-robot-wm\n",
        formatter_class=RAW,
    )
    imp.add_argument("format", choices=["lerobot"], help="the dataset's format")
    imp.add_argument("source", help="the dataset folder (meta/info.json, data/, videos/)")
    imp.add_argument("--camera", required=True, help="which camera's video becomes the clips' frames")
    imp.add_argument("--out", required=True, help="output shard folder")
    imp.add_argument("--size", type=int, default=64, help="square frame side in pixels (centre crop)")
    imp.add_argument("--overwrite", action="store_true", help="replace an existing shard set in --out")
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser(
        "export",
        help="write robot episodes from shards in another format (lerobot)",
        description="Write the clips of a shard set that have actions.npy (worldfm simulate fetch / gym) "
        "as a dataset of another format.",
        epilog="example:\n  worldfm export lerobot data/fetch --out ~/data/fetch-lerobot\n",
        formatter_class=RAW,
    )
    exp.add_argument("format", choices=["lerobot"], help="the dataset format to write")
    exp.add_argument("source", help="shards: a folder, manifest, .tar or glob")
    exp.add_argument("--out", required=True, help="the new dataset's folder (must not hold one)")
    exp.add_argument("--camera", default="observation.images.main", help="the video feature's name")
    exp.add_argument("--robot-type", default=None, help="info.json's robot_type")
    exp.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    from envs.lerobot import LeRobotFormatError, check_camera, read_lerobot
    from envs.record import record_episodes

    start = time.perf_counter()
    if args.size < 16:
        raise UserError(f"--size must be >= 16 pixels, got {args.size}")
    try:
        # Checked before the progress bar starts, so a wrong name is the only line printed.
        total = check_camera(Path(args.source), args.camera).get("total_episodes")
        run_info = {k: v for k, v in vars(args).items() if k != "func"}
        manifest = record_episodes(
            read_lerobot(args.source, args.camera, size=args.size),
            args.out,
            total=total,
            overwrite=args.overwrite,
            run_info=run_info,
        )
    except LeRobotFormatError as e:
        raise UserError(str(e)) from None
    summary(
        f"imported {manifest['num_samples']} episodes ({manifest['stats']['frames']} frames) of "
        f"{args.source} camera {args.camera} into {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from envs.lerobot import LeRobotFormatError, write_lerobot

    start = time.perf_counter()
    try:
        info = write_lerobot(args.source, args.out, camera=args.camera, robot_type=args.robot_type)
    except LeRobotFormatError as e:
        raise UserError(str(e)) from None
    summary(
        f"wrote {info['total_episodes']} episodes ({info['total_frames']} frames) as LeRobot "
        f"{info['codebase_version']} to {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0

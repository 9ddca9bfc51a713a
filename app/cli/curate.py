"""``worldfm curate``: raw videos -> shot-split, transcoded, filtered, bucketed clip shards (Ray Data).

The options are ``curation.pipeline.CurateConfig``'s fields (its defaults), plus how the run
is executed (Ray, actors, progress), which is not part of what decides the clips.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from app.cli.common import UserError, summary
from app.cli.options import add_options

EXAMPLES = """examples:
  worldfm simulate raw --episodes 8 --out data/raw          # labelled synthetic footage
  worldfm curate data/raw --out data/curated
  worldfm curate 'footage/**/*.mov' --out shards --splitter pyscenedetect --max-resolution 640x360
  worldfm curate data/raw --out shards --stages transcode   # no shot splitting: whole videos, cut to 60 s
  worldfm curate data/raw --out shards --ray-address auto   # join a running Ray cluster
  worldfm curate data/raw --out shards --stages split,transcode,motion,quality,embed,dedup \\
      --min-motion 0.02 --min-quality 0.05 --dedup-threshold 0.97
  worldfm eval shots --labels data/raw/labels.json --splitter cascade transnetv2 pyscenedetect
"""
# CurateConfig documents its fields in one Attributes section: each option's help, for the user.
CLIP_HELP = {
    "splitter": "shot detector: cascade (PySceneDetect scores + TransNetV2 where they cannot decide; "
    "default), transnetv2 (the network on every frame), pyscenedetect (cuts only)",
    "min_clip_seconds": "shorter shots are dropped",
    "max_clip_seconds": "longer shots are cut into pieces",
    "crf": "x264 quality (0 lossless .. 51 worst)",
    "preset": "x264 speed preset (ultrafast .. veryslow)",
}
FILTER_HELP = {
    "min_motion": "motion: drop clips whose median optical-flow speed (half-frames per second) is below this "
    "(0.02 separates still shots); 0 keeps all, labelled",
    "min_quality": "quality: drop clips whose no-reference score (0..1) is below this; 0 keeps all, scored",
    "quality_weights": "quality: a local quality checkpoint folder (a curation.quality.QualityNet, "
    "config.json + model.safetensors) whose score replaces the no-reference one",
    "embedder": "clip embedder of the embed stage: tokenizer (the shipped CI8x8), tokenizer:<checkpoint dir> "
    "or hf:<local Hugging Face video model dir>",
    "dedup_threshold": "dedup: clips at or above this embedding cosine are duplicates "
    "(the best copy is kept)",
    "dedup_clusters": "dedup: k-means clusters (0: sqrt(clips))",
    "text_overlay_model": "text_overlay: classifier checkpoint (default: the shipped one; worldfm train "
    "classifier)",
    "text_threshold": "text_overlay: probability from which a clip has text",
    "keep_text": "text_overlay: label clips with burned-in text, do not drop them",
    "category_model": "category: classifier checkpoint (default: the shipped one)",
    "balance_seed": "category: seed of the re-balancing draws",
    "balance_max_repeats": "category: copies of one clip at most when up-sampling",
    "captioner": "caption: metadata (from simulator labels, motion, category, quality; default) or "
    "vlm:<local Hugging Face image-text-to-text model dir>",
    "caption_prompt": "caption: the vlm captioner's prompt",
    "caption_batch_size": "caption: clips per vlm batch",
    "caption_max_tokens": "caption: longest vlm caption, tokens",
}

# The CurateConfig fields whose options carry their names, by group (in --help's order).
CLIP_OPTIONS = ("min_clip_seconds", "max_clip_seconds", "crf", "preset")
FILTER_OPTIONS = (
    "min_motion",
    "min_quality",
    "quality_weights",
    "embedder",
    "dedup_threshold",
    "dedup_clusters",
    "text_overlay_model",
    "text_threshold",
    "keep_text",
    "category_model",
)
CAPTION_OPTIONS = (
    "balance_seed",
    "balance_max_repeats",
    "captioner",
    "caption_prompt",
    "caption_batch_size",
    "caption_max_tokens",
)


def resolution(text: str) -> tuple[int, int]:
    """``WxH`` -> ``(H, W)``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"resolution must be at least 16x16, got {text!r}")
    return height, width


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "curate",
        options=add_options_to,
        help="raw videos -> shot-split, transcoded, bucketed clip shards (Ray Data)",
        description="Split raw videos into shots (gradual transitions trimmed), keep clips of "
        "--min-clip-seconds..--max-clip-seconds, re-encode them as H.264 yuv420p and write bucketed shards "
        "(<out>/<H>x<W>_<duration>/shard-*.tar + manifest.json). Unreadable inputs go to "
        "<out>/quarantine.jsonl. Rerun the same command to resume an interrupted run.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(func=cmd_curate)


def add_options_to(cur: argparse.ArgumentParser) -> None:
    from curation.pipeline import CurateConfig, Resources
    from curation.splitters import SPLITTERS

    config = CurateConfig()
    cur.add_argument("inputs", help="a folder of videos (searched recursively), a quoted glob, or a video")
    cur.add_argument("--out", required=True, help="output folder for shards, manifest.json, quarantine.jsonl")
    add_options(cur, CurateConfig, ["splitter"], help=CLIP_HELP, choices={"splitter": SPLITTERS})
    cur.add_argument(
        "--stages",
        default=",".join(config.stages),
        help="comma-separated stages to run: split, transcode (required), motion, quality, embed, "
        "text_overlay, category (both need embed), caption, dedup (needs embed)",
    )
    add_options(cur, CurateConfig, CLIP_OPTIONS, help=CLIP_HELP)
    cur.add_argument(
        "--max-resolution",
        type=resolution,
        default=(config.max_height, config.max_width),
        help="WxH the clips are scaled down to fit",
    )
    cur.add_argument(
        "--max-input-resolution",
        type=resolution,
        default=(config.max_input_height, config.max_input_width),
        help="WxH over which inputs are quarantined (either orientation)",
    )
    add_options(
        cur,
        CurateConfig,
        ["max_samples_per_shard"],
        flags={"max_samples_per_shard": "--shard-size"},
        help={"max_samples_per_shard": "clips per shard at most"},
    )
    add_options(cur, CurateConfig, FILTER_OPTIONS, help=FILTER_HELP)
    cur.add_argument(
        "--balance",
        default="",
        help="category: re-balance to these shares, e.g. manipulation=0.4,driving=0.3,camera_motion=0.2,"
        "other=0.1 (down-samples, repeats clips of short categories; unnamed categories are dropped)",
    )
    add_options(cur, CurateConfig, CAPTION_OPTIONS, help=FILTER_HELP)
    cur.add_argument(
        "--split-actors",
        type=int,
        default=Resources.split_actors,
        help="shot-splitter actors (one model each) when the splitter has a GPU; on CPUs every task splits",
    )
    cur.add_argument(
        "--shared-frames-mib",
        type=int,
        default=Resources.shared_frames_mib,
        help="on CPUs a video whose frames at the clips' size fit in this many MiB is decoded once for "
        "the splitter and the clips; a larger one twice",
    )
    cur.add_argument("--ray-address", default=None, help="join this Ray cluster ('auto', 'ray://host:10001')")
    cur.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    cur.add_argument(
        "--fail-fast", action="store_true", help="stop at the first input that cannot be curated"
    )
    cur.add_argument("--overwrite", action="store_true", help="discard a previous run in --out first")
    cur.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also curate inputs that are links out of the input folder (skipped by default, listed in "
        "the manifest)",
    )
    cur.add_argument("--no-progress", action="store_true", help="no progress bar")


CONFIG_OPTIONS = ("splitter", *CLIP_OPTIONS, "max_samples_per_shard", *FILTER_OPTIONS, *CAPTION_OPTIONS)
"""the CurateConfig fields whose options carry their names"""


def curate_config(args: argparse.Namespace):  # noqa: ANN201 - a CurateConfig (imported lazily)
    from curation.balance import parse_balance
    from curation.classifiers import TASKS
    from curation.pipeline import CurateConfig, CurateError

    try:
        balance = parse_balance(args.balance or "", TASKS["category"])
    except ValueError as e:
        raise CurateError(str(e)) from None
    return CurateConfig(
        stages=tuple(s.strip() for s in args.stages.split(",") if s.strip()),
        max_height=args.max_resolution[0],
        max_width=args.max_resolution[1],
        max_input_height=args.max_input_resolution[0],
        max_input_width=args.max_input_resolution[1],
        balance=balance,
        **{name: getattr(args, name) for name in CONFIG_OPTIONS},
    )


def cmd_curate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from curation.pipeline import CurateError, Resources, curate, find_inputs

    # One progress bar over videos: Ray Data's notices about its own bars would interleave with it.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    # faiss (dedup) announces at INFO which CPU build it loaded.
    logging.getLogger("faiss").setLevel(logging.WARNING)
    start = time.perf_counter()
    try:
        config = curate_config(args)
        resources = Resources(
            split_actors=args.split_actors,
            shared_frames_mib=args.shared_frames_mib,
            fail_fast=args.fail_fast,
        )
        total = len(find_inputs(args.inputs, out_dir=args.out, follow_symlinks=args.follow_symlinks)[0])
        with tqdm(total=total, unit="video", desc="curate", disable=args.no_progress) as bar:

            def advance(record: dict) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{record['path'].rsplit('/', 1)[-1]}: {len(record['clips'])} clips")

            result = curate(
                args.inputs,
                args.out,
                config,
                resources=resources,
                overwrite=args.overwrite,
                follow_symlinks=args.follow_symlinks,
                ray_address=args.ray_address,
                num_cpus=args.cpus,
                progress=advance,
            )
    except CurateError as e:
        raise UserError(str(e)) from None
    summary(_report(result, args.out, time.perf_counter() - start))
    return 0


def _entries(stats: dict) -> str:
    """Every entry under the inputs and what became of it (``stats.outcomes`` has each by name)."""
    entries = stats.get("entries")
    if not entries:
        return ""
    parts = " + ".join(f"{k} {v}" for k, v in entries.items() if k != "found")
    return f"; {entries['found']} entries = {parts} (each listed in manifest.json stats.outcomes)"


def _report(result, out: str, seconds: float) -> str:  # noqa: ANN001 - a CurateResult
    stats = result.manifest["stats"]
    quarantined = sum(stats["quarantined"].values())
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    kinds = ", ".join(f"{k} {v}" for k, v in stats["quarantined"].items())
    prefix = "already complete: " if result.already_complete else ""
    return (
        f"{prefix}curated {stats['inputs']} videos ({stats['video_seconds']:.1f} s) into "
        f"{stats['clips']} clips ({stats['clip_seconds']:.1f} s) in {len(result.manifest['buckets'])} "
        f"bucket(s) at {out} in {seconds:.1f} s; dropped: {dropped}; "
        f"quarantined {quarantined}"
        + (f" ({kinds}; see {Path(out) / 'quarantine.jsonl'})" if quarantined else "")
        + (f"; resumed, {result.resumed_inputs} videos were already done" if result.resumed_inputs else "")
        + _entries(stats)
        + (
            f"; dedup removed {stats['dedup']['removed']} of {stats['dedup']['clips']} clips "
            f"({stats['dedup']['share_removed']:.1%})"
            if "dedup" in stats
            else ""
        )
        + (
            f"; categories {stats['categories']['before']} -> {stats['categories']['after']}"
            if "categories" in stats
            else ""
        )
    )

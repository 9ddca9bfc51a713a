"""Write simulator episodes as clip samples into bucketed shards (ARCHITECTURE.md contract)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from curation.sample import ClipSample
from curation.shards import ShardWriter
from curation.video_io import encode_video
from envs.sim.episode import Episode

logger = logging.getLogger(__name__)


def episode_to_sample(episode: Episode, *, crf: int = 18) -> ClipSample:
    """Encode an episode's views as H.264 and assemble its json and arrays.

    The key is ``<episode-id>-0000``: a recorded episode is one clip (clip index 0).
    """
    t, fps = episode.num_frames, float(episode.fps)
    meta = {
        **episode.meta,
        "source": episode.source,
        "episode_id": episode.episode_id,
        "start_s": 0.0,
        "end_s": t / fps,
        "fps": fps,
        "width": episode.width,
        "height": episode.height,
        "num_frames": t,
    }
    videos = {view: encode_video(frames, fps, crf=crf) for view, frames in episode.frames.items()}
    views = {}
    if len(videos) > 1:
        meta["views"] = list(videos)
        views = videos
    arrays = {name: np.asarray(a) for name, a in episode.arrays.items()}
    return ClipSample(f"{episode.episode_id}-0000", videos[episode.primary_view], meta, views, arrays)


def episode_stats(metas: list[dict]) -> dict:
    """Counts a run reports in its manifest: episodes, frames, success rate, labels."""
    stats: dict = {"episodes": len(metas), "frames": int(sum(m["num_frames"] for m in metas))}
    successes = [bool(m["success"]) for m in metas if "success" in m]
    if successes:
        stats["success_rate"] = float(np.mean(successes))
    # Fetch's coverage flags (envs.sim.fetch_coverage): how many episodes show the block moving.
    for flag in ("block_moved", "block_moved_off_goal", "reached_goal"):
        values = [bool(m[flag]) for m in metas if flag in m]
        if values:
            stats[f"{flag}_rate"] = float(np.mean(values))
    for label in ("policy", "motion", "maneuver", "task"):
        values = [m[label] for m in metas if label in m]
        if values:
            stats[f"{label}_counts"] = dict(sorted(Counter(values).items()))
    policy_success: dict[str, list[bool]] = {}
    for m in metas:
        if "policy" in m and "success" in m:
            policy_success.setdefault(m["policy"], []).append(bool(m["success"]))
    if policy_success:
        stats["success_rate_by_policy"] = {p: float(np.mean(v)) for p, v in sorted(policy_success.items())}
    return stats


def record_episodes(
    episodes: Iterable[Episode],
    out_dir: str | Path,
    *,
    total: int | None = None,
    overwrite: bool = False,
    max_samples_per_shard: int = 64,
    crf: int = 18,
    run_info: dict | None = None,
    progress: bool = True,
) -> dict:
    """Encode and shard ``episodes`` into ``out_dir``; returns the manifest.

    Args:
        total: how many episodes to expect, for the progress bar.
        run_info: the command's arguments etc., stored in the manifest's stats.
    """
    metas = []
    with ShardWriter(
        Path(out_dir), max_samples_per_shard=max_samples_per_shard, overwrite=overwrite
    ) as writer:
        for episode in tqdm(episodes, total=total, desc="recording", unit="ep", disable=not progress):
            sample = episode_to_sample(episode, crf=crf)
            writer.write(sample)
            metas.append(sample.meta)
        stats = {**episode_stats(metas), **({"run": run_info} if run_info else {})}
        return writer.close(stats)

"""The demo until the web app exists: record a few episodes, shard them, preview them."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import cv2
import numpy as np

from curation.video_io import write_video
from envs.record import record_episodes
from envs.rerun_log import save_episode_rrd
from envs.sim.episode import Episode

logger = logging.getLogger(__name__)


def tile_episodes(episodes: list[Episode], *, scale: int = 2) -> np.ndarray:
    """Side-by-side video of every view of every episode: ``uint8 (T, H*scale, W_total*scale, 3)``.

    Shorter episodes hold their last frame; multi-view episodes show their views in order.
    """
    tiles = [frames for ep in episodes for frames in ep.frames.values()]
    length = max(len(t) for t in tiles)
    height = max(t.shape[1] for t in tiles)
    padded = []
    for tile in tiles:
        tile = np.concatenate([tile, np.repeat(tile[-1:], length - len(tile), axis=0)])
        if tile.shape[1] != height:
            width = round(tile.shape[2] * height / tile.shape[1])
            tile = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in tile])
        padded.append(tile)
    grid = np.concatenate(padded, axis=2)
    return np.repeat(np.repeat(grid, scale, axis=1), scale, axis=2)


def run_demo(out: Path, *, episodes: int = 2, size: int = 64, seed: int = 0) -> dict[str, Path]:
    """Record Fetch, orbit and driving episodes; write shards, ``preview.mp4`` and ``episode.rrd``."""
    from envs.sim import driving, fetch, orbit

    recorded: list[Episode] = []

    def keep(stream):  # noqa: ANN001, ANN202 - pass-through that remembers each episode
        for episode in stream:
            recorded.append(episode)
            yield episode

    streams = itertools.chain(
        fetch.generate_episodes(episodes, size=size, seed=seed, frames_per_episode=50),
        orbit.generate_episodes(1, size=size, seed=seed, frames_per_episode=48),
        driving.generate_episodes(1, size=size, seed=seed, frames_per_episode=48),
    )
    manifest = record_episodes(keep(streams), out / "shards", total=episodes + 2, overwrite=True)
    preview = out / "preview.mp4"
    write_video(preview, tile_episodes(recorded), fps=recorded[0].fps)
    rrd = save_episode_rrd(recorded[0], out / "episode.rrd")
    logger.info("recorded %d episodes (%d frames)", manifest["num_samples"], manifest["stats"]["frames"])
    return {
        "shards": out / "shards",
        "manifest": out / "shards" / "manifest.json",
        "preview": preview,
        "rerun": rrd,
    }

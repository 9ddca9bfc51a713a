"""Semantic dedup on planted near-duplicates: share removed, ours vs exact-hash dedup, one table.

    python benchmarks/dedup.py [--clips 120] [--duplicates 60] [--seed 5] [--threshold 0.97]

Distinct clips are ``worldfm simulate orbit`` episodes (every episode is a new random
scene and camera path, 2 s at 24 fps, 64x64 or 64x96), encoded as the curate transcode
does (H.264, crf 18). Planted near-duplicates are copies of the first ``--duplicates``
of them, cycling through three edits:

- ``re-encoded``: decoded and encoded again at crf 35 (blockier, softer);
- ``resized``: scaled down to 3/4 of each side (then encoded at crf 23);
- ``trimmed``: the first and last 20% of the frames cut off.

Every copy is worse than its original (lower resolution, shorter, or same size and
length but later in input order), so the dedup should remove the copy and keep the
original. Rows: share of planted copies removed (want >= 95%) and share of distinct
clips removed (want <= 2%).

- ``semantic (ours)``: ``TokenizerEmbedder`` (the shipped CI8x8 tokenizer, 8 frames),
  then ``semantic_dedup`` (faiss k-means, cosine inside clusters).
- ``exact hash``: sha1 of the mp4 bytes, the baseline that only catches byte-identical copies.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import cv2
import numpy as np

from curation.dedup import DedupConfig, semantic_dedup
from curation.embeddings import TokenizerEmbedder
from curation.frame_sampling import sample_frames
from curation.video_io import encode_video, read_video
from envs.sim.orbit import FPS, generate_episodes

EDITS = ("re-encoded", "resized", "trimmed")


def planted_copy(data: bytes, edit: str) -> bytes:
    """A near-duplicate of the encoded clip ``data`` made by ``edit`` (one of ``EDITS``)."""
    frames, info = read_video(data)
    if edit == "re-encoded":
        return encode_video(frames, info.fps, crf=35)
    if edit == "resized":
        h, w = frames.shape[1] * 3 // 4, frames.shape[2] * 3 // 4
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        return encode_video(small, info.fps, crf=23)
    if edit == "trimmed":
        cut = len(frames) // 5
        return encode_video(frames[cut : len(frames) - cut], info.fps, crf=18)
    raise ValueError(f"unknown edit {edit!r}; choose from {EDITS}")


def build_set(clips: int, duplicates: int, seed: int) -> tuple[list[bytes], list[int]]:
    """Encoded clips (originals then copies) and, per clip, the index of its original (-1: distinct)."""
    if not 0 <= duplicates <= clips:
        raise ValueError(f"need 0 <= duplicates <= clips, got {duplicates} and {clips}")
    videos: list[bytes] = []
    for i, wide in enumerate((False, True)):
        count = clips // 2 if i == 0 else clips - clips // 2
        for ep in generate_episodes(count, size=64, seed=seed + i, width=96 if wide else None):
            videos.append(encode_video(ep.frames["main"], FPS, crf=18))
    origin = [-1] * len(videos)
    for j in range(duplicates):
        videos.append(planted_copy(videos[j], EDITS[j % len(EDITS)]))
        origin.append(j)
    return videos, origin


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=120, help="distinct clips")
    parser.add_argument("--duplicates", type=int, default=60, help="planted near-duplicates")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=DedupConfig().threshold)
    args = parser.parse_args()
    videos, origin = build_set(args.clips, args.duplicates, args.seed)
    origin_arr = np.array(origin)
    planted, distinct = origin_arr >= 0, origin_arr < 0

    embedder = TokenizerEmbedder()
    start = time.perf_counter()
    embeddings, pixels, seconds = [], [], []
    for data in videos:
        frames, _, fps = sample_frames(data, embedder.num_frames)
        info = read_video(data)[1]
        embeddings.append(embedder.embed(frames))
        pixels.append(info.width * info.height)
        seconds.append(info.num_frames / fps)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    result = semantic_dedup(
        np.stack(embeddings),
        pixels=np.array(pixels),
        seconds=np.array(seconds),
        config=DedupConfig(threshold=args.threshold),
    )
    dedup_s = time.perf_counter() - start
    seen: set[str] = set()
    exact = np.zeros(len(videos), dtype=bool)
    for i, data in enumerate(videos):
        digest = hashlib.sha1(data).hexdigest()
        exact[i] = digest in seen
        seen.add(digest)

    print(
        f"{args.clips} distinct orbit clips + {args.duplicates} planted copies "
        f"({', '.join(EDITS)}), threshold {args.threshold}, {len(np.unique(result.cluster))} clusters"
    )
    print("| method | planted copies removed | distinct clips removed |")
    print("|---|---|---|")
    for name, removed in (("semantic (ours)", ~result.keep), ("exact hash", exact)):
        print(f"| {name} | {removed[planted].mean():.1%} | {removed[distinct].mean():.1%} |")
    per_edit = [(~result.keep)[planted][k :: len(EDITS)].mean() for k in range(len(EDITS))]
    print("ours per edit: " + ", ".join(f"{e} {v:.0%}" for e, v in zip(EDITS, per_edit, strict=True)))
    kept_original = np.mean([result.keep[o] for o in origin_arr[planted]])
    print(f"originals kept where their copy was planted: {kept_original:.1%}")
    distinct_sims = np.stack(embeddings)[distinct] @ np.stack(embeddings)[distinct].T
    np.fill_diagonal(distinct_sims, -1.0)
    print(
        f"highest cosine between distinct clips {distinct_sims.max():.4f}; lowest copy-original cosine "
        f"{min(float(embeddings[i] @ embeddings[o]) for i, o in enumerate(origin) if o >= 0):.4f}"
    )
    print(
        f"embedding {len(videos) / embed_s:.1f} clips/s (decode + tokenizer, 1 core), dedup {dedup_s:.3f} s"
    )


if __name__ == "__main__":
    main()

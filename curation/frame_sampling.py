"""Evenly spaced frames (or frame pairs) of a clip, streamed: only the kept frames are held in memory."""

from __future__ import annotations

import numpy as np

from curation.video_io import PathLike, VideoError, iter_frames, probe


def sample_indices(num_frames: int, count: int) -> np.ndarray:
    """``min(count, num_frames)`` indices spread evenly over ``[0, num_frames)``, first and last included.

    Raises:
        ValueError: ``num_frames`` or ``count`` below 1.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if count >= num_frames:
        return np.arange(num_frames)
    return np.unique(np.round(np.linspace(0, num_frames - 1, count)).astype(int))


def _keep(path: PathLike | bytes, wanted: set[int], size: tuple[int, int] | None) -> tuple[dict, int]:
    """Decode once, keeping the frames at ``wanted``; returns them and the frames decoded."""
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    for i, frame in enumerate(iter_frames(path, size=size, end_frame=max(wanted) + 1)):
        if i in wanted:
            kept[i] = frame
        decoded = i + 1
    return kept, decoded


def sample_frames(
    path: PathLike | bytes, count: int, *, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``count`` evenly spaced frames of a video.

    The container's frame count chooses the frames; where it overstates what
    decodes, the frames are chosen again from what did.

    Args:
        path: a video file or its encoded bytes.
        size: optional ``(H, W)`` every frame is resized to.

    Returns:
        frames ``uint8 (N, H, W, 3)``, their indices ``(N,)`` and the video's fps.
    """
    info = probe(path)
    indices = sample_indices(max(1, info.num_frames), count)
    kept, decoded = _keep(path, set(indices.tolist()), size)
    if decoded == 0:
        raise VideoError(info.path, "contains no decodable frames")
    if decoded < info.num_frames:
        indices = sample_indices(decoded, count)
        kept, _ = _keep(path, set(indices.tolist()), size)
    return np.stack([kept[i] for i in indices]), indices, info.fps


def frame_pairs(
    path: PathLike | bytes, count: int, gap: int, *, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Up to ``count`` pairs of frames ``gap`` apart, spread evenly over the video.

    Returns:
        pairs ``uint8 (N, 2, H, W, 3)``, the first frame's index of each pair ``(N,)``, the gap
        used and the fps. A video shorter than ``gap + 1`` frames uses the largest gap it has.
    """
    if gap < 1:
        raise ValueError(f"gap must be >= 1, got {gap}")
    info = probe(path)
    total = max(2, info.num_frames)
    for _ in range(2):
        used = min(gap, total - 1)
        starts = sample_indices(total - used, count)
        wanted = set(starts.tolist()) | {int(i) + used for i in starts}
        kept, decoded = _keep(path, wanted, size)
        if decoded >= total or decoded < 2:
            break
        total = decoded
    if decoded < 2:
        raise VideoError(info.path, f"needs at least 2 frames for motion, got {decoded}")
    pairs = np.stack([np.stack([kept[i], kept[i + used]]) for i in starts])
    return pairs, starts, used, info.fps

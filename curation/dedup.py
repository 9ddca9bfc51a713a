"""Semantic dedup: k-means on unit clip embeddings, then pairwise cosine inside the clusters.

After SemDeDup (arXiv 2303.09540, Sec. 3): clustering first keeps the pairwise step
near ``sum(n_k^2)`` instead of ``N^2``. The clips are visited best first (highest
resolution, then longest, then input order) and a clip whose cosine similarity to an
already kept clip of its ``probes`` nearest clusters reaches ``threshold`` is removed
as that clip's duplicate, so of each group of near-duplicates the best copy survives.
Looking beyond the clip's own cluster (SemDeDup looks inside it only) finds the pairs
that k-means happens to cut apart, which small or unlucky clusterings do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from curation.embeddings import l2_normalise


@dataclass(frozen=True)
class DedupConfig:
    """Semantic dedup settings.

    Attributes:
        threshold: cosine similarity at or above which two clips are duplicates.
        clusters: k-means clusters; 0 picks ``ceil(sqrt(N))`` so each holds ~sqrt(N) clips.
        probes: nearest clusters whose kept clips each clip is compared with (1: its own only).
        iterations: k-means iterations.
        seed: k-means seed (the result is deterministic for a given seed).
    """

    threshold: float = 0.97
    clusters: int = 0
    probes: int = 2
    iterations: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {self.threshold}")
        if self.clusters < 0:
            raise ValueError(f"dedup clusters must be >= 0 (0: automatic), got {self.clusters}")
        if self.probes < 1:
            raise ValueError(f"dedup probes must be >= 1, got {self.probes}")
        if self.iterations < 1:
            raise ValueError(f"dedup iterations must be >= 1, got {self.iterations}")


@dataclass(frozen=True)
class DedupResult:
    """Per clip: ``cluster`` (N,) int, ``keep`` (N,) bool, ``duplicate_of`` (N,) int (-1 when kept)
    and ``similarity`` (N,) float, the cosine to the kept clip it duplicates (0 when kept)."""

    cluster: np.ndarray
    keep: np.ndarray
    duplicate_of: np.ndarray
    similarity: np.ndarray

    @property
    def removed(self) -> int:
        return int((~self.keep).sum())


def kmeans_clusters(
    x: np.ndarray, k: int, *, probes: int = 1, iterations: int = 20, seed: int = 0
) -> np.ndarray:
    """Spherical k-means (faiss) of unit rows ``x`` (N, D).

    Returns:
        (N, min(probes, k)) int: each row's nearest clusters, nearest first (column 0 is its cluster).
    """
    import faiss

    n, d = x.shape
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros((n, 1), dtype=np.int64)
    x = np.ascontiguousarray(x, dtype=np.float32)
    kmeans = faiss.Kmeans(d, k, niter=iterations, seed=seed, spherical=True, verbose=False)
    # faiss warns below 39 points per centroid; small runs are still fine for dedup.
    kmeans.cp.min_points_per_centroid = 1
    kmeans.train(x)
    _, nearest = kmeans.index.search(x, min(probes, k))
    return nearest.astype(np.int64)


def dedup_within_clusters(
    x: np.ndarray, clusters: np.ndarray, priority: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy dedup over clusters (module docstring).

    Args:
        x: (N, D) unit embeddings.
        clusters: (N, P) each clip's nearest clusters, its own first; a clip is compared with
            the kept clips whose own cluster is any of its P.
        priority: (N, K) sort keys, larger is better, compared column by column.
        threshold: cosine at or above which a clip duplicates a kept one.

    Returns:
        keep (N,) bool, duplicate_of (N,) int (-1 when kept), similarity (N,) float.
    """
    n = len(x)
    keep = np.ones(n, dtype=bool)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    similarity = np.zeros(n, dtype=np.float32)
    # Best first: lexsort sorts by its last key first, ascending, so negate and reverse.
    keys = [-priority[:, j] for j in reversed(range(priority.shape[1]))]
    order = np.lexsort((np.arange(n), *keys))
    kept: dict[int, list[int]] = {}
    for clip in order:
        best, best_sim = -1, -np.inf
        for c in clusters[clip]:
            members = kept.get(int(c), [])
            if members:
                sims = x[members] @ x[clip]  # (n_kept,)
                i = int(np.argmax(sims))
                if sims[i] > best_sim:
                    best, best_sim = members[i], float(sims[i])
        if best >= 0 and best_sim >= threshold:
            keep[clip] = False
            duplicate_of[clip] = best
            similarity[clip] = best_sim
        else:
            kept.setdefault(int(clusters[clip, 0]), []).append(int(clip))
    return keep, duplicate_of, similarity


def semantic_dedup(
    embeddings: np.ndarray,
    *,
    pixels: np.ndarray | None = None,
    seconds: np.ndarray | None = None,
    config: DedupConfig = DedupConfig(),
) -> DedupResult:
    """Deduplicate clips by their embeddings.

    Args:
        embeddings: (N, D) clip embeddings (normalised here).
        pixels: (N,) width * height of each clip; the highest resolution copy is kept.
        seconds: (N,) clip durations; among equal resolutions the longest copy is kept.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"embeddings must be (N, D) with D > 0, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf")
    n = len(x)
    pixels = np.zeros(n) if pixels is None else np.asarray(pixels, dtype=np.float64)
    seconds = np.zeros(n) if seconds is None else np.asarray(seconds, dtype=np.float64)
    if pixels.shape != (n,) or seconds.shape != (n,):
        raise ValueError(f"pixels and seconds must be ({n},), got {pixels.shape} and {seconds.shape}")
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return DedupResult(empty, np.zeros(0, dtype=bool), empty, np.zeros(0, dtype=np.float32))
    x = l2_normalise(x)
    k = config.clusters or math.ceil(math.sqrt(n))
    clusters = kmeans_clusters(x, k, probes=config.probes, iterations=config.iterations, seed=config.seed)
    keep, duplicate_of, similarity = dedup_within_clusters(
        x, clusters, np.stack([pixels, seconds], axis=1), config.threshold
    )
    return DedupResult(clusters[:, 0], keep, duplicate_of, similarity)

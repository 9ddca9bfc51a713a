"""Semantic dedup (``curation.dedup``): k-means clusters, cosine inside them, the best copy kept."""

from __future__ import annotations

import numpy as np
import pytest

from curation.dedup import DedupConfig, dedup_within_clusters, kmeans_clusters, semantic_dedup


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_dedup_keeps_the_highest_resolution_then_the_longest_copy() -> None:
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    x = _unit(np.stack([a, a, a, b]) + 0.01 * rng.normal(size=(4, 8)))
    result = semantic_dedup(
        x,
        pixels=np.array([100, 400, 400, 100]),
        seconds=np.array([5.0, 2.0, 3.0, 1.0]),
        config=DedupConfig(threshold=0.95, clusters=1),
    )
    assert result.keep.tolist() == [False, False, True, True]
    assert result.duplicate_of.tolist() == [2, 2, -1, -1] and result.removed == 2
    assert np.all(result.similarity[:2] >= 0.95) and np.all(result.similarity[2:] == 0)


def test_equal_copies_keep_the_first_in_input_order() -> None:
    x = np.tile(np.eye(4)[2], (3, 1))
    keep, duplicate_of, _ = dedup_within_clusters(x, np.zeros((3, 1), int), np.zeros((3, 2)), 0.99)
    assert keep.tolist() == [True, False, False] and duplicate_of.tolist() == [-1, 0, 0]


def test_threshold_decides_on_the_cosine() -> None:
    # Cosine 0.9 exactly between the two clips.
    x = np.array([[1.0, 0.0], [0.9, np.sqrt(1 - 0.81)]])
    for threshold, removed in ((0.89, 1), (0.91, 0)):
        result = semantic_dedup(x, config=DedupConfig(threshold=threshold, clusters=1))
        assert result.removed == removed


def test_distinct_clips_are_all_kept() -> None:
    x = np.eye(16)
    result = semantic_dedup(x, config=DedupConfig(threshold=0.5))
    assert result.keep.all() and (result.duplicate_of == -1).all()


def test_kmeans_puts_far_groups_in_different_clusters() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.eye(6)[:3], 10, axis=0)
    x = _unit(groups + 0.05 * rng.normal(size=groups.shape)).astype(np.float32)
    nearest = kmeans_clusters(x, 3, probes=2, seed=0)
    assert nearest.shape == (30, 2) and (nearest[:, 0] != nearest[:, 1]).all()
    cluster = nearest[:, 0]
    ids = [set(cluster[i * 10 : (i + 1) * 10].tolist()) for i in range(3)]
    assert all(len(s) == 1 for s in ids) and len(set.union(*ids)) == 3


def test_duplicates_are_found_after_clustering_many_clips() -> None:
    rng = np.random.default_rng(2)
    originals = _unit(rng.normal(size=(60, 32)))
    copies = _unit(originals[:20] + 0.02 * rng.normal(size=(20, 32)))
    x = np.concatenate([originals, copies])
    pixels = np.concatenate([np.full(60, 4096), np.full(20, 1024)])
    result = semantic_dedup(x, pixels=pixels, config=DedupConfig(threshold=0.97))
    assert result.keep[:60].all() and not result.keep[60:].any()
    assert result.duplicate_of[60:].tolist() == list(range(20))
    assert len(np.unique(result.cluster)) == 9  # ceil(sqrt(80))


def test_a_duplicate_cut_off_into_another_cluster_is_still_found() -> None:
    # Clip 1 is a copy of clip 0, but the clustering put them apart.
    x = _unit(np.array([[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    priority = np.zeros((4, 2))
    nearest = np.array([[0, 1], [1, 0], [1, 2], [2, 1]])
    keep, duplicate_of, _ = dedup_within_clusters(x, nearest, priority, 0.99)
    assert keep.tolist() == [True, False, True, True] and duplicate_of[1] == 0
    keep, _, _ = dedup_within_clusters(x, nearest[:, :1], priority, 0.99)
    assert keep.all()


def test_bad_embeddings_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        semantic_dedup(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        semantic_dedup(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="pixels"):
        semantic_dedup(np.eye(3), pixels=np.ones(2))
    with pytest.raises(ValueError, match="threshold"):
        DedupConfig(threshold=0.0)
    with pytest.raises(ValueError, match="probes"):
        DedupConfig(probes=0)
    assert semantic_dedup(np.zeros((0, 4))).removed == 0

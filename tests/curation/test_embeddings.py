"""Clip embeddings (``curation.embeddings``): pooling by its definition, the shipped-tokenizer embedder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from curation.embeddings import (
    EmbedderError,
    HFVideoEmbedder,
    TokenizerEmbedder,
    make_embedder,
    pool_latents,
)
from curation.frame_sampling import sample_frames, sample_indices
from curation.video_io import encode_video
from envs.sim.orbit import generate_episodes


def test_pooled_latent_is_unit_norm_and_blind_to_a_channel_offset() -> None:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(4, 3, 8, 8))
    pooled = pool_latents(latent, grid=4)
    assert pooled.shape == (4 * 16 + 4,) and np.linalg.norm(pooled) == pytest.approx(1.0, abs=1e-6)
    shifted = latent + rng.normal(size=(4, 1, 1, 1)) * 10
    np.testing.assert_allclose(pool_latents(shifted, grid=4), pooled, atol=1e-5)


def test_pooled_layout_is_the_centred_time_mean_per_cell() -> None:
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(2, 5, 4, 4))
    centred = latent - latent.mean(axis=(1, 2, 3), keepdims=True)
    expected = np.concatenate([centred.mean(axis=1).reshape(-1), centred.max(axis=(1, 2, 3))])
    np.testing.assert_allclose(pool_latents(latent, grid=4), expected / np.linalg.norm(expected), atol=1e-6)
    with pytest.raises(ValueError, match="grid"):
        pool_latents(latent, grid=5)


def test_sample_indices_spread_evenly_and_include_both_ends() -> None:
    assert sample_indices(48, 4).tolist() == [0, 16, 31, 47]
    assert sample_indices(3, 8).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="count"):
        sample_indices(10, 0)


@pytest.fixture(scope="module")
def embedder() -> TokenizerEmbedder:
    return TokenizerEmbedder()


def test_near_duplicate_clips_embed_closer_than_distinct_ones(embedder: TokenizerEmbedder) -> None:
    clips = [ep.frames["main"] for ep in generate_episodes(3, size=64, seed=3, frames_per_episode=24)]
    vectors = []
    for frames in clips:
        data = encode_video(frames, 24.0)
        vectors.append(embedder.embed(sample_frames(data, embedder.num_frames)[0]))
    small = np.stack([cv2.resize(f, (40, 40), interpolation=cv2.INTER_AREA) for f in clips[0][3:]])
    copy = embedder.embed(sample_frames(encode_video(small, 24.0, crf=30), embedder.num_frames)[0])
    assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5) for v in [*vectors, copy])
    assert vectors[0].shape == (embedder.dim,)
    distinct = max(float(vectors[i] @ vectors[j]) for i in range(3) for j in range(i + 1, 3))
    assert float(copy @ vectors[0]) >= 0.97 > distinct
    again = embedder.embed(sample_frames(encode_video(clips[1], 24.0), embedder.num_frames)[0])
    np.testing.assert_allclose(again, vectors[1], atol=1e-6)


def test_embedder_refuses_frames_that_are_not_uint8_video(embedder: TokenizerEmbedder) -> None:
    with pytest.raises(EmbedderError, match="uint8"):
        embedder.embed(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(EmbedderError, match="T>0"):
        embedder.embed(np.zeros((0, 64, 64, 3), np.uint8))


def test_missing_model_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="no config.json.*--embedder hf:DIR"):
        HFVideoEmbedder(tmp_path / "videomae")
    with pytest.raises(EmbedderError, match="tokenizer checkpoint"):
        make_embedder(f"tokenizer:{tmp_path}")
    with pytest.raises(EmbedderError, match="unknown embedder"):
        make_embedder("clip")
    with pytest.raises(EmbedderError, match="local model directory"):
        make_embedder("hf")

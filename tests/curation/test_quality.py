"""Visual quality (``curation.quality``): each measure against its definition, the score's ranking of
degraded clips below clean ones, and the optional learned predictor's interface."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from curation.quality import (
    QualityConfig,
    QualityNet,
    QualityNetConfig,
    blockiness,
    check_quality_weights,
    clip_quality,
    frozen_share,
    load_learned_quality,
    noise_sigma,
    quality_factors,
    sharpness,
    video_quality,
)
from curation.video_io import encode_video
from envs.sim.orbit import FPS, generate_episodes
from worldmodel import hub


def test_noise_estimate_matches_the_sigma_of_added_gaussian_noise() -> None:
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(40, 200, 128, dtype=np.float32), (128, 1))  # no noise, constant slope
    assert noise_sigma(ramp) == pytest.approx(0.0, abs=1e-3)
    # Texture is not noise when only the flattest pixels count.
    texture = ramp.copy()
    texture[:, 64:] += 60 * ((np.indices((128, 64)) // 4).sum(axis=0) % 2)
    assert noise_sigma(texture, flat_share=0.5) < 0.05 * noise_sigma(texture)
    for sigma in (3.0, 10.0):
        noisy = ramp + rng.normal(0, sigma, ramp.shape).astype(np.float32)
        assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)
        assert noise_sigma(noisy, flat_share=0.5) == pytest.approx(sigma, rel=0.15)


def test_sharpness_is_the_mean_gradient_and_falls_with_blur() -> None:
    step = np.zeros((32, 32), np.float32)
    step[:, 16:] = 80.0
    # Sobel / 8 gives the one-pixel difference; the step spans two columns of 40 per pixel.
    assert sharpness(step) == pytest.approx(80.0 * 2 / 32 * 32 / 32 / 2, rel=0.05)
    rng = np.random.default_rng(1)
    texture = rng.uniform(0, 255, (64, 64)).astype(np.float32)
    assert sharpness(cv2.GaussianBlur(texture, (0, 0), 1.5)) < 0.5 * sharpness(texture)


def test_blockiness_is_high_only_for_steps_on_the_block_grid() -> None:
    rng = np.random.default_rng(2)
    blocks = np.kron(rng.uniform(0, 255, (8, 8)), np.ones((8, 8))).astype(np.float32)
    assert blockiness(blocks) > 100
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (64, 1))
    assert blockiness(smooth) == pytest.approx(1.0, abs=0.01)


def test_frozen_share_counts_unchanged_pairs() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 9, np.uint8)
    pairs = np.stack([np.stack([a, a]), np.stack([a, b]), np.stack([b, b]), np.stack([b, a])])
    assert frozen_share(pairs) == 0.5


def test_factors_are_one_for_a_flawless_clip_and_the_score_is_their_product() -> None:
    flawless = {
        "sharpness": 1e6,
        "noise": 0.0,
        "brightness": 0.5,
        "clipped": 0.0,
        "black": 0.0,
        "contrast": 1e6,
        "blockiness": 1.0,
        "frozen": 0.0,
    }
    assert all(v == pytest.approx(1.0) for v in quality_factors(flawless).values())
    frozen = quality_factors({**flawless, "frozen": 1.0})
    assert frozen["frozen"] == pytest.approx(1 - QualityConfig().frozen_weight)


@pytest.fixture(scope="module")
def clean_clips() -> list[np.ndarray]:
    return [ep.frames["main"] for ep in generate_episodes(3, size=64, seed=4, frames_per_episode=24)]


@pytest.mark.parametrize("kind", ["blur", "noise", "under", "over", "compressed"])
def test_degraded_clips_score_below_their_clean_originals(clean_clips: list[np.ndarray], kind: str) -> None:
    rng = np.random.default_rng(3)
    for frames in clean_clips:
        x = frames.astype(np.float32)
        crf = 18
        if kind == "blur":
            bad = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames])
        elif kind == "noise":
            bad = np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.uint8)
        elif kind == "under":
            bad = (x * 0.35).astype(np.uint8)
        elif kind == "over":
            bad = np.clip(x * 1.8 + 60, 0, 255).astype(np.uint8)
        else:
            bad, crf = frames, 45
        clean = video_quality(encode_video(frames, FPS))
        degraded = video_quality(encode_video(bad, FPS, crf=crf))
        assert 0 <= degraded["score"] < clean["score"] <= 1, (kind, clean, degraded)


def constant_quality_net(score: float) -> QualityNet:
    """A ``QualityNet`` whose every frame scores ``score`` (weights zeroed, the output bias set)."""
    net = QualityNet(QualityNetConfig(size=16, channels=(4, 8)))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.score.bias.fill_(math.log(score / (1 - score)))
    return net


def test_learned_predictor_loads_from_safetensors_and_replaces_the_score(tmp_path: Path) -> None:
    hub.save(constant_quality_net(0.2), tmp_path / "quality")
    assert sorted(p.name for p in (tmp_path / "quality").iterdir()) == ["config.json", "model.safetensors"]
    learned = load_learned_quality(tmp_path / "quality")
    frames = np.full((4, 16, 16, 3), 51, np.uint8)
    pairs = np.stack([frames[:2], frames[2:]])
    result = clip_quality(frames, pairs, learned=learned)
    assert result["score"] == result["learned"] == pytest.approx(0.2, abs=1e-6)
    assert 0 <= result["no_reference_score"] < 1
    with pytest.raises(FileNotFoundError, match="checkpoint folder"):
        load_learned_quality(tmp_path / "missing")


def test_torchscript_quality_weights_are_refused(tmp_path: Path) -> None:
    class Payload(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(1, 2, 3))

    path = tmp_path / "quality.pt"
    torch.jit.script(Payload()).save(str(path))
    with pytest.raises(hub.CheckpointError, match="arbitrary code"):
        load_learned_quality(path)
    with pytest.raises(ValueError, match="arbitrary code"):
        check_quality_weights(path)
    folder = hub.save(QualityNet(QualityNetConfig()), tmp_path / "quality")
    check_quality_weights(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "kind": "classifier"}))
    with pytest.raises(ValueError, match="not a 'quality' one"):
        check_quality_weights(folder)

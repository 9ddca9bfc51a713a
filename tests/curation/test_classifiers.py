"""Clip classifiers (``curation.classifiers``, ``training.train_classifier``): train, save, load, use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from curation.classifiers import (
    DEFAULT_CHECKPOINTS,
    ClassifierError,
    ClipClassifier,
    check_classifier,
    load_classifier,
)
from curation.text_features import TextFeatureConfig, text_features
from envs.sim.raw_clips import CATEGORIES, write_labelled_clips
from envs.sim.text_overlay import burn_overlays, plan_overlay
from training.train_classifier import ClassifierTrainArgs, heldout_split, train_classifier


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixteen small labelled clips, four of each category."""
    folder = tmp_path_factory.mktemp("clips")
    write_labelled_clips(folder, 16, seed=5, size=32, frames=9)
    return folder


def test_labelled_clips_are_reproducible_by_seed_and_cycle_categories(labelled: Path, tmp_path: Path) -> None:
    clips = json.loads((labelled / "labels.json").read_text())["clips"]
    assert [clips[f"clip_{i:05d}.mp4"]["category"] for i in range(8)] == list(CATEGORIES) * 2
    again = write_labelled_clips(tmp_path, 2, seed=5, size=32, frames=9)
    assert json.loads(again.read_text())["clips"] == {
        k: clips[k] for k in ("clip_00000.mp4", "clip_00001.mp4")
    }
    assert (tmp_path / "clip_00001.mp4").read_bytes() == (labelled / "clip_00001.mp4").read_bytes()


def test_category_classifier_trained_on_tiny_clips_learns_above_chance(
    labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "category-mlp"
    args = ClassifierTrainArgs(
        task="category", data=(str(labelled),), out=str(out), steps=300, heldout_fraction=0.25
    )
    result = train_classifier(args, command="worldfm train classifier --task category")
    assert result["train_accuracy"] == 1.0
    # One held-out clip per class: chance is 25%.
    assert result["heldout_clips"] == 4 and result["heldout_accuracy"] >= 0.5
    model = ClipClassifier(out, task="category")
    assert model.model.config.inputs == ("embedding",) and model.text_features is None
    p = model.probabilities(np.random.default_rng(0).normal(size=(3, 272)))
    assert p.shape == (3, 4) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    card = (out / "MODEL_CARD.md").read_text()
    assert "worldfm train classifier --task category" in card and "majority class" in card
    with pytest.raises(ClassifierError, match="is a category classifier, but a text-overlay"):
        load_classifier(out, task="text-overlay")
    with pytest.raises(ClassifierError, match="trained on tokenizer:tokenizer-ci8x8-fetch64 embeddings"):
        check_classifier(out, task="category", embedding="hf:videomae")


def test_text_overlay_classifier_reads_text_features_of_the_video(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "text-overlay-mlp"
    args = ClassifierTrainArgs(task="text-overlay", data=(str(labelled),), out=str(out), steps=300)
    result = train_classifier(args, command="worldfm train classifier --task text-overlay")
    assert result["train_accuracy"] == 1.0
    model = ClipClassifier(out, task="text-overlay")
    assert model.model.config.inputs == ("text_features",) and model.text_features == TextFeatureConfig()
    x = model.clip_input(None, labelled / "clip_00000.mp4")
    assert x.shape == (TextFeatureConfig().dim,) and model.probabilities(x).shape == (2,)
    with pytest.raises(ClassifierError, match="reads text features: pass the clip's video"):
        model.clip_input(None)
    # It reads no embedding, so any embedder will do for the curate run.
    check_classifier(out, task="text-overlay", embedding="hf:videomae")


def test_heldout_split_is_stratified_and_disjoint() -> None:
    y = np.array([0] * 10 + [1] * 30)
    train, held = heldout_split(y, 0.2, seed=0)
    assert not set(train) & set(held) and len(train) + len(held) == 40
    assert (y[held] == 0).sum() == 2 and (y[held] == 1).sum() == 6


def _moving_scene(frames: int = 8, size: int = 128) -> np.ndarray:
    """uint8 (T, size, size, 3): a textured scene panning two pixels a frame."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (size, size + 2 * frames, 3), dtype=np.uint8), (0, 0), 3)
    return np.stack([texture[:, 2 * t : 2 * t + size] for t in range(frames)])


def _best_contrast(features: np.ndarray) -> float:
    """The strongest text-line contrast over thresholds, heights and widths."""
    return float(features[0::2].max())


def test_text_features_respond_to_a_burned_in_caption() -> None:
    clean = _moving_scene()
    overlay = plan_overlay("subtitle", 0, len(clean), 128, 128, np.random.default_rng(3))
    captioned = burn_overlays(clean, [overlay], 24.0)
    config = TextFeatureConfig()
    f_clean, f_text = text_features(clean, config), text_features(captioned, config)
    assert f_clean.shape == f_text.shape == (config.dim,) and np.isfinite(f_text).all()
    assert _best_contrast(f_clean) < 0.1 and _best_contrast(f_text) > 0.5


def test_text_features_ignore_text_that_moves_with_the_scene() -> None:
    scene = _moving_scene()
    overlay = plan_overlay("subtitle", 0, len(scene), 128, 128, np.random.default_rng(3))
    burned = text_features(burn_overlays(scene, [overlay], 24.0))
    # Text painted on the scene (a sign) moves with it as the camera tilts: no stroke stays put.
    sign = burn_overlays(scene[:1], [dataclasses.replace(overlay, end=1)], 24.0)[0]
    painted = text_features(np.stack([np.roll(sign, 3 * t, axis=0) for t in range(len(scene))]))
    assert _best_contrast(painted) < 0.2 * _best_contrast(burned)


@pytest.mark.parametrize("task", ["text-overlay", "category"])
def test_shipped_classifiers_load_and_are_small(task: str) -> None:
    path = DEFAULT_CHECKPOINTS[task]
    model = ClipClassifier(path, task=task)
    assert model.embedding == "tokenizer:tokenizer-ci8x8-fetch64"
    assert (model.text_features == TextFeatureConfig()) == (task == "text-overlay")
    assert (path / "model.safetensors").stat().st_size <= 1_000_000 and (path / "MODEL_CARD.md").exists()


def test_missing_classifier_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="does not exist; train one with `worldfm train classifier"):
        load_classifier(tmp_path / "nope")
    with pytest.raises(ClassifierError, match="shipped:"):
        check_classifier(tmp_path / "nope", task="category", embedding="tokenizer:x")


# Logits of the shipped classifiers on inputs at their training statistics' scale, computed with
# the loader before classifiers loaded through worldmodel.hub (commit 5a9e2df).
SHIPPED_LOGITS = {
    "text-overlay": [
        [-2.106684684753418, 2.309018135070801],
        [-6.8112921714782715, 6.110159397125244],
        [16.389404296875, -14.944272994995117],
    ],
    "category": [
        [-0.6770778298377991, -0.15721623599529266, -3.904841899871826, 2.7768099308013916],
        [0.6886110901832581, -1.3868240118026733, 0.30780768394470215, 0.39553406834602356],
        [-1.3811883926391602, -1.5732733011245728, -3.9342498779296875, 6.497333526611328],
    ],
}


@pytest.mark.parametrize("task", ["text-overlay", "category"])
def test_shipped_classifiers_load_through_the_hub_and_score_as_before(task: str) -> None:
    from safetensors.torch import load_file

    from worldmodel import hub

    model = hub.load(DEFAULT_CHECKPOINTS[task], expect_kind="classifier")
    assert model.config == load_classifier(DEFAULT_CHECKPOINTS[task], task=task)[0].config
    # Standardisation read from the file itself, so the input does not depend on the loader under test.
    stored = load_file(str(DEFAULT_CHECKPOINTS[task] / "model.safetensors"))
    noise = np.random.default_rng(1).normal(size=(3, model.config.input_dim)).astype(np.float32)
    x = stored["mean"] + stored["std"] * torch.from_numpy(noise)
    with torch.inference_mode():
        logits = model(x)
    torch.testing.assert_close(logits, torch.tensor(SHIPPED_LOGITS[task]), rtol=1e-5, atol=1e-5)


def test_trained_classifier_is_a_hub_checkpoint_without_resume_state(labelled: Path, tmp_path: Path) -> None:
    from worldmodel import hub

    out = tmp_path / "category-mlp"
    args = ClassifierTrainArgs(task="category", data=(str(labelled),), out=str(out), steps=5)
    result = train_classifier(args, command="worldfm train classifier --task category")
    payload = hub.read_config(out)
    assert payload["kind"] == "classifier" and payload["model"] == "ClipMLP"
    assert payload["training"]["result"] == result and payload["training"]["step"] == 5
    assert payload["embedding"] == "tokenizer:tokenizer-ci8x8-fetch64" and "text_features" not in payload
    assert not (out / "training_state").exists()

"""Clip classifiers (``curation.classifiers``, ``training.train_classifier``): train, save, load, use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curation.classifiers import (
    DEFAULT_CHECKPOINTS,
    ClassifierError,
    ClipClassifier,
    check_classifier,
    load_classifier,
)
from envs.sim.raw_clips import CATEGORIES, write_labelled_clips
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
    p = model.probabilities(np.random.default_rng(0).normal(size=(3, 272)))
    assert p.shape == (3, 4) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    card = (out / "MODEL_CARD.md").read_text()
    assert "worldfm train classifier --task category" in card and "majority class" in card
    with pytest.raises(ClassifierError, match="is a category classifier, but a text-overlay"):
        load_classifier(out, task="text-overlay")
    with pytest.raises(ClassifierError, match="trained on tokenizer:tokenizer-ci8x8-fetch64 embeddings"):
        check_classifier(out, task="category", embedding="hf:videomae")


def test_heldout_split_is_stratified_and_disjoint() -> None:
    y = np.array([0] * 10 + [1] * 30)
    train, held = heldout_split(y, 0.2, seed=0)
    assert not set(train) & set(held) and len(train) + len(held) == 40
    assert (y[held] == 0).sum() == 2 and (y[held] == 1).sum() == 6


@pytest.mark.parametrize("task", ["text-overlay", "category"])
def test_shipped_classifiers_load_and_are_small(task: str) -> None:
    path = DEFAULT_CHECKPOINTS[task]
    model = ClipClassifier(path, task=task)
    assert model.embedding == "tokenizer:tokenizer-ci8x8-fetch64"
    assert (path / "model.safetensors").stat().st_size <= 1_000_000 and (path / "MODEL_CARD.md").exists()


def test_missing_classifier_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="does not exist; train one with `worldfm train classifier"):
        load_classifier(tmp_path / "nope")
    with pytest.raises(ClassifierError, match="shipped:"):
        check_classifier(tmp_path / "nope", task="category", embedding="tokenizer:x")

"""Shot splitters on labelled ``simulate raw`` footage: cuts, gradual transitions, side effects."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.shot_eval import evaluate
from curation.shots import ClipRules, shots_between
from curation.splitters import (
    CascadeSplitter,
    PySceneDetectSplitter,
    TransNetV2Splitter,
    _IsolatedTransNetV2,
    decode_for_splitting,
)


def _predict(splitter, footage: tuple[Path, dict]) -> dict:  # noqa: ANN001
    folder, labels = footage
    return {
        name: splitter.detect(decode_for_splitting(folder / name), video["fps"])
        for name, video in labels.items()
    }


def _cut_scores(labels: dict, predictions: dict):  # noqa: ANN202
    """Scores on hard cuts alone: predictions overlapping a labelled gradual transition are set aside."""
    cuts, preds = {}, {}
    for name, video in labels.items():
        cuts[name] = {"transitions": [t for t in video["transitions"] if t["type"] == "cut"]}
        gradual = [t for t in video["transitions"] if t["type"] != "cut"]
        preds[name] = [
            p
            for p in predictions[name]
            if not any(p.start < g["end"] and g["start"] < p.end for g in gradual)
        ]
    return evaluate(cuts, preds).overall


@pytest.mark.parametrize(
    "splitter", [CascadeSplitter, PySceneDetectSplitter], ids=["cascade", "pyscenedetect"]
)
def test_hard_cuts_found_within_two_frames(footage: tuple[Path, dict], splitter: type) -> None:
    _, labels = footage
    scores = _cut_scores(labels, _predict(splitter(), footage))
    assert scores.tp + scores.fn >= 5
    assert scores.f1 >= 0.9


def _blended_frames_in_clips(labels: dict, predictions: dict) -> tuple[int, int]:
    leaked = total = 0
    rules = ClipRules()
    for name, video in labels.items():
        shots = shots_between(
            predictions[name], video["num_frames"], margin=rules.margin_frames(video["fps"])
        )
        kept = np.zeros(video["num_frames"], bool)
        for a, b in shots:
            kept[a:b] = True
        for t in video["transitions"]:
            if t["type"] != "cut":
                total += t["end"] - t["start"] - 1
                leaked += int(kept[t["start"] + 1 : t["end"]].sum())
    return leaked, total


def test_cascade_finds_dissolves_and_fades_and_trims_their_frames(footage: tuple[Path, dict]) -> None:
    _, labels = footage
    predictions = _predict(CascadeSplitter(), footage)
    scores = evaluate(labels, predictions)
    assert scores.labelled["dissolve"] >= 1 and scores.labelled["fade"] >= 1
    assert scores.recall_of("dissolve") == 1.0 and scores.recall_of("fade") == 1.0
    leaked, total = _blended_frames_in_clips(labels, predictions)
    assert total > 20 and leaked == 0
    # PySceneDetect sees a fade's black middle as a cut but keeps its darkening frames in the clips.
    assert _blended_frames_in_clips(labels, _predict(PySceneDetectSplitter(), footage))[0] > 0


def test_cascade_sends_only_part_of_the_video_to_the_network(footage: tuple[Path, dict]) -> None:
    splitter = CascadeSplitter()
    _predict(splitter, footage)
    total = sum(v["num_frames"] for v in footage[1].values())
    assert 0 < splitter.frames_to_network < 0.6 * total


def test_building_transnetv2_leaves_global_torch_and_random_state_alone() -> None:
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)
    deterministic = torch.are_deterministic_algorithms_enabled()
    _IsolatedTransNetV2()
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


@pytest.mark.slow
def test_transnetv2_on_every_frame_finds_every_transition(footage: tuple[Path, dict]) -> None:
    _, labels = footage
    scores = evaluate(labels, _predict(TransNetV2Splitter(), footage))
    assert scores.overall.f1 >= 0.9 and scores.recall_of("dissolve") == 1.0

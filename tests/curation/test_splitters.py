"""Shot splitters on labelled ``simulate raw`` footage: cuts, gradual transitions, side effects."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from curation.shot_eval import evaluate
from curation.shots import ClipRules, shots_between
from curation.splitters import (
    CascadeSplitter,
    PySceneDetectSplitter,
    TransNetV2Splitter,
    _blend_residual,
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


# Generated frames at the splitters' 48x27: smooth random textures, filmed by a slowly panning
# camera, so every test below has motion inside its shots as real footage does.
def _texture(seed: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (54, width, 3)).astype(np.float32), (0, 0), 6)
    return ((big - big.min()) / (big.max() - big.min()) * 255).astype(np.uint8)


def _shot(seed: int, n: int, speed: float = 0.5) -> np.ndarray:
    """``n`` frames ``uint8 (n, 27, 48, 3)`` panning ``speed`` pixels a frame across one texture."""
    texture = _texture(seed, 96 + int(2 * speed * n))
    return np.stack(
        [
            cv2.resize(texture[:, x : x + 96], (48, 27), interpolation=cv2.INTER_AREA)
            for x in (np.arange(n) * 2 * speed).astype(int)
        ]
    )


def _zoomed(frame: np.ndarray, scale: float) -> np.ndarray:
    h, w = frame.shape[:2]
    ch, cw = round(h / scale), round(w / scale)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(frame[y : y + ch, x : x + cw], (w, h))


def test_cascade_drops_a_flash_that_outlasts_its_first_look() -> None:
    # Six white frames (an explosion, a camera flash burst): longer than the four frames the
    # content score's own excursion check looks at, and bright enough to be a sure cut there.
    frames = _shot(1, 120)
    frames[60:66] = np.clip(frames[60:66] * 0.25 + 230, 0, 255).astype(np.uint8)
    assert CascadeSplitter().detect(frames, 24.0) == []


def test_cascade_drops_a_crash_zoom_inside_a_shot() -> None:
    # In to 2x and held for nine frames: the jump in is a sure cut by the content score alone.
    frames = _shot(11, 120)
    for j, scale in enumerate((1.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.5)):
        frames[50 + j] = _zoomed(frames[50 + j], scale)
    assert CascadeSplitter().detect(frames, 24.0) == []


def test_cascade_drops_a_zoom_that_holds() -> None:
    # A one-frame jump to 2x that never comes back, as big a change as a cut to the content
    # score: only the zoom test tells it from one.
    frames = _shot(11, 120)
    frames[60:] = np.stack([_zoomed(f, 2.0) for f in frames[60:]])
    assert CascadeSplitter().detect(frames, 24.0) == []


def test_cascade_still_finds_a_cut_beside_a_flash_and_a_zoom() -> None:
    first, second = _shot(4, 70), _shot(5, 70)
    first[20:22] = np.clip(first[20:22] * 0.25 + 230, 0, 255).astype(np.uint8)
    for j, scale in enumerate((1.33, 1.67, 2.0, 2.0, 1.67, 1.33)):
        second[30 + j] = _zoomed(second[30 + j], scale)
    found = CascadeSplitter().detect(np.concatenate([first, second]), 24.0)
    assert [(t.start, t.end, t.kind) for t in found] == [(69, 70, "cut")]


def test_a_dissolves_middle_is_a_mix_of_its_ends_and_a_moving_cameras_is_not() -> None:
    first, second = (_shot(seed, 40, speed=0.1).astype(np.float32) for seed in (6, 7))
    weight = np.clip((np.arange(40) - 14) / 12, 0, 1)[:, None, None, None]  # a 12-frame dissolve
    dissolve = (first * (1 - weight) + second * weight).round().astype(np.uint8)
    assert _blend_residual(dissolve, 4, 6.0)[20] < 0.2
    # Panning: frames 4 apart differ by more than the margin, yet no mix of them gives the middle.
    assert _blend_residual(_shot(8, 40, speed=3.0), 4, 6.0)[20] > 0.5


def test_cascade_keeps_a_fade_through_black_back_to_the_same_picture() -> None:
    # An editor's fade between two shots of one scene: the picture after it is the one before,
    # yet the black between them is a transition, not a flash.
    frames = _shot(12, 120, speed=0.05).astype(np.float32)
    ramp = np.r_[np.linspace(1, 0, 7)[1:], [0, 0], np.linspace(0, 1, 7)[:-1]]  # 14 frames
    frames[53:67] *= ramp[:, None, None, None]
    found = CascadeSplitter().detect(frames.round().astype(np.uint8), 24.0)
    assert len(found) == 1 and found[0].kind == "gradual"
    assert found[0].start <= 55 and found[0].end >= 64

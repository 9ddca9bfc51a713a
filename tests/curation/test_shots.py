"""Shots, transitions and the clip rules (pure functions)."""

from __future__ import annotations

import pytest

from curation.shots import (
    CUT,
    GRADUAL,
    ClipRules,
    Transition,
    normalise,
    plan_clips,
    shots_between,
    transitions_from_runs,
)


def test_network_runs_read_as_cuts_and_gradual_transitions() -> None:
    flags = [False] * 20
    flags[5] = True  # a one-frame run: the cut after frame 5
    flags[10:14] = [True] * 4  # blended frames 10..13
    assert transitions_from_runs(flags) == [Transition(5, 6, CUT), Transition(9, 14, GRADUAL)]


def test_runs_touching_the_ends_are_not_transitions() -> None:
    assert transitions_from_runs([True, True, False, False, True]) == []


def test_shots_exclude_the_blended_frames_of_gradual_transitions() -> None:
    transitions = [Transition(9, 10), Transition(29, 40, GRADUAL)]
    assert shots_between(transitions, 60) == [(0, 10), (10, 30), (40, 60)]
    assert shots_between(transitions, 60, margin=2) == [(0, 10), (10, 28), (42, 60)]


def test_normalise_merges_near_transitions_into_one_gradual() -> None:
    merged = normalise([Transition(40, 41), Transition(30, 38, GRADUAL)], 100, gap=4)
    assert merged == [Transition(30, 41, GRADUAL)]
    assert normalise([Transition(10, 11), Transition(20, 21)], 100, gap=4) == [
        Transition(10, 11),
        Transition(20, 21),
    ]


def test_a_150_second_shot_becomes_three_clips_of_at_most_60() -> None:
    clips, too_short = plan_clips([(0, 150 * 24)], 24.0, ClipRules())
    assert too_short == 0 and len(clips) == 3
    assert clips[0][0] == 0 and clips[-1][1] == 150 * 24
    assert all(b - a <= 60 * 24 for a, b in clips)
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(clips, clips[1:], strict=False))


def test_shots_under_the_minimum_are_dropped_and_counted() -> None:
    clips, too_short = plan_clips([(0, 47), (47, 95), (95, 300)], 24.0, ClipRules(min_seconds=2.0))
    assert clips == [(47, 95), (95, 300)] and too_short == 1


def test_clip_rules_reject_min_over_max() -> None:
    with pytest.raises(ValueError, match="min_seconds <= max_seconds"):
        ClipRules(min_seconds=10, max_seconds=5)


def test_a_variable_rate_shot_is_measured_and_cut_in_seconds() -> None:
    # 10 frames at 0.5 s, then 40 at 0.05 s: 7 s in 50 frames (a frame count would say 2 s at 24 fps).
    bounds = [0.5 * i for i in range(11)] + [5.0 + 0.05 * i for i in range(1, 41)]
    clips, too_short = plan_clips([(0, 50)], 24.0, ClipRules(max_seconds=3.5), bounds=bounds)
    assert too_short == 0 and clips == [(0, 7), (7, 50)]
    assert plan_clips([(10, 50)], 24.0, ClipRules(min_seconds=2.5), bounds=bounds) == ([], 1)

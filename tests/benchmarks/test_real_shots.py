"""benchmarks/real_shots.py: real renderers' footage is labelled where its transitions are, the
same seed gives the same footage, and the parts keep their sources apart."""

import os

import numpy as np
import pytest

pytest.importorskip("ale_py")
os.environ.setdefault("MUJOCO_GL", "egl")

from benchmarks.real_shots import PARTS, plan_real_video, real_source  # noqa: E402
from envs.sim.raw import ShotPlan, TransitionPlan, VideoPlan, render_video, video_labels  # noqa: E402


def _edit() -> tuple[np.ndarray, dict]:
    shots = (
        ShotPlan("atari:pong", "game", False, 16, 1),
        ShotPlan("mujoco:Hopper-v5", "moving", False, 16, 2),
        ShotPlan("atari:breakout", "game", False, 16, 3),
        ShotPlan("atari:freeway", "game", False, 16, 4),
    )
    joins = (TransitionPlan("cut", 0), TransitionPlan("dissolve", 8), TransitionPlan("fade", 6))
    plan = VideoPlan(32, 48, shots, joins, ())
    sources = {s.source: real_source(s.source) for s in shots}
    frames, captions = render_video(plan, sources)
    return frames, video_labels(plan, captions)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_real_footage_is_labelled_where_the_edit_put_each_transition_and_is_deterministic() -> None:
    frames, labels = _edit()
    assert len(frames) == labels["num_frames"]
    cut, dissolve, fade = labels["transitions"]
    assert [t["type"] for t in labels["transitions"]] == ["cut", "dissolve", "fade"]

    # The cut: the jump between its two frames dwarfs every step inside the shots on either side.
    inside = [
        _diff(frames[t], frames[t + 1])
        for shot in labels["shots"][:2]
        for t in range(shot["start"], shot["end"] - 1)
    ]
    assert _diff(frames[cut["start"]], frames[cut["end"]]) > 3 * max(inside)

    # The dissolve (between two Atari games, whose backgrounds hold still): its middle frame is
    # the even mix of the frames that bound it, unlike either of them.
    a, b = frames[dissolve["start"]], frames[dissolve["end"]]
    middle = frames[(dissolve["start"] + dissolve["end"]) // 2]
    mix = (a.astype(np.float32) + b) / 2
    assert _diff(middle, mix) < 0.5 * min(_diff(middle, a), _diff(middle, b))

    # The fade goes through black at its middle and not before its first frame.
    dark = frames[(fade["start"] + fade["end"]) // 2 : (fade["start"] + fade["end"]) // 2 + 1]
    assert dark.max() <= 1
    assert frames[fade["start"]].mean() > 20

    again, labels_again = _edit()
    assert labels_again == labels
    np.testing.assert_array_equal(again, frames)


def test_real_plans_alternate_sources_and_still_videos_hold_one_shot() -> None:
    for seed in range(5):
        plan = plan_real_video(np.random.default_rng(seed), PARTS["tuning"], size=64, transitions=True)
        sources = [s.source for s in plan.shots]
        assert all(a != b for a, b in zip(sources, sources[1:], strict=False))
        assert set(sources) <= set(PARTS["tuning"])
        assert len(plan.transitions) == len(plan.shots) - 1 >= 1
        still = plan_real_video(np.random.default_rng(seed), PARTS["held-out"], size=64, transitions=False)
        assert len(still.shots) == 1 and not still.transitions
    # Held-out footage comes from games and models the tuning part never shows.
    assert not set(PARTS["tuning"]) & set(PARTS["held-out"])


def test_hard_negatives_are_recorded_where_they_change_frames_and_alarms_on_them_are_counted() -> None:
    from benchmarks.real_shots import _changed_runs, alarms_at_distractors
    from curation.shots import Transition

    before = np.zeros((40, 4, 4, 3), np.uint8)
    after = before.copy()
    after[5] = 230  # a one-frame flash
    after[20:24] = 7  # a four-frame whip pan
    runs = _changed_runs(before, after, ("flash", "whip pan"))
    assert runs == [
        {"kind": "flash", "start": 5, "end": 6},
        {"kind": "whip pan", "start": 20, "end": 24},
    ]
    labels = {"v": {"distractors": runs}}
    predictions = {"v": [Transition(5, 6), Transition(21, 22), Transition(33, 34)]}
    assert alarms_at_distractors(labels, predictions) == 2

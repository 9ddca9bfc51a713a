"""Transition matching: hard cuts within ±2 frames, gradual transitions by overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from curation.shot_eval import evaluate, load_labels, match_video
from curation.shots import GRADUAL, Transition

CUT = {"type": "cut", "start": 50, "end": 51}
DISSOLVE = {"type": "dissolve", "start": 100, "end": 116}


@pytest.mark.parametrize(("offset", "matched"), [(0, True), (2, True), (-2, True), (3, False), (-3, False)])
def test_hard_cut_matches_within_two_frames(offset: int, matched: bool) -> None:
    counts, _ = match_video([CUT], [Transition(50 + offset, 51 + offset)])
    assert (counts.tp, counts.fp, counts.fn) == ((1, 0, 0) if matched else (0, 1, 1))


def test_gradual_transition_matches_by_overlap_only() -> None:
    assert match_video([DISSOLVE], [Transition(110, 111)])[0].tp == 1
    assert match_video([DISSOLVE], [Transition(90, 101, GRADUAL)])[0].tp == 1
    assert match_video([DISSOLVE], [Transition(116, 117)])[0].tp == 0


def test_each_prediction_matches_one_label_and_the_closest_wins() -> None:
    labels = [CUT, {"type": "cut", "start": 53, "end": 54}]
    counts, found = match_video(labels, [Transition(52, 53)])
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 1) and found == [labels[1]]


def test_scores_over_videos() -> None:
    labels = {"a": {"transitions": [CUT, DISSOLVE]}, "b": {"transitions": [CUT]}}
    predictions = {"a": [Transition(51, 52), Transition(300, 301)], "b": []}
    scores = evaluate(labels, predictions)
    assert (scores.overall.tp, scores.overall.fp, scores.overall.fn) == (1, 1, 2)
    assert scores.overall.precision == 0.5 and scores.overall.recall == pytest.approx(1 / 3)
    assert scores.overall.f1 == pytest.approx(0.4)
    assert scores.recall_of("cut") == 0.5 and scores.recall_of("dissolve") == 0.0


def test_missing_predictions_and_bad_label_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no predictions"):
        evaluate({"a": {"transitions": []}}, {})
    (tmp_path / "labels.json").write_text(json.dumps({"shots": []}))
    with pytest.raises(ValueError, match="not a labels file"):
        load_labels(tmp_path / "labels.json")
    with pytest.raises(FileNotFoundError, match="simulate raw"):
        load_labels(tmp_path / "missing.json")


def test_eval_shots_cli_scores_splitters_on_labelled_footage(
    footage: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder, labels = footage
    argv = ["eval", "shots", "--labels", str(folder / "labels.json"), "--splitter", "pyscenedetect"]
    assert main([*argv, "--json", str(tmp_path / "scores.json")]) == 0
    out = capsys.readouterr().out
    assert "pyscenedetect" in out and "frames/s" in out
    report = json.loads((tmp_path / "scores.json").read_text())["pyscenedetect"]
    assert report["tp"] + report["fn"] == sum(len(v["transitions"]) for v in labels.values())
    assert report["recall_by_type"]["cut"] == 1.0 and report["frames_per_second"] > 0


def test_eval_shots_cli_names_a_missing_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "shots", "--labels", str(tmp_path / "nope.json")]) == 2
    assert "simulate raw" in capsys.readouterr().err

"""Frames timed by their own timestamps; header claims checked against them (issue 26)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from curation.quarantine import check_timestamps
from curation.stages import input_row, probe_stage
from curation.timing import ImplausibleTimingError, check_claims, frame_timing
from tests.curation.bad_inputs import moving_video
from tests.curation.odd_inputs import encode, lying_mp4, mkv_claiming

PROBE = {"max_input_height": 4320, "max_input_width": 7680}


def test_a_constant_rate_is_exact_despite_timestamp_rounding() -> None:
    # 24 fps in milliseconds: intervals of 41 and 42 ms, a constant rate all the same.
    pts = [round(i * 1000 / 24) for i in range(48)]
    timing = frame_timing(pts, Fraction(1, 1000), header_fps=24.0)
    assert not timing.variable and timing.fps == 24.0 and timing.duration_s == 2.0
    assert frame_timing(pts[::-1], Fraction(1, 1000), header_fps=24.0).times == timing.times


def test_a_variable_rate_is_timed_by_its_frames_not_the_header() -> None:
    pts = [0, 40, 80, 200, 250, 500, 550, 600]
    timing = frame_timing(pts, Fraction(1, 1000), header_fps=13.3)
    assert timing.variable and timing.fps == pytest.approx(7 / 0.6)
    assert timing.times == (0.0, 0.04, 0.08, 0.2, 0.25, 0.5, 0.55, 0.6)
    assert timing.end_of(2) == 0.2 and timing.end_of(7) == pytest.approx(0.65)
    assert timing.duration_s == pytest.approx(0.65)


def test_a_header_claiming_more_than_its_frames_hold_gives_a_note() -> None:
    timing = frame_timing(range(0, 96 * 512, 512), Fraction(1, 12288), header_fps=24.0)
    assert check_claims(4.0, timing) is None
    assert check_claims(4.5, timing) is None  # under a second off: container rounding
    note = check_claims(36000.0, timing)
    assert note is not None and "claims 36000.000 s" in note and "span 4.000 s" in note


def test_frames_stretched_over_hours_are_implausible() -> None:
    timing = frame_timing(range(0, 96 * 4608000, 4608000), Fraction(1, 12288), header_fps=1 / 375)
    with pytest.raises(ImplausibleTimingError, match="one frame every 375 s"):
        check_claims(36000.0, timing)


def test_an_mp4_whose_headers_claim_ten_hours_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "lying.mp4").write_bytes(lying_mp4(36000.0, frames=48))
    timing = check_timestamps(str(tmp_path / "lying.mp4"))
    assert timing.num_frames == 48 and timing.coded_fps == 24.0
    row = probe_stage(input_row(str(tmp_path / "lying.mp4"), "lying"), **PROBE)
    assert not row["ok"] and row["kind"] == "implausible_timing"
    assert "48 frames" in row["reason"] and "coded at 24 fps" in row["reason"]


def test_a_container_duration_claim_is_cut_to_the_frames_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "claims.mkv").write_bytes(mkv_claiming(36000.0, moving_video(72, 16, 16)))
    row = probe_stage(input_row(str(tmp_path / "claims.mkv"), "claims"), **PROBE)
    info, notes = json.loads(row["info"]), json.loads(row["notes"])
    assert row["ok"] and (info["num_frames"], info["fps"], info["duration_s"]) == (72, 24.0, 3.0)
    assert len(notes) == 1 and "36000.000 s" in notes[0]
    assert json.loads(row["stats"])["probe"]["video_seconds"] == 3.0


def test_an_honest_video_probes_as_before(tmp_path: Path) -> None:
    (tmp_path / "good.mp4").write_bytes(encode(moving_video(30, 16, 16), 30000 / 1001))
    row = probe_stage(input_row(str(tmp_path / "good.mp4"), "good"), **PROBE)
    info = json.loads(row["info"])
    assert row["ok"] and info["fps"] == float(Fraction(30000, 1001)) and info["num_frames"] == 30
    assert json.loads(row["notes"]) == [] and json.loads(row["times"]) == []

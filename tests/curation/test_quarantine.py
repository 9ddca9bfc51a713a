"""Every kind of bad input gets its own quarantine kind and a reason that names the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.quarantine import InputRejectedError, check_resolution, check_timestamps, classify
from curation.video_io import VideoError, probe
from tests.curation.bad_inputs import write_bad_inputs


def _kind(path: Path) -> str:
    try:
        info = probe(path)
        check_resolution(info, 48, 48)
        check_timestamps(str(path))
    except VideoError as e:
        return classify(e).kind
    except InputRejectedError as e:
        return e.kind
    return "ok"


def test_each_bad_input_is_classified(tmp_path: Path) -> None:
    expected = write_bad_inputs(tmp_path)
    assert {name: _kind(tmp_path / name) for name in expected} == expected


def test_missing_file_is_classified(tmp_path: Path) -> None:
    assert _kind(tmp_path / "gone.mp4") == "missing"


def test_resolution_cap_accepts_either_orientation(tmp_path: Path) -> None:
    write_bad_inputs(tmp_path)
    info = probe(tmp_path / "huge.mp4")  # 96x64
    check_resolution(info, 96, 64)
    check_resolution(info, 64, 96)
    with pytest.raises(InputRejectedError, match="over the cap 90x64"):
        check_resolution(info, 64, 90)

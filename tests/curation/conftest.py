"""Labelled raw footage shared by the curation tests (rendered once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.sim.raw import write_raw_footage

# Seed 59 plans two ~8 s videos with five hard cuts, a dissolve and a fade (see envs/sim/raw.py).
FOOTAGE = {"seed": 59, "size": 32, "min_seconds": 7.0, "max_seconds": 9.0, "long_fraction": 0.0}
SHOT_SECONDS = (1.0, 3.0)


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(folder, labels)``: two raw videos and their ``labels.json`` videos entry."""
    out = tmp_path_factory.mktemp("raw")
    labels_path = write_raw_footage(out, 2, shot_seconds=SHOT_SECONDS, **FOOTAGE)
    return out, json.loads(labels_path.read_text())["videos"]

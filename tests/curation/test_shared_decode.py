"""One decode per video: the shot splitter's frames and the clips' come from the same pass (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import curation.stages as stages
from curation.shots import ClipRules
from curation.splitters import SPLIT_SIZE
from curation.stages import (
    SplitStage,
    input_row,
    plan_stage,
    probe_stage,
    split_transcode_stage,
    transcode_stage,
)
from curation.transcode import TranscodeConfig
from curation.video_io import iter_frames_at_sizes, iter_timed_frames
from tests.curation.bad_inputs import moving_video
from tests.curation.odd_inputs import encode

PROBE = {"max_input_height": 4320, "max_input_width": 7680}
RULES = ClipRules(2.0, 60.0)
# Small enough that the 32 px footage is shrunk: the clips' size differs from the stored one.
TRANSCODE = TranscodeConfig(max_height=24, max_width=24)


def _odd_videos(folder: Path) -> list[Path]:
    """A phone clip stored sideways (90 degree display matrix) and a variable-frame-rate one."""
    folder.mkdir(exist_ok=True)
    (folder / "phone.mp4").write_bytes(encode(moving_video(60, 32, 48), rotation=90))
    times = [round(0.04 * i + (0.03 if i % 7 == 3 else 0.0), 3) for i in range(70)]
    (folder / "vfr.mp4").write_bytes(encode(moving_video(70, 32, 32, seed=1), times=times))
    return [folder / "phone.mp4", folder / "vfr.mp4"]


def test_frames_at_several_sizes_are_those_of_one_size_decodes(tmp_path: Path) -> None:
    for path in _odd_videos(tmp_path):
        sizes = (SPLIT_SIZE, None, (20, 14))
        shared = list(iter_frames_at_sizes(path, sizes))
        for i, size in enumerate(sizes):
            alone = list(iter_timed_frames(path, size=size))
            assert [t for t, _ in shared] == [t for t, _ in alone]
            assert all(np.array_equal(f[i], g) for (_, f), (_, g) in zip(shared, alone, strict=True))


def _clips(rows: list[dict]) -> tuple[dict, list[tuple[bytes, dict]]]:
    record, *clips = rows
    stats = {
        stage: {k: v for k, v in counters.items() if k != "seconds"}
        for stage, counters in json.loads(record["stats"]).items()
    }
    summary = {"ok": record["ok"], "transitions": record["transitions"], "stats": stats}
    return summary, [(Path(c["mp4"]).read_bytes(), json.loads(c["meta"])) for c in clips]


@pytest.mark.parametrize("splitter", ["cascade", "pyscenedetect"])
def test_one_decode_gives_the_clips_of_a_split_and_a_transcode_decoding_apart(
    footage: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splitter: str
) -> None:
    videos = sorted(footage[0].glob("*.mp4")) + _odd_videos(tmp_path / "odd")
    # Decoding apart: the split actor's stage, then plan and transcode as tasks.
    apart = {}
    split = SplitStage(splitter)
    for path in videos:
        row = plan_stage(split(probe_stage(input_row(str(path), path.stem), **PROBE)), rules=RULES)
        apart[path] = _clips(
            transcode_stage(row, config=TRANSCODE, staging=str(tmp_path / "apart"), splitter=splitter)
        )
    assert all(apart[path][1] for path in videos[-2:]) and sum(len(c) for _, c in apart.values()) > 3
    decodes_for_clips = []
    real = stages.transcode_clips
    monkeypatch.setattr(
        stages, "transcode_clips", lambda *a, **k: decodes_for_clips.append(a[0]) or real(*a, **k)
    )
    for keep_mib, second_decodes in ((64, 0), (0, len(videos))):
        for path in videos:
            rows = split_transcode_stage(
                probe_stage(input_row(str(path), path.stem), **PROBE),
                splitter=splitter,
                rules=RULES,
                config=TRANSCODE,
                staging=str(tmp_path / f"shared{keep_mib}"),
                keep_bytes=keep_mib << 20,
            )
            record, clips = _clips(rows)
            assert record == apart[path][0] and record["ok"], path.name
            assert clips == apart[path][1], path.name
        # Only a video over the memory budget is decoded a second time, for its clips.
        assert len(decodes_for_clips) == second_decodes
        decodes_for_clips.clear()


def test_a_rejected_video_comes_out_as_its_record_alone(tmp_path: Path) -> None:
    (tmp_path / "cut.mp4").write_bytes(encode(moving_video(48, 16, 16))[:900])
    row = probe_stage(input_row(str(tmp_path / "cut.mp4"), "cut"), **PROBE)
    rows = split_transcode_stage(
        row,
        splitter="pyscenedetect",
        rules=RULES,
        config=TRANSCODE,
        staging=str(tmp_path / "out"),
        keep_bytes=1 << 20,
    )
    assert len(rows) == 1 and not rows[0]["ok"] and rows[0]["kind"] and rows[0]["reason"]


def test_a_header_that_undercounts_its_frames_cannot_outgrow_the_budget(tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(encode(moving_video(48, 16, 16)))
    row = probe_stage(input_row(str(tmp_path / "v.mp4"), "v"), **PROBE)
    row["info"] = json.dumps({**json.loads(row["info"]), "num_frames": 4})  # a header claiming 4 frames
    kept: list = []
    ten_frames = 10 * 16 * 16 * 3
    row = stages._split(
        row, stages._splitter("pyscenedetect"), transcode=TRANSCODE, keep_bytes=ten_frames, kept=kept
    )
    # All 48 frames were split; none is kept in part, so the transcode decodes the whole video again.
    assert row["ok"] and json.loads(row["info"])["num_frames"] == 48 and kept == []

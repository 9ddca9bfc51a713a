"""Tests for the raw-footage generator ``envs.sim.raw`` and its text overlays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from envs.sim.raw import write_raw_footage
from envs.sim.text_overlay import KINDS, burn_overlays, plan_overlay

# Seed 48 plans cuts, a dissolve, a static stretch, Fetch shots and overlays in two ~3 s videos.
KWARGS = {"seed": 48, "size": 32, "min_seconds": 2.5, "max_seconds": 3.5, "long_fraction": 0.0}
SHOTS = (0.5, 1.5)
REPO = Path(__file__).resolve().parents[2]
# Writes video 0 twice in one fresh process (the first call there and a later one) and prints
# each file's sha256, so a test can compare the two calls and the calls of two processes.
FRESH_PROCESS_SCRIPT = f"""
import hashlib, pathlib, sys
from envs.sim.raw import write_raw_footage
for call in range(2):
    out = pathlib.Path(sys.argv[1]) / str(call)
    write_raw_footage(out, 1, shot_seconds={SHOTS!r}, **{KWARGS!r})
    print(hashlib.sha256((out / "raw_0000.mp4").read_bytes()).hexdigest())
"""


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("raw")
    labels_path = write_raw_footage(out, 2, shot_seconds=SHOTS, **KWARGS)
    return out, json.loads(labels_path.read_text())


def test_raw_videos_decode_with_labelled_frame_counts(footage: tuple[Path, dict]) -> None:
    out, labels = footage
    assert sorted(labels["videos"]) == ["raw_0000.mp4", "raw_0001.mp4"]
    for name, video in labels["videos"].items():
        frames = _decode(out / name)
        assert frames.shape == (video["num_frames"], video["height"], video["width"], 3)
        assert video["fps"] == 24.0 and 2.5 * 24 <= video["num_frames"] <= 3.5 * 24 + 1


def test_raw_label_spans_cover_video_with_transitions_between_shots(footage: tuple[Path, dict]) -> None:
    _, labels = footage
    for video in labels["videos"].values():
        shots, transitions = video["shots"], video["transitions"]
        assert shots[0]["start"] == 0 and shots[-1]["end"] == video["num_frames"]
        assert len(transitions) == len(shots) - 1
        covered = sum(s["end"] - s["start"] for s in shots)
        for a, t, b in zip(shots, transitions, shots[1:], strict=False):
            assert a["start"] < a["end"] and t["start"] == a["end"] - 1 and t["end"] == b["start"]
            assert (t["end"] == t["start"] + 1) == (t["type"] == "cut")
            covered += t["end"] - t["start"] - 1
        assert covered == video["num_frames"]
        for ov in video["overlays"]:
            x0, y0, x1, y1 = ov["box"]
            assert 0 <= ov["start"] < ov["end"] <= video["num_frames"] and ov["kind"] in KINDS
            assert 0 <= x0 < x1 <= video["width"] and 0 <= y0 < y1 <= video["height"]
    videos = labels["videos"].values()
    assert {"cut", "dissolve"} <= {t["type"] for video in videos for t in video["transitions"]}
    assert any(video["overlays"] for video in videos)


def test_raw_hard_cut_is_the_largest_frame_change_around_it(footage: tuple[Path, dict]) -> None:
    out, labels = footage
    cuts = 0
    for name, video in labels["videos"].items():
        frames = _decode(out / name).astype(np.float32)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[i]: frame i -> i+1
        shots = video["shots"]
        for a, t, b in zip(shots, video["transitions"], shots[1:], strict=False):
            if t["type"] != "cut":
                continue
            i = t["start"]
            within = np.concatenate([change[a["start"] : i], change[b["start"] : b["end"] - 1]])
            # Two Fetch shots share a table, so the margin is modest; the cut must still stand out.
            assert change[i] > 2 * np.median(within) and change[i] > 5.0
            assert change[i] == change[max(i - 3, a["start"]) : i + 4].max()
            cuts += 1
    assert cuts >= 2


def test_raw_static_shots_are_still(footage: tuple[Path, dict]) -> None:
    out, labels = footage
    static = 0
    for name, video in labels["videos"].items():
        frames = _decode(out / name).astype(np.float32)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        for shot in video["shots"]:
            if shot["static"]:
                # Only a ticking timestamp or an overlay switching on may change a frame.
                assert np.median(change[shot["start"] : shot["end"] - 1]) < 0.5
                static += 1
    assert static >= 1


def test_raw_same_seed_same_video(footage: tuple[Path, dict], tmp_path: Path) -> None:
    out, labels = footage
    again = json.loads(write_raw_footage(tmp_path, 1, shot_seconds=SHOTS, **KWARGS).read_text())
    assert again["videos"]["raw_0000.mp4"] == labels["videos"]["raw_0000.mp4"]
    np.testing.assert_array_equal(_decode(tmp_path / "raw_0000.mp4"), _decode(out / "raw_0000.mp4"))


def test_raw_first_call_in_a_fresh_process_matches_later_calls_and_processes(tmp_path: Path) -> None:
    # Within one pytest process the heap is already warm, so only fresh processes show whether the
    # first call differs. The second process fills fresh heap blocks with a byte pattern
    # (glibc's MALLOC_PERTURB_): a video must not depend on memory contents left uninitialised.
    hashes = []
    for run, perturb in enumerate((None, "165")):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("MALLOC_PERTURB_", None)
        if perturb is not None:
            env["MALLOC_PERTURB_"] = perturb
        proc = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(tmp_path / str(run))],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        hashes.append(proc.stdout.split())
    assert [len(h) for h in hashes] == [2, 2]
    assert hashes[0][0] == hashes[0][1], "the first call in a fresh process differs from a later call"
    assert hashes[1] == hashes[0], "the video depends on the process's heap contents"


def test_raw_resume_keeps_finished_videos(footage: tuple[Path, dict]) -> None:
    out, labels = footage
    before = (out / "raw_0000.mp4").stat().st_mtime_ns
    resumed = json.loads(write_raw_footage(out, 2, shot_seconds=SHOTS, **KWARGS).read_text())
    assert resumed == labels and (out / "raw_0000.mp4").stat().st_mtime_ns == before


@pytest.mark.parametrize("kind", KINDS)
def test_overlay_changes_only_its_box_during_its_span(kind: str) -> None:
    rng = np.random.default_rng(0)
    clean = np.full((30, 36, 64, 3), 110, dtype=np.uint8)
    overlay = plan_overlay(kind, 5, 25, 36, 64, rng)
    # At 4 fps a timestamp ticks every 4 frames, so its changing digits are checked too.
    burned = burn_overlays(clean, [overlay], fps=4.0)
    changed = (burned != clean).any(axis=-1)  # (T, H, W)
    assert not changed[:5].any() and not changed[25:].any()
    assert changed[5:25].any(axis=(1, 2)).all()
    x0, y0, x1, y1 = overlay.box
    inside = np.zeros(changed.shape[1:], dtype=bool)
    inside[y0:y1, x0:x1] = True
    assert not (changed & ~inside).any()

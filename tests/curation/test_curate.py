"""``worldfm curate`` end to end on Ray Data: shards, clip rules, quarantine, resume after ``kill -9``.

All tests share the session's Ray (``ray_address`` in tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from curation.inputs import list_inputs
from curation.pipeline import WORK_DIR, CurateConfig, CurateError, Resources, curate
from curation.shards import load_manifest, read_samples
from curation.video_io import read_video, write_video
from tests.curation.bad_inputs import moving_video, write_bad_inputs
from tests.curation.odd_inputs import encode, lying_mp4, mkv_claiming
from tests.curation.test_inputs import write_odd_folder

FAST = CurateConfig(splitter="pyscenedetect")


@pytest.fixture(scope="module")
def curated(footage: tuple[Path, dict], ray_address: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled footage curated with the default splitter (the cascade)."""
    out = tmp_path_factory.mktemp("curated")
    curate(str(footage[0]), out, CurateConfig())
    return out


def _samples(out: Path) -> dict[str, tuple[dict, bytes]]:
    return {s["key"]: (s["meta"], s["frames"]) for s in read_samples(out, decode_video=False)}


def test_curated_shards_read_back_with_the_clip_contract(curated: Path, footage: tuple[Path, dict]) -> None:
    manifest = load_manifest(curated)
    samples = list(read_samples(curated))
    stats = manifest["stats"]
    assert len(samples) == manifest["num_samples"] == stats["clips"] > 0
    assert stats["inputs"] == 2 and stats["quarantined"] == {}
    assert sum(b["num_samples"] for b in manifest["buckets"].values()) == len(samples)
    for stage in ("probe", "split", "plan", "transcode"):
        assert stats["stages"][stage]["inputs"] == 2 and stats["stages"][stage]["seconds"] >= 0
    assert stats["stages"]["split"]["frames"] == sum(v["num_frames"] for v in footage[1].values())
    for s in samples:
        meta = s["meta"]
        assert s["frames"].shape == (meta["num_frames"], meta["height"], meta["width"], 3)
        assert meta["end_s"] - meta["start_s"] == pytest.approx(meta["num_frames"] / meta["fps"], abs=1e-4)
        assert Path(meta["source"]).name in footage[1]
        height, width = meta["height"], meta["width"]
        assert s["shard"].split("/")[-2].startswith(f"{height}x{width}_")
    assert not (curated / WORK_DIR).exists()


def test_clips_under_two_seconds_are_dropped_and_counted(curated: Path) -> None:
    stats = load_manifest(curated)["stats"]
    assert stats["dropped"]["too_short"] >= 1
    for meta, _ in _samples(curated).values():
        assert meta["num_frames"] / meta["fps"] >= 2.0


def test_clips_hold_no_frame_of_a_labelled_dissolve_or_fade(
    curated: Path, footage: tuple[Path, dict]
) -> None:
    labels = footage[1]
    checked = 0
    for meta, _ in _samples(curated).values():
        first, last = meta["source_frames"]
        for t in labels[Path(meta["source"]).name]["transitions"]:
            blended = set(range(t["start"] + 1, t["end"]))
            assert not blended & set(range(first, last)), (meta, t)
            checked += len(blended)
    assert checked > 0


def test_a_150_second_shot_becomes_three_clips(tmp_path: Path, ray_address: str) -> None:
    write_video(tmp_path / "in" / "long.mp4", moving_video(150 * 8, 16, 16), 8.0, crf=30)
    # Stage selection: without "split" the whole video is one shot.
    manifest = curate(str(tmp_path / "in"), tmp_path / "out", CurateConfig(stages=("transcode",))).manifest
    assert (
        "split" not in manifest["stats"]["stages"] and manifest["stats"]["stages"]["transcode"]["clips"] == 3
    )
    metas = sorted((m for m, _ in _samples(tmp_path / "out").values()), key=lambda m: m["start_s"])
    assert [(m["start_s"], m["end_s"]) for m in metas] == [(0.0, 50.0), (50.0, 100.0), (100.0, 150.0)]
    assert list(manifest["buckets"]) == ["16x16_30-60s"]


def test_bad_inputs_are_quarantined_while_good_ones_come_out(
    tmp_path: Path, ray_address: str, capsys: pytest.CaptureFixture
) -> None:
    expected = write_bad_inputs(tmp_path / "in")
    write_video(tmp_path / "in" / "good.mp4", moving_video(72), 24.0)
    argv = ["curate", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--splitter", "pyscenedetect"]
    assert main([*argv, "--max-input-resolution", "48x48", "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert f"quarantined {len(expected)}" in summary and "curated 7 videos" in summary
    lines = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert {Path(r["path"]).name: r["kind"] for r in lines} == expected
    assert all(r["reason"] for r in lines)
    metas = [m for m, _ in _samples(tmp_path / "out").values()]
    assert [Path(m["source"]).name for m in metas] == ["good.mp4"] and metas[0]["num_frames"] == 72
    assert load_manifest(tmp_path / "out")["stats"]["quarantined"] == {
        k: 1 for k in sorted(expected.values())
    }


def test_fail_fast_stops_at_the_first_bad_input(
    tmp_path: Path, ray_address: str, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.mp4").write_bytes(b"")
    argv = ["curate", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--fail-fast", "--no-progress"]
    assert main([*argv, "--splitter", "pyscenedetect"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("worldfm curate: error: ") and "empty.mp4" in last and "--fail-fast" in last
    assert not (tmp_path / "out" / "manifest.json").exists()


def _inputs_for_resume(folder: Path, count: int = 6) -> None:
    for i in range(count):
        write_video(folder / f"v{i}.mp4", moving_video(120, 64, 64, seed=i), 24.0)


def test_resume_after_kill_gives_exactly_the_uninterrupted_clip_set(tmp_path: Path, ray_address: str) -> None:
    _inputs_for_resume(tmp_path / "in")
    reference = curate(str(tmp_path / "in"), tmp_path / "ref", FAST).manifest
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "app.cli", "curate", str(tmp_path / "in"), "--out", str(out)]
    argv += ["--splitter", "pyscenedetect", "--ray-address", ray_address, "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(argv, env=env, cwd=Path(__file__).parents[2], stderr=log)
    done = out / WORK_DIR / "done"
    # Generous: on a loaded machine the subprocess's first input can take minutes.
    deadline = time.monotonic() + 600
    while not any(done.glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before_kill = len(list(done.glob("*.json")))
    log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()[-3000:]
    assert not (out / "manifest.json").exists() and 1 <= finished_before_kill < 6
    result = curate(str(tmp_path / "in"), out, FAST)
    assert result.resumed_inputs == finished_before_kill
    resumed, uninterrupted = _samples(out), _samples(tmp_path / "ref")
    assert sorted(resumed) == sorted(uninterrupted)
    for key, (meta, data) in uninterrupted.items():
        assert resumed[key][0] == meta
        # The same frames; not byte for byte, as libx264 here does not reproduce its bytes run to run.
        again, mine = read_video(resumed[key][1])[0].astype(int), read_video(data)[0].astype(int)
        assert again.shape == mine.shape and np.abs(again - mine).mean() < 1.0, key
    strip = lambda m: [(s["path"], s["num_samples"]) for s in m["shards"]]  # noqa: E731
    assert strip(result.manifest) == strip(reference) and result.manifest["stats"]["clips"] == 6


def test_stage_selection_is_checked() -> None:
    with pytest.raises(CurateError, match="unknown stage"):
        CurateConfig(stages=("split", "transcode", "sharpen"))
    with pytest.raises(CurateError, match="must include transcode"):
        CurateConfig(stages=("split",))
    assert CurateConfig(stages=("transcode", "split")).stages == ("split", "transcode")


def test_bad_resources_are_refused_naming_the_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(CurateError, match="--shared-frames-mib must be >= 0"):
        Resources(shared_frames_mib=-1)
    assert main(["curate", "videos", "--out", "out", "--split-actors", "0", "--no-progress"]) == 2
    assert "--split-actors must be >= 1" in capsys.readouterr().err


def test_a_bad_model_device_is_refused_before_any_clip_is_curated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.model_device import DEVICE_ENV

    monkeypatch.setenv(DEVICE_ENV, "tpu7")
    with pytest.raises(CurateError, match=f"{DEVICE_ENV}='tpu7' is not a torch device"):
        curate(str(tmp_path / "videos"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rerun_of_a_finished_run_is_a_no_op_and_other_arguments_are_refused(
    tmp_path: Path, ray_address: str
) -> None:
    _inputs_for_resume(tmp_path / "in", count=1)
    first = curate(str(tmp_path / "in"), tmp_path / "out", FAST)
    again = curate(str(tmp_path / "in"), tmp_path / "out", FAST)
    assert again.already_complete and again.manifest == first.manifest
    with pytest.raises(CurateError, match="--overwrite"):
        curate(str(tmp_path / "in"), tmp_path / "out", CurateConfig(splitter="pyscenedetect", crf=30))
    redone = curate(
        str(tmp_path / "in"), tmp_path / "out", CurateConfig(splitter="pyscenedetect", crf=30), overwrite=True
    )
    assert not redone.already_complete and redone.manifest["stats"]["run"]["config"]["crf"] == 30
    assert np.isfinite(redone.manifest["stats"]["clip_seconds"])


def test_a_hostile_folder_comes_out_with_every_entry_accounted_for(
    tmp_path: Path, ray_address: str, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "in"
    expected = write_odd_folder(folder, tmp_path / "outside")
    frames = moving_video(60, 16, 24)
    # A phone clip stored sideways: the display matrix turns it 90 degrees clockwise.
    (folder / "phone.mp4").write_bytes(encode(frames, rotation=-90))
    vfr_times = [0.1 * i for i in range(20)] + [2.0 + 0.05 * i for i in range(20)]
    (folder / "vfr.mp4").write_bytes(encode(moving_video(40, 16, 16), times=vfr_times))
    (folder / "lying.mp4").write_bytes(lying_mp4(36000.0, frames=48))
    (folder / "claims.mkv").write_bytes(mkv_claiming(36000.0, moving_video(72, 16, 16)))
    argv = [
        "curate",
        str(folder),
        "--out",
        str(tmp_path / "out"),
        "--splitter",
        "pyscenedetect",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "18 entries = curated 3 + dropped 4 + quarantined 1 + skipped 10" in capsys.readouterr().out
    stats = load_manifest(tmp_path / "out")["stats"]
    assert stats["entries"] == {"found": 18, "curated": 3, "dropped": 4, "quarantined": 1, "skipped": 10}
    outcomes = {o["entry"]: o for o in stats["outcomes"]}
    assert set(outcomes) == {*expected, "phone.mp4", "vfr.mp4", "lying.mp4", "claims.mkv"}
    for name, reason in expected.items():
        if reason:
            assert outcomes[name]["outcome"] == "skipped" and outcomes[name]["reason"].startswith(reason)
        else:  # the folder's own videos are a third of a second long
            assert (
                outcomes[name]["outcome"] == "dropped"
                and "under the minimum length" in outcomes[name]["reason"]
            )
    lying = outcomes["lying.mp4"]
    assert (lying["outcome"], lying["kind"]) == ("quarantined", "implausible_timing")
    assert "48 frames" in lying["reason"]
    assert stats["quarantined"] == {"implausible_timing": 1}
    assert stats["video_seconds"] == pytest.approx(2.5 + 3.0 + 3.0 + 4 * 8 / 24, abs=0.01)
    metas = {Path(m["source"]).name: m for m, _ in _samples(tmp_path / "out").values()}
    assert set(metas) == {"phone.mp4", "vfr.mp4", "claims.mkv"}
    phone = metas["phone.mp4"]
    assert (phone["height"], phone["width"], phone["source_rotation"]) == (24, 16, 90)
    decoded = next(s for s in read_samples(tmp_path / "out") if s["meta"] is not None and s["meta"] == phone)
    assert np.abs(decoded["frames"].astype(int) - np.rot90(frames, -1, axes=(1, 2))).mean() < 6
    vfr = metas["vfr.mp4"]
    assert (vfr["num_frames"], vfr["start_s"], vfr["end_s"]) == (40, 0.0, 3.0)
    assert vfr["fps"] == pytest.approx(40 / 3.0) and vfr["variable_frame_rate"] == {
        "min_fps": 10.0,
        "max_fps": 20.0,
    }
    claims = metas["claims.mkv"]
    assert (claims["num_frames"], claims["end_s"]) == (72, 3.0) and "36000.000 s" in claims["notes"][0]


def test_overwrite_and_stale_shard_cleanup_leave_files_outside_out_alone(tmp_path: Path) -> None:
    from curation.pipeline import _remove_run, _remove_stale_shards
    from tests.curation.test_shards import planted_manifest

    out = tmp_path / "out"
    files = planted_manifest(out, tmp_path / "victims")
    shard = out / load_manifest(out)["shards"][0]["path"]
    _remove_stale_shards(out)  # a resume's cleanup: globs */shard-*.tar, the linked bucket included
    assert not shard.exists()
    _remove_run(out)  # --overwrite
    assert not (out / "manifest.json").exists()
    assert all(path.read_text() for path in files.values())


def test_links_out_of_the_input_folder_are_skipped_and_listed_unless_followed(
    tmp_path: Path, ray_address: str
) -> None:
    write_video(tmp_path / "in" / "own.mp4", moving_video(72, 16, 16), 24.0, crf=30)
    write_video(tmp_path / "secret" / "private.mp4", moving_video(72, 16, 16, seed=1), 24.0, crf=30)
    (tmp_path / "in" / "planted.mp4").symlink_to(tmp_path / "secret" / "private.mp4")
    (tmp_path / "in" / "linked_dir").symlink_to(tmp_path / "secret", target_is_directory=True)
    (tmp_path / "in" / "alias.mp4").symlink_to(tmp_path / "in" / "own.mp4")  # own.mp4 is listed itself
    manifest = curate(str(tmp_path / "in"), tmp_path / "out", FAST).manifest
    sources = sorted(Path(m["source"]).name for m, _ in _samples(tmp_path / "out").values())
    assert sources == ["own.mp4"]
    outcomes = {o["entry"]: o for o in manifest["stats"]["outcomes"]}
    assert outcomes["planted.mp4"]["outcome"] == "skipped"
    assert "--follow-symlinks" in outcomes["planted.mp4"]["reason"]
    assert outcomes["alias.mp4"]["outcome"] == outcomes["linked_dir"]["outcome"] == "skipped"
    # --follow-symlinks: the linked file is judged as the file it names (a video); a linked
    # folder and a link to an entry listed itself stay skipped.
    followed = {e.name: e.skipped for e in list_inputs(str(tmp_path / "in"), follow_symlinks=True)[0]}
    assert followed["planted.mp4"] == "" and followed["alias.mp4"] and followed["linked_dir"]
    with pytest.raises(CurateError, match="--follow-symlinks"):
        curate(str(tmp_path / "in" / "planted.mp4"), tmp_path / "single", FAST)

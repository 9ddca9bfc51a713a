import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from app.cli import main
from curation.shards import count_samples, load_manifest, read_samples
from worldmodel.shipped import SHIPPED_CHECKPOINTS


def test_cli_help_lists_only_working_stages(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "simulate" in out and "demo" in out


def test_simulate_fetch_writes_shards_plain_webdataset_reads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fetch"
    assert (
        main(["simulate", "fetch", "--episodes", "2", "--frames", "6", "--size", "32", "--out", str(out)])
        == 0
    )
    assert "wrote 2 fetch episodes" in capsys.readouterr().out
    manifest = load_manifest(out)
    assert manifest["num_samples"] == 2
    assert sum(count_samples(out / s["path"]) for s in manifest["shards"]) == 2
    assert "success_rate" in manifest["stats"]
    urls = [str(out / s["path"]) for s in manifest["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert len(samples) == 2
    for raw in samples:
        meta = json.loads(raw["json"])
        actions = np.load(io.BytesIO(raw["actions.npy"]))
        assert meta["num_frames"] == 6 and actions.shape == (5, 4)
    decoded = next(iter(read_samples(out)))
    assert decoded["frames"].shape == (6, 32, 32, 3)


def test_simulate_fetch_coverage_mix_records_its_policies_and_block_motion(tmp_path: Path) -> None:
    from envs.sim.fetch import COVERAGE_POLICY_MIX, POLICY_MIXES

    args = ["simulate", "fetch", "--policy-mix", "coverage", "--episodes", "4", "--frames", "3"]
    assert main([*args, "--size", "16", "--out", str(tmp_path)]) == 0
    stats = load_manifest(tmp_path)["stats"]
    assert (
        set(stats["policy_counts"]) <= set(COVERAGE_POLICY_MIX) and stats["run"]["policy_mix"] == "coverage"
    )
    assert {"block_moved_rate", "block_moved_off_goal_rate", "reached_goal_rate"} <= set(stats)
    # The CLI's choices are the library's named mixes (written out so `--help` imports no simulator).
    with pytest.raises(SystemExit):
        main(["simulate", "fetch", "--policy-mix", "nope", "--out", str(tmp_path)])
    assert set(POLICY_MIXES) == {"default", "coverage"}


def test_simulate_refuses_to_overwrite_without_flag(tmp_path: Path, capsys) -> None:
    args = ["simulate", "orbit", "--episodes", "1", "--frames", "4", "--size", "32", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_simulate_driving_writes_three_views_and_trajectory(tmp_path: Path) -> None:
    args = ["simulate", "driving", "--episodes", "1", "--frames", "5", "--size", "32", "--out", str(tmp_path)]
    assert main(args) == 0
    sample = next(iter(read_samples(tmp_path)))
    assert sorted(sample["views"]) == ["front", "left", "right"]
    assert sample["trajectory"].shape == (5, 3) and sample["actions"].shape == (4, 2)


def test_carla_backend_without_server_fails_fast_with_instructions(tmp_path: Path) -> None:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "simulate",
            "driving",
            "--backend",
            "carla",
            "--port",
            "2999",
            "--timeout",
            "1",
            "--episodes",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "CARLA" in proc.stderr and "2999" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.perf_counter() - start < 30


def test_bad_arguments_give_clear_errors(tmp_path: Path, capsys) -> None:
    assert main(["simulate", "fetch", "--episodes", "0", "--out", str(tmp_path)]) == 2
    assert "--episodes must be >= 1" in capsys.readouterr().err


def test_demo_writes_shards_preview_and_rerun_file(tmp_path: Path) -> None:
    assert main(["demo", "--offline", "--out", str(tmp_path), "--episodes", "1", "--size", "32"]) == 0
    assert load_manifest(tmp_path / "shards")["num_samples"] == 3
    assert (tmp_path / "preview.mp4").stat().st_size > 0
    rrd = tmp_path / "episode.rrd"
    verify = subprocess.run(
        [str(Path(sys.executable).parent / "rerun"), "rrd", "verify", str(rrd)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr


def test_eval_on_shards_too_short_for_the_horizon_says_so_without_a_traceback(tmp_path: Path, capsys) -> None:
    shipped = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit"
    if not (shipped / "config.json").exists():
        pytest.skip("no shipped checkpoint")
    args = ["simulate", "fetch", "--episodes", "2", "--frames", "4", "--size", "64", "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    args = ["eval", "wfm", "--ckpt", str(shipped), "--data", str(tmp_path), "--horizon", "30"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "worldfm eval: error: no clip in" in err and "record longer clips" in err
    assert "Traceback" not in err

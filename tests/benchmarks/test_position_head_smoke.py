"""benchmarks/position_head.py runs end to end at tiny size: candidate data from cloned simulator
states, the position head, its within-state ranking beside the reward head's, and MPC with it in
the model and in the simulator."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_position_head_probe_ranks_and_plans_with_its_head(fetch_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    args = ["--wfm", str(fetch_world), "--groups", "2", "--heldout-groups", "2", "--head-steps", "2"]
    args += ["--episodes", "1", "--steps", "2", "--oracle", "--horizon", "2", "--population", "4"]
    args += ["--prior-samples", "4", "--elites", "2", "--iterations", "1", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "benchmarks/position_head.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "within-state Spearman on 2 held-out states" in done.stdout
    assert "position head, model as its model" in done.stdout
    assert "position head, simulator as its model" in done.stdout
    report = json.loads(out.read_text())
    assert set(report) >= {"spearman_position_head", "spearman_reward_head", "model", "simulator"}
    assert 0 <= report["model"]["planner"]["success_rate"] <= 1

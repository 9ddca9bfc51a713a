"""benchmarks/control.py runs end to end at tiny size: MPC, policy evaluation and env speed in a
tiny Fetch world model, each row beside its target, and the --json report."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_control_benchmark_writes_every_row_and_its_json(fetch_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "control.json"
    args = ["--wfm", str(fetch_world), "--episodes", "1", "--steps", "2", "--speed-steps", "1"]
    args += ["--oracle", "progress", "head"]
    done = subprocess.run(
        [sys.executable, "benchmarks/control.py", *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for row in ("MPC in the model", "planning time per action", "policy evaluation over 6 policies"):
        assert f"| {row}" in done.stdout
    assert "latent vector env (64 envs)" in done.stdout
    assert "simulator as its model, scored by the simulator's progress" in done.stdout
    assert "simulator as its model, scored by the reward head on real frames" in done.stdout
    report = json.loads(out.read_text())
    assert set(report) >= {"mpc", "oracle", "policy_eval", "speed", "seconds"}
    assert set(report["oracle"]) == {"progress", "head"}
    assert 0 <= report["mpc"]["planner"]["success_rate"] <= 1
    assert report["speed"]["latent64_steps_per_s"] > 0

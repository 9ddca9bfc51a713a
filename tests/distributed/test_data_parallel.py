"""Two gloo processes under ``accelerate launch`` train exactly like one process on the same global batch,
whether they replicate the model (DDP, ``cpu.yaml``) or shard it (FSDP2, ``fsdp.yaml``).

Each launch trains a tiny tokenizer, autoregressive and diffusion world model in turn
(``train_tiny.py``). One process with ``grad_accum=2`` and two processes with ``grad_accum=1`` see the
same 4-clip global batches, so their logged losses and final (EMA) weights must agree to float
rounding, and a run must continue at another world size from the other's ``training_state/``
(the lr is constant, so a run stopped early and resumed with more steps keeps its schedule).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from curation.sample import ClipSample
from curation.shards import ShardWriter
from curation.video_io import encode_video
from tests.pushed_square import pushed_square_clip
from worldmodel import hub
from worldmodel.tokenizer import CausalVideoTokenizer, get_config

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("train_tiny.py")
ACCELERATE = Path(sys.executable).with_name("accelerate")
FAMILIES = ("tokenizer", "ar", "diffusion")
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    processes: int,
    out: Path,
    *,
    steps: int,
    grad_accum: int,
    data: Path,
    tokenizers: Path,
    config: str = "cpu.yaml",
) -> None:
    """Run ``train_tiny.py`` in ``processes`` CPU processes (gloo, through torchrun, with the accelerate
    ``config``: ``cpu.yaml`` for DDP, ``fsdp.yaml`` for FSDP) or in one."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "ACCELERATE_USE_CPU": "1"}
    launcher = [str(ACCELERATE), "launch", "--num_machines", "1", "--mixed_precision", "no"]
    launcher += ["--dynamo_backend", "no", "--num_processes", str(processes)]
    if processes > 1:
        # accelerate starts several CPU processes only on its torchrun (multi-GPU) path.
        launcher += ["--config_file", str(REPO / "training/accelerate" / config)]
        launcher += ["--main_process_port", str(free_port())]
    else:
        launcher += ["--cpu"]
    args = ["--data", str(data), "--tokenizers", str(tokenizers), "--out", str(out)]
    args += ["--steps", str(steps), "--grad-accum", str(grad_accum)]
    done = subprocess.run(
        [*launcher, str(DRIVER), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


def losses(run: Path, family: str) -> list[float]:
    with open(run / family / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, STEPS + 1))
    return [float(r["losses/total"]) for r in rows]


def assert_same_training(run: Path, reference: Path) -> None:
    for family in FAMILIES:
        assert losses(run, family) == pytest.approx(losses(reference, family), rel=1e-4, abs=1e-6), family
        for name in ("model.safetensors", "training_state/model.safetensors"):
            got, want = load_file(run / family / name), load_file(reference / family / name)
            assert got.keys() == want.keys()
            for key in want:
                torch.testing.assert_close(got[key], want[key], rtol=1e-3, atol=1e-4, msg=f"{family} {key}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp")
    data = root / "shards"
    with ShardWriter(data) as writer:
        for i in range(14):
            frames, actions = pushed_square_clip(i)
            meta = {"source": "test", "start_s": 0.0, "end_s": 1.0, "fps": 10.0}
            meta |= {"width": 32, "height": 32, "num_frames": 10}
            clip = ClipSample(f"push-{i}", encode_video(frames, 10.0), meta, arrays={"actions": actions})
            writer.write(clip)
    tokenizers = root / "tokenizers"
    for name, preset in (("discrete", "DI8x8-tiny"), ("continuous", "CI8x8-tiny")):
        torch.manual_seed(0)
        hub.save(CausalVideoTokenizer(get_config(preset)), tokenizers / name)
    common = {"data": data, "tokenizers": tokenizers}
    out = {name: root / name for name in ("one", "two", "relay", "sharded", "sharded-relay")}
    launch(1, out["one"], steps=STEPS, grad_accum=2, **common)
    launch(2, out["two"], steps=STEPS, grad_accum=1, **common)
    launch(2, out["sharded"], steps=STEPS, grad_accum=1, config="fsdp.yaml", **common)
    # One run handed between world sizes after each step: 2 processes, then 1, then 2 again.
    for step, processes in enumerate((2, 1, 2), start=1):
        launch(processes, out["relay"], steps=step, grad_accum=3 - processes, **common)
    # And between ways of parallelising: sharded, then replicated, then sharded again.
    for step, config in enumerate(("fsdp.yaml", "cpu.yaml", "fsdp.yaml"), start=1):
        launch(2, out["sharded-relay"], steps=step, grad_accum=1, config=config, **common)
    return out


def test_two_processes_train_like_one_on_the_same_global_batch(runs: dict[str, Path]) -> None:
    assert_same_training(runs["two"], runs["one"])


def test_checkpoint_resumes_at_another_world_size_both_ways(runs: dict[str, Path]) -> None:
    assert_same_training(runs["relay"], runs["one"])


def test_two_sharded_processes_train_like_one_on_the_same_global_batch(runs: dict[str, Path]) -> None:
    assert_same_training(runs["sharded"], runs["one"])


def test_checkpoint_resumes_between_sharded_and_replicated_runs(runs: dict[str, Path]) -> None:
    assert_same_training(runs["sharded-relay"], runs["one"])


def test_checkpoints_hold_the_final_step_and_every_process_random_state(runs: dict[str, Path]) -> None:
    for run in (runs[name] / family for name in ("two", "sharded") for family in FAMILIES):
        leftovers = [p.name for p in run.rglob("*") if p.name.endswith((".tmp", ".old"))]
        assert not leftovers, leftovers
        state = json.loads((run / "training_state" / "state.json").read_text())
        assert state["step"] == STEPS and len(state["rng"]) == 2
        training = json.loads((run / "config.json").read_text())["training"]
        assert training["step"] == STEPS and training["processes"] == 2
        assert training["sharded"] == (run.parent == runs["sharded"])

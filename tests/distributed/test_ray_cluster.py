"""``worldfm curate --ray-address`` on a two-node Ray cluster writes what a local run writes.

The cluster is two ``ray start`` processes on 127.0.0.1 (a head and a worker node, one CPU each)
under a private ``--temp-dir``; teardown kills only the processes that name that directory, so the
session's in-process Ray (tests/conftest.py) and other users' clusters stay up. The curate runs are
subprocesses, as a user's would be.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from curation.pipeline import model_stage_gpus
from curation.shards import load_manifest, read_samples
from envs.sim.raw import write_raw_footage

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
# Ray names its sockets after the temp dir, and a unix socket path has at most 107 bytes.
SHORT_TMP = "/tmp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_start(temp_dir: str, *args: str) -> None:
    common = ["--num-cpus", "1", "--num-gpus", "0", "--node-ip-address", "127.0.0.1", "--temp-dir", temp_dir]
    common += ["--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    done = subprocess.run(
        [str(BIN / "ray"), "start", *args, *common], env=ENV, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def kill_cluster(temp_dir: str) -> None:
    """Kill every process whose command line names this cluster's temp dir (and nothing else)."""
    mine = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with_dir = any(temp_dir in part for part in proc.info["cmdline"] or ())
        if with_dir and proc.info["pid"] != os.getpid():
            mine.append(proc)
    for proc in mine:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(mine, timeout=10)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and one worker node on 127.0.0.1; yields the head's ``host:port``."""
    temp_dir = tempfile.mkdtemp(prefix="wfm-ray-", dir=SHORT_TMP)
    address = f"127.0.0.1:{free_port()}"
    try:
        ray_start(temp_dir, "--head", f"--port={address.split(':')[1]}", "--include-dashboard=false")
        ray_start(temp_dir, f"--address={address}")
        yield address
    finally:
        kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def curate(inputs: Path, out: Path, *extra: str) -> None:
    args = [str(BIN / "worldfm"), "curate", str(inputs), "--out", str(out), "--splitter", "pyscenedetect"]
    args += ["--no-progress", *extra]
    done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def shard_contents(out: Path) -> dict[str, tuple[dict, bytes]]:
    return {s["key"]: (s["meta"], s["frames"]) for s in read_samples(out, decode_video=False)}


def cluster_view(address: str) -> tuple[int, dict[str, float]]:
    """The cluster's live node count and ``ray.cluster_resources()``, as a joining driver sees them."""
    code = (
        f"import json, ray; ray.init(address={address!r}); "
        "print(json.dumps([sum(n['Alive'] for n in ray.nodes()), ray.cluster_resources()]))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    nodes, resources = json.loads(done.stdout.strip().splitlines()[-1])
    return nodes, resources


def test_curate_on_a_two_node_cluster_matches_a_local_run(cluster: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_raw_footage(raw, 2, seed=59, size=32, min_seconds=5.0, max_seconds=6.0, long_fraction=0.0)
    nodes, resources = cluster_view(cluster)
    assert nodes == 2 and resources["CPU"] == 2
    # A CPU-only cluster: the model stages must not ask for a GPU, or their tasks would never start.
    assert model_stage_gpus(resources) == 0
    curate(raw, tmp_path / "cluster", "--ray-address", cluster)
    curate(raw, tmp_path / "local", "--cpus", "1")
    on_cluster, local = shard_contents(tmp_path / "cluster"), shard_contents(tmp_path / "local")
    assert len(local) > 0 and on_cluster == local
    manifests = [load_manifest(tmp_path / name) for name in ("cluster", "local")]
    assert [m["num_samples"] for m in manifests] == [len(local)] * 2
    assert manifests[0]["buckets"].keys() == manifests[1]["buckets"].keys()


def test_model_stages_ask_for_a_gpu_only_when_the_cluster_has_one() -> None:
    assert model_stage_gpus({"CPU": 2.0, "memory": 1e9, "object_store_memory": 1e8}) == 0
    assert model_stage_gpus({"CPU": 16.0, "GPU": 1.0}) == 1
    assert model_stage_gpus({"CPU": 64.0, "GPU": 8.0, "accelerator_type:H100": 1.0}) == 1
    assert model_stage_gpus({"CPU": 4.0, "GPU": 0.0}) == 0

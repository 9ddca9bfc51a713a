"""A local Ray started by ``worldfm curate`` listens on the loopback interface only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curation.local_ray import is_loopback

REPO = Path(__file__).resolve().parents[2]
# Starts Ray as `worldfm curate` does without --ray-address, runs a task, then lists every TCP
# listener of this process and its children (GCS, raylet, object manager, agents, workers).
# Then a second process joins it as `worldfm curate --ray-address 127.0.0.1:PORT` does.
LISTENERS = """
import json, os, subprocess, sys, psutil, ray
from curation.pipeline import _ensure_ray
assert _ensure_ray(None, 1)
ray.get(ray.remote(lambda: 1).remote())
address = ray.get_runtime_context().gcs_address
join = ("import ray; from curation.pipeline import _ensure_ray; "
        f"_ensure_ray({address!r}, None); print(ray.get(ray.remote(lambda: 2).remote()))")
joined = subprocess.run([sys.executable, "-c", join], capture_output=True, text=True, timeout=90)
assert joined.stdout.split()[-1:] == ["2"], joined.stderr[-2000:]
pids = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
found = [[c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()]
         for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in pids]
ray.shutdown()
print(json.dumps(found))
"""


def test_loopback_addresses_are_told_from_network_ones() -> None:
    for host in ("127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "127.0.1.1"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.0.2.2", "10.0.0.1", "example.org", ""):
        assert not is_loopback(host), host


def test_curate_local_ray_listens_on_loopback_only_and_can_be_joined() -> None:
    pytest.importorskip("ray")
    env = {"PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", LISTENERS], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listeners = json.loads(done.stdout.strip().splitlines()[-1])
    names = {name for _, _, name in listeners}
    assert {"gcs_server", "raylet"} <= names, listeners
    exposed = [entry for entry in listeners if not is_loopback(entry[0])]
    assert not exposed, f"listening beyond this machine: {exposed}"

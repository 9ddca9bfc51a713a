"""The wheel, installed as users install it: built from the checkout, installed into a fresh venv,
used from a folder outside the checkout with the checkout nowhere on ``sys.path``.

Nothing downloads: the wheel is built without build isolation by this interpreter's setuptools,
installed with ``--no-deps --no-index``, and the fresh venv sees the dependencies through a
``.pth`` line naming this interpreter's site-packages (appended after the venv's own, so the
wheel's packages come first; an editable install of the checkout there is not activated, as
``.pth`` files in a folder named by a ``.pth`` line are not run). ``make wheel-test`` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from app.web.catalog import Catalog
from tests.envs.test_lerobot import CAMERA, write_v3_dataset

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "envs", "training", "worldmodel", "curation")

# Run by the installed venv's python in a folder of its own: what a user does after pip install.
USER_SCRIPT = """
import json, sys
import gymnasium as gym
import numpy as np
import app, curation, envs, training, worldmodel
from app.web.catalog import Catalog
from app.web.config import WebConfig
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import WorldModel

env = gym.make("worldfm/FetchPush-WM-v0")
obs, _ = env.reset(seed=0)
rewards = []
for _ in range(3):
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    rewards.append(float(reward))
env.close()

world = WorldModel.from_pretrained("fetchpush-wm-dit", precision="fp32")
context = np.zeros((world.context_frames, 64, 64, 3), np.uint8)
frames = world.predict(context, actions=np.zeros((2, world.action_dim), np.float32), horizon=2, seed=0)

print(json.dumps({
    "modules": [m.__file__ for m in (app, curation, envs, training, worldmodel)],
    "sys_path": sys.path,
    "shipped": str(SHIPPED_CHECKPOINTS),
    "env_ids": sorted(i for i in gym.registry if i.startswith("worldfm/")),
    "obs": list(obs.shape),
    "rewards": rewards,
    "frames": [list(frames.shape), str(frames.dtype)],
    "catalog": [e.name for e in Catalog(WebConfig().checkpoints).entries()],
}))
"""


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _checkout_files(dest: Path) -> None:
    """Copy what a clone of the checkout holds (tracked and new, unignored files) to ``dest``, so
    the build's build/ and *.egg-info land there and not in the checkout."""
    listed = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())


@pytest.mark.slow
def test_installed_wheel_makes_envs_loads_shipped_models_and_runs_the_cli(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the files a wheel is built from")
    src, dist, venv, user = (tmp_path / n for n in ("src", "dist", "venv", "user-project"))
    for folder in (src, dist, user):
        folder.mkdir()
    _checkout_files(src)
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("worldfm-*.whl")

    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    venv_site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=user
        ).strip()
    )
    (venv_site / "worldfm-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path
    )

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    report = json.loads(_run([str(python), "-c", USER_SCRIPT], cwd=user, env=env).strip().splitlines()[-1])

    # Every package and the shipped checkpoints come from the venv, none from the checkout.
    assert all(Path(m).is_relative_to(venv_site) for m in report["modules"]), report["modules"]
    assert report["shipped"] == str(venv_site / "worldfm_checkpoints")
    assert not any(p and Path(p).resolve() == ROOT for p in report["sys_path"])
    assert {"worldfm/FetchPush-WM-v0", "worldfm/FetchPush-WM-AR-v0", "worldfm/Driving-WM-v0"} <= set(
        report["env_ids"]
    )
    assert report["obs"] == [64, 64, 3] and len(report["rewards"]) == 3
    assert report["frames"] == [[2, 64, 64, 3], "uint8"]
    # The web app (and so `worldfm demo`) lists the same models as in the checkout.
    assert report["catalog"] == [e.name for e in Catalog(ROOT / "checkpoints").entries()]
    assert "fetchpush-wm-dit" in report["catalog"]

    worldfm = str(venv / "bin" / "worldfm")
    assert "usage: worldfm" in _run([worldfm, "--help"], cwd=user, env=env)

    # The other user paths of the installed command: a LeRobot dataset in, your own Gymnasium env
    # recorded, and SB3 over the batched learned env.
    write_v3_dataset(user / "lerobot")
    _run(
        [worldfm, "import", "lerobot", "lerobot", "--camera", CAMERA, "--out", "imported", "--size", "32"],
        cwd=user,
        env=env,
    )
    assert json.loads((user / "imported" / "manifest.json").read_text())["shards"]
    env_mujoco = {**env, "MUJOCO_GL": "egl"}
    gym_args = ["--env", "Reacher-v5", "--episodes", "1", "--frames", "6", "--size", "32", "--out", "reacher"]
    _run([worldfm, "simulate", "gym", *gym_args], cwd=user, env=env_mujoco)
    assert json.loads((user / "reacher" / "manifest.json").read_text())["shards"]
    sb3 = (
        "import numpy as np, envs; from envs.sb3 import make_sb3_vec_env; "
        "v = make_sb3_vec_env('worldfm/FetchPush-WM-v0', 2); v.reset(); "
        "obs, r, d, i = v.step(np.zeros((2, 4), np.float32)); print(obs.shape, len(i))"
    )
    assert (
        _run([str(python), "-c", sb3], cwd=user, env=env_mujoco).strip().splitlines()[-1]
        == "(2, 64, 64, 3) 2"
    )

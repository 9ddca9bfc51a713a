"""Shared test setup.

``envs`` picks MuJoCo's headless EGL backend at import; it must be imported before
any test module imports ``mujoco`` (which would otherwise fall back to GLFW).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import envs  # noqa: F401
from tests.posttrained import build_posttrained
from tests.tiny_worlds import train_tiny_fetch_world


@pytest.fixture(scope="session")
def posttrained(tmp_path_factory) -> dict[str, Path]:
    """Tiny camera, driving and LoRA world models (``tests.posttrained``), built once (~10 s)."""
    return build_posttrained(tmp_path_factory.mktemp("posttrain"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread for the test (``pytest.mark.usefixtures("one_thread")``): for tiny
    matmuls a second thread only adds synchronisation (and fights other jobs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fetch_world(tmp_path_factory) -> Path:
    """A tiny Fetch push world model with a reward and progress head (``tests.tiny_worlds``), built once."""
    return train_tiny_fetch_world(tmp_path_factory.mktemp("fetch_world"))


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """One local Ray for the whole test session (starting one costs ~4 s and ~640 MiB), started
    as ``worldfm curate`` starts its own (``curation.local_ray``: on 127.0.0.1 only).

    Yields its address, so subprocesses (``worldfm curate --ray-address``) join it too.
    """
    ray = pytest.importorskip("ray")
    from curation.local_ray import init_local_ray

    yield init_local_ray(2, object_store_memory=256 * 2**20)
    ray.shutdown()

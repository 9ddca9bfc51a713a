"""The check, shared by the trainers' tests, that a run's ``--seed`` alone decides its weights."""

from collections.abc import Callable
from pathlib import Path

import torch


def assert_seed_decides_weights(train: Callable[[Path, int], object], root: Path) -> None:
    """``train(out, seed)`` twice with one seed gives byte-identical weights, another seed others.

    Between the first two runs torch's global generator is moved on, as an earlier model build or
    draw in the same process would leave it: only the seed may decide the weights.
    """

    def weights(name: str, seed: int) -> bytes:
        train(root / name, seed)
        return (root / name / "model.safetensors").read_bytes()

    first = weights("a", 1)
    torch.rand(7)
    assert weights("b", 1) == first
    assert weights("c", 2) != first

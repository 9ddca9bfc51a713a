"""Curation networks run on the GPU Ray assigned the task, else on the CPU (``curation.model_device``)."""

from __future__ import annotations

import pytest
import torch

from curation.model_device import DEVICE_ENV, model_device


def test_networks_run_on_the_cpu_when_no_gpu_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert model_device() == torch.device("cpu")


def test_networks_run_on_the_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray sets CUDA_VISIBLE_DEVICES to the task's own GPU, so "cuda" is the one it was given.
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert model_device() == torch.device("cuda")


def test_the_environment_variable_forces_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert model_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "cuda:1")
    assert model_device() == torch.device("cuda", 1)


def test_forcing_cuda_without_a_gpu_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    message = f"{DEVICE_ENV}='cuda' but this process sees no CUDA device; set it to cpu"
    with pytest.raises(ValueError, match=message):
        model_device()


def test_a_device_torch_does_not_know_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "gpu0")
    with pytest.raises(ValueError, match="is not a torch device; set it to cpu, cuda or cuda:N, or unset it"):
        model_device()

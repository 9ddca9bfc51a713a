"""Samplers on a Gaussian toy problem whose exact denoiser and ODE solution are known in closed form."""

import pytest
import torch

from worldmodel.diffusion.edm import append_dims, karras_sigmas
from worldmodel.diffusion.samplers import SAMPLERS, sample_euler, sample_heun

MU, S = 0.7, 0.5  # data ~ N(MU, S²)
SIGMA_MAX = 80.0


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x0 | x] for x0 ~ N(MU, S²), x = x0 + sigma·n: MU + S²/(S² + sigma²)·(x − MU)."""
    sigma = append_dims(sigma, x.ndim)
    return MU + S**2 / (S**2 + sigma**2) * (x - MU)


def start(n: int = 20_000) -> torch.Tensor:
    """Samples of the exact marginal at SIGMA_MAX, N(MU, S² + SIGMA_MAX²), in float64."""
    noise = torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return MU + (S**2 + SIGMA_MAX**2) ** 0.5 * noise


def exact_solution(x_start: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE is linear here: x(0) − MU = (x(sigma_max) − MU)·S / √(S² + sigma_max²)."""
    return MU + (x_start - MU) * S / (S**2 + SIGMA_MAX**2) ** 0.5


def sigmas(steps: int) -> torch.Tensor:
    return karras_sigmas(steps, 0.002, SIGMA_MAX).double()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_are_deterministic_with_a_seed(name: str) -> None:
    def noisy_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return gaussian_denoiser(x, sigma) + 0.01 * torch.sin(x * 3)

    def run() -> torch.Tensor:
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(3)) * SIGMA_MAX
        return SAMPLERS[name](noisy_denoiser, x, karras_sigmas(10, 0.002, SIGMA_MAX))

    assert torch.equal(run(), run())


def test_heun_samples_match_the_gaussian_data_mean_and_std() -> None:
    heun = sample_heun(gaussian_denoiser, start(), sigmas(20))
    euler = sample_euler(gaussian_denoiser, start(), sigmas(20))
    assert abs(heun.mean().item() - MU) < 0.02
    # 20 steps of a second-order solver still leave a few % of discretisation error in the std.
    assert abs(heun.std().item() - S) < 0.04
    assert abs(heun.std().item() - S) < abs(euler.std().item() - S) / 2


def test_heun_is_closer_than_euler_to_the_exact_ode_solution_at_equal_steps() -> None:
    x_start = start(1000)
    exact = exact_solution(x_start)
    errors = {}
    for steps in (20, 40):
        heun = (sample_heun(gaussian_denoiser, x_start, sigmas(steps)) - exact).abs().max().item()
        euler = (sample_euler(gaussian_denoiser, x_start, sigmas(steps)) - exact).abs().max().item()
        assert heun < euler / 3, (steps, heun, euler)
        errors[steps] = heun
    # Second order: twice the steps, about a quarter of the error.
    assert errors[40] < errors[20] / 3


def test_heun_skips_its_correction_on_the_last_step_to_sigma_zero() -> None:
    calls: list[float] = []
    steps: list[int] = []

    def counting_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        calls.append(sigma[0].item())
        return gaussian_denoiser(x, sigma)

    sample_heun(counting_denoiser, start(8), sigmas(6), callback=lambda info: steps.append(info["i"]))
    assert len(calls) == 2 * 6 - 1 and min(calls) > 0
    assert steps == list(range(6))

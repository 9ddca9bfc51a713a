"""Deterministic ODE samplers for EDM denoisers (Karras et al., arXiv 2206.00364, Sec. 3).

Every sampler has one signature, after k-diffusion's ``sampling.py``:
``sample_x(denoiser, x, sigmas, *, extra_args=None, callback=None)`` where
``denoiser(x, sigma, **extra_args)`` returns ``D(x; sigma)`` for ``x`` (B, ...) and
``sigma`` (B,), ``x`` starts at noise level ``sigmas[0]`` and ``sigmas`` ends with 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from worldmodel.diffusion.edm import append_dims

Denoiser = Callable[..., torch.Tensor]
Callback = Callable[[dict[str, Any]], None]


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE's ``dx/dsigma = (x − D(x; sigma)) / sigma`` (arXiv 2206.00364, eq. 4
    with sigma(t) = t)."""
    return (x - denoised) / append_dims(sigma, x.ndim)


@torch.no_grad()
def sample_euler(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Implements Algorithm 1 of Karras et al. (2022), arXiv 2206.00364, without the second-order
    correction (lines 9-11): one Euler step per noise level, one denoiser call each.

    Args:
        x: (B, ...) the starting sample, at noise level ``sigmas[0]``.
        sigmas: (N + 1,) decreasing noise levels ending with 0 (e.g. ``karras_sigmas``).
    """
    extra_args = extra_args or {}
    ones = x.new_ones(x.shape[0])  # (B,)
    levels = sigmas.tolist()  # python floats: no device sync inside the loop
    for i in range(len(levels) - 1):
        denoised = denoiser(x, levels[i] * ones, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": levels[i], "denoised": denoised})
        x = x + to_d(x, levels[i] * ones, denoised) * (levels[i + 1] - levels[i])
    return x


@torch.no_grad()
def sample_heun(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Implements Algorithm 1 of Karras et al. (2022), arXiv 2206.00364 (deterministic Heun steps;
    Algorithm 2 with S_churn = 0): Heun's second-order correction at every step except the last,
    to sigma = 0, where it would divide by zero and Euler is used. 2N − 1 denoiser calls.

    Args:
        x: (B, ...) the starting sample, at noise level ``sigmas[0]``.
        sigmas: (N + 1,) decreasing noise levels ending with 0 (e.g. ``karras_sigmas``).
    """
    extra_args = extra_args or {}
    ones = x.new_ones(x.shape[0])  # (B,)
    levels = sigmas.tolist()  # python floats: no device sync inside the loop
    for i in range(len(levels) - 1):
        sigma, sigma_next = levels[i] * ones, levels[i + 1] * ones  # (B,)
        denoised = denoiser(x, sigma, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": levels[i], "denoised": denoised})
        d = to_d(x, sigma, denoised)
        dt = levels[i + 1] - levels[i]
        x_next = x + d * dt
        if levels[i + 1] > 0:
            d_next = to_d(x_next, sigma_next, denoiser(x_next, sigma_next, **extra_args))
            x_next = x + (d + d_next) / 2 * dt
        x = x_next
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": sample_euler, "heun": sample_heun}

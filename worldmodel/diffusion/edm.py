"""EDM diffusion math as pure functions (Karras et al., "Elucidating the Design Space of
Diffusion-Based Generative Models", arXiv 2206.00364).

Symbols follow the paper: ``sigma`` is the noise level, ``sigma_data`` the data's
standard deviation, ``c_skip``, ``c_out``, ``c_in``, ``c_noise`` the preconditioning
of Table 1, so that the denoiser is ``D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)``
(eq. 7).
"""

from __future__ import annotations

import torch


def append_dims(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append trailing singleton dims so that ``x`` (B,) broadcasts against a ``ndim``-d tensor."""
    return x.reshape(*x.shape, *([1] * (ndim - x.ndim)))


def edm_scalings(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_skip, c_out, c_in)`` of EDM's preconditioning (arXiv 2206.00364, Table 1).

    c_skip = sigma_data² / (sigma² + sigma_data²), c_out = sigma·sigma_data / √(sigma² + sigma_data²),
    c_in = 1 / √(sigma² + sigma_data²); each has the shape of ``sigma``.
    """
    total = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / total
    c_out = sigma * sigma_data / total.sqrt()
    c_in = total.rsqrt()
    return c_skip, c_out, c_in


def c_noise(sigma: torch.Tensor) -> torch.Tensor:
    """The network's noise-level input, ``log(sigma) / 4`` (arXiv 2206.00364, Table 1)."""
    return sigma.log() / 4


def loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """``lambda(sigma) = (sigma² + sigma_data²) / (sigma·sigma_data)²`` (Table 1), i.e. ``1 / c_out²``.

    It makes the effective target of ``F`` unit-variance at every noise level (eq. 8).
    """
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def sample_sigma_lognormal(
    shape: tuple[int, ...],
    p_mean: float = -1.2,
    p_std: float = 1.2,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Training noise levels, ``ln(sigma) ~ N(p_mean, p_std²)`` (arXiv 2206.00364, Table 1).

    Drawn on the generator's device (so a CPU generator gives the same values anywhere),
    then moved to ``device``.
    """
    draw_device = generator.device if generator is not None else device
    normal = torch.randn(shape, generator=generator, device=draw_device)
    return (p_mean + p_std * normal).exp().to(device)


def karras_sigmas(
    n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """The sampling schedule of eq. 5 (arXiv 2206.00364): ``n`` levels from ``sigma_max`` down to
    ``sigma_min``, evenly spaced in ``sigma^(1/rho)``, followed by ``sigma_N = 0``. Shape (n + 1,).
    """
    if n < 1:
        raise ValueError(f"n (number of sampling steps) must be >= 1, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(device=device, dtype=torch.float32)


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance on the denoised estimate: ``uncond + guidance · (cond − uncond)``.

    Ho & Salimans (arXiv 2207.12598), eq. 6 with ``guidance = 1 + w``: guidance 1 is the
    conditional prediction, 0 the unconditional one.
    """
    return uncond + guidance * (cond - uncond)

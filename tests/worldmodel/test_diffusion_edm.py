"""EDM math against its definitions (Karras et al., arXiv 2206.00364, Table 1 and eq. 5)."""

import math

import torch

from worldmodel.diffusion.edm import (
    c_noise,
    cfg_combine,
    edm_scalings,
    karras_sigmas,
    loss_weight,
    sample_sigma_lognormal,
)

SIGMAS = torch.tensor([0.002, 0.1, 0.5, 1.0, 10.0, 80.0], dtype=torch.float64)


def test_edm_scalings_match_table_1() -> None:
    sigma_data = 0.5
    c_skip, c_out, c_in = edm_scalings(SIGMAS, sigma_data)
    for i, s in enumerate(SIGMAS.tolist()):
        assert math.isclose(c_skip[i], sigma_data**2 / (s**2 + sigma_data**2), rel_tol=1e-12)
        assert math.isclose(c_out[i], s * sigma_data / math.sqrt(s**2 + sigma_data**2), rel_tol=1e-12)
        assert math.isclose(c_in[i], 1 / math.sqrt(s**2 + sigma_data**2), rel_tol=1e-12)


def test_edm_scalings_make_the_denoiser_the_identity_as_sigma_goes_to_zero() -> None:
    c_skip, c_out, _ = edm_scalings(torch.tensor([1e-8, 0.0], dtype=torch.float64), 0.5)
    torch.testing.assert_close(c_skip, torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(c_out, torch.zeros(2, dtype=torch.float64))


def test_loss_weight_is_the_inverse_square_of_c_out() -> None:
    _, c_out, _ = edm_scalings(SIGMAS, 0.7)
    torch.testing.assert_close(loss_weight(SIGMAS, 0.7), 1 / c_out**2)


def test_c_noise_is_a_quarter_of_log_sigma() -> None:
    torch.testing.assert_close(c_noise(SIGMAS), torch.log(SIGMAS) / 4)


def test_lognormal_sigmas_have_the_requested_log_mean_and_std_and_follow_the_seed() -> None:
    draw = lambda: sample_sigma_lognormal((20_000,), -1.2, 1.2, generator=torch.Generator().manual_seed(0))  # noqa: E731
    sigma = draw()
    assert torch.equal(sigma, draw())
    assert (sigma > 0).all()
    assert abs(sigma.log().mean().item() + 1.2) < 0.03
    assert abs(sigma.log().std().item() - 1.2) < 0.03


def test_karras_schedule_runs_from_sigma_max_to_sigma_min_then_zero() -> None:
    sigmas = karras_sigmas(18, 0.002, 80.0, rho=7.0)
    assert sigmas.shape == (19,)
    torch.testing.assert_close(sigmas[0], torch.tensor(80.0))
    torch.testing.assert_close(sigmas[-2], torch.tensor(0.002))
    assert sigmas[-1] == 0
    assert (sigmas[1:] < sigmas[:-1]).all()
    # eq. 5: evenly spaced in sigma^(1/rho).
    roots = sigmas[:-1].double() ** (1 / 7)
    torch.testing.assert_close(roots.diff(), roots.diff()[:1].expand(17), rtol=1e-4, atol=1e-6)


def test_cfg_combine_guidance_one_is_conditional_and_zero_is_unconditional() -> None:
    cond, uncond = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(cfg_combine(cond, uncond, 1.0), cond)
    torch.testing.assert_close(cfg_combine(cond, uncond, 0.0), uncond)
    torch.testing.assert_close(cfg_combine(cond, uncond, 3.0), uncond + 3 * (cond - uncond))

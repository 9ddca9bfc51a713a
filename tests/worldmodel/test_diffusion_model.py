"""The diffusion world model: EDM denoiser, Video2World conditioning, CFG, training, checkpoints."""

from pathlib import Path

import pytest
import torch

from worldmodel import hub
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel, get_config

# These matmuls are tiny: a second thread only adds synchronisation (and fights other jobs).
pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (2, 4, 3, 4, 4)  # (B, C, T, h, w): 3 latent frames of 4x4x4
FIRST_GIVEN = torch.tensor([[True, False, False]] * 2)  # (B, T)


def make_model(seed: int = 0, randomize: bool = True, **dit) -> DiffusionWorldModel:
    torch.manual_seed(seed)
    model = DiffusionWorldModel(DiffusionConfig(dit=get_config("DiT-tiny", **dit)))
    if randomize:  # the zero-initialised output layer would make F = 0
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return model.eval()


def latents(seed: int = 0, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_edm_denoiser_is_identity_at_sigma_zero() -> None:
    model, x = make_model(), latents()
    torch.testing.assert_close(model.denoise(x, torch.zeros(2)), x, rtol=0, atol=0)
    torch.testing.assert_close(model.denoise(x, torch.full((2,), 1e-6)), x, rtol=0, atol=1e-4)
    assert not torch.allclose(model.denoise(x, torch.ones(2)), x, atol=1e-2)


def test_video2world_denoiser_returns_the_condition_and_ignores_noise_on_given_frames() -> None:
    model, x, cond = make_model(), latents(0), latents(1)
    sigma = torch.full((2,), 2.0)
    out = model.denoise(x, sigma, Conditioning(cond_latent=cond, cond_mask=FIRST_GIVEN))
    assert torch.equal(out[:, :, 0], cond[:, :, 0])
    x_other = x.clone()
    x_other[:, :, 0] = 100.0  # what the noisy latents hold on a given frame is never read
    torch.testing.assert_close(
        model.denoise(x_other, sigma, Conditioning(cond_latent=cond, cond_mask=FIRST_GIVEN)), out
    )


@pytest.mark.parametrize("sampler", ["heun", "euler"])
def test_video2world_sample_returns_the_condition_frames_exactly(sampler: str) -> None:
    model, cond = make_model(action_dim=2), latents(1)
    sample = model.sample(
        SHAPE,
        Conditioning(cond_latent=cond, cond_mask=FIRST_GIVEN, actions=torch.randn(2, 3, 2)),
        steps=4,
        sampler=sampler,
    )
    assert torch.equal(sample[:, :, 0], cond[:, :, 0])
    assert sample[:, :, 1:].isfinite().all() and not torch.equal(sample[:, :, 1:], cond[:, :, 1:])


def test_sample_is_deterministic_with_a_seed_and_depends_on_the_condition() -> None:
    model = make_model()

    def run(cond: torch.Tensor, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return model.sample(
            SHAPE, Conditioning(cond_latent=cond, cond_mask=FIRST_GIVEN), steps=3, generator=generator
        )

    a = run(latents(1))
    assert torch.equal(a, run(latents(1)))
    assert not torch.allclose(a[:, :, 1:], run(latents(2))[:, :, 1:])
    assert not torch.allclose(a[:, :, 1:], run(latents(1), seed=1)[:, :, 1:])


def test_cfg_with_guidance_one_equals_the_conditional_prediction() -> None:
    model, x = make_model(text_dim=8, action_dim=2), latents()
    cond = Conditioning(
        actions=torch.randn(2, 3, 2), text=torch.randn(2, 5, 8), cond_latent=latents(1), cond_mask=FIRST_GIVEN
    )
    sigma = torch.full((2,), 1.5)
    conditional = model.denoise(x, sigma, cond)
    # guidance 1 through the batched cond + uncond path, not the shortcut:
    torch.testing.assert_close(model.denoiser.guided(x, sigma, cond, guidance=1.0), conditional)
    unconditional = model.denoise(x, sigma, Conditioning(cond_latent=cond.cond_latent, cond_mask=FIRST_GIVEN))
    torch.testing.assert_close(model.denoise(x, sigma, cond, guidance=0.0), unconditional)
    guided = model.denoise(x, sigma, cond, guidance=3.0)
    torch.testing.assert_close(
        guided, unconditional + 3 * (conditional - unconditional), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("bad", ["x0", "actions"])
def test_nan_in_latents_or_actions_raises_a_value_error(bad: str) -> None:
    model = make_model(action_dim=2)
    inputs = {"x0": latents(), "actions": torch.randn(2, 3, 2)}
    inputs[bad][0, 0] = float("nan")
    with pytest.raises(ValueError, match=f"{bad} contains NaN"):
        model(inputs["x0"], Conditioning(cond_mask=FIRST_GIVEN, actions=inputs["actions"]))
    with pytest.raises(ValueError, match="contains NaN"):
        model.sample(
            SHAPE,
            Conditioning(cond_latent=inputs["x0"], cond_mask=FIRST_GIVEN, actions=inputs["actions"]),
            steps=2,
        )


def test_bad_action_shape_or_condition_mask_raises_a_clear_value_error() -> None:
    model = make_model(action_dim=2)
    with pytest.raises(ValueError, match=r"actions must be \(B, T, action_dim\) = \(2, 3, 2\)"):
        model(latents(), Conditioning(cond_mask=FIRST_GIVEN, actions=torch.randn(2, 2, 2)))
    with pytest.raises(ValueError, match=r"cond_mask must be a bool \(B, T\)"):
        model(latents(), Conditioning(cond_mask=FIRST_GIVEN.float()))


def train(model: DiffusionWorldModel, clip: torch.Tensor, steps: int, batch: int = 16) -> tuple[float, float]:
    """Adam with a linearly decaying lr on one clip repeated ``batch`` times (first frame given).

    Returns the loss before and after on a fixed draw of sigma and noise, so the two are comparable.
    """
    x0, mask = clip.expand(batch, *clip.shape[1:]), FIRST_GIVEN[:1].expand(batch, -1)
    generator = lambda: torch.Generator().manual_seed(123)  # noqa: E731
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, foreach=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1 - i / steps)
    model.train()
    before = model.loss(x0, Conditioning(cond_mask=mask), generator=generator())[0].item()
    for _ in range(steps):
        loss = model(x0, Conditioning(cond_mask=mask))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return before, model.loss(x0, Conditioning(cond_mask=mask), generator=generator())[0].item()


def test_tiny_model_overfits_one_latent_clip() -> None:
    model = make_model(randomize=False)
    before, after = train(model, latents(5, (1, 4, 3, 4, 4)), steps=300)
    assert after < before / 10, (before, after)


def test_train_save_load_sample_gives_identical_samples(tmp_path: Path) -> None:
    model = make_model(randomize=False, action_dim=2, text_dim=8)
    train(model, latents(5, (1, 4, 3, 4, 4)), steps=5)
    model.eval()
    hub.save(model, tmp_path / "dit")
    loaded = hub.load(tmp_path / "dit", expect_kind="diffusion")
    assert isinstance(loaded, DiffusionWorldModel) and loaded.config == model.config
    cond = Conditioning(
        cond_latent=latents(1), cond_mask=FIRST_GIVEN, actions=torch.randn(2, 3, 2), text=torch.randn(2, 5, 8)
    )
    a = model.sample(SHAPE, cond, steps=4, guidance=2.0, generator=torch.Generator().manual_seed(7))
    b = loaded.sample(SHAPE, cond, steps=4, guidance=2.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)

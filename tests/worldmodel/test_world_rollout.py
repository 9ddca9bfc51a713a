"""``WorldModel.rollout_latents`` on the shipped Fetch models: the latents ``predict`` decodes, batched
rollouts equal single ones when each element has its own seed, and clear errors on bad input."""

import numpy as np
import pytest
import torch

from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import WorldModel

DIT, AR = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit", SHIPPED_CHECKPOINTS / "fetchpush-wm-ar"


def shipped(folder) -> WorldModel:
    if not (folder / "config.json").exists():
        pytest.skip(f"no shipped checkpoint {folder.name}")
    return WorldModel.from_pretrained(folder)


@pytest.fixture(scope="module")
def dit() -> WorldModel:
    return shipped(DIT)


def episode_starts(world: WorldModel, batch: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Context frames (B, K, 64, 64, 3) and actions (B, horizon, A), varied per element."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (batch, world.context_frames, 64, 64, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (batch, horizon, world.action_dim)).astype(np.float32)
    return frames, actions


@pytest.mark.parametrize("folder", [DIT, AR], ids=["diffusion", "autoregressive"])
def test_rollout_latents_are_the_latents_predict_decodes(folder) -> None:
    world = shipped(folder)
    horizon = 2 if folder == DIT else 1  # the AR model draws token by token: slow on CPU
    frames, actions = episode_starts(world, 2, horizon)
    latents = world.rollout_latents(world.encode(frames), actions, seed=3)
    assert latents.shape == (2, world.latent_shape[0], horizon, *world.latent_shape[1:])
    pixels = world.predict(frames, actions=actions, horizon=horizon, seed=3)
    np.testing.assert_array_equal(world.decode(latents), pixels)


@pytest.mark.parametrize("folder", [DIT, AR], ids=["diffusion", "autoregressive"])
def test_per_element_seeds_make_a_batched_rollout_equal_single_ones(folder) -> None:
    # Each element draws its noise from its own generator, so its rollout is the B=1 rollout with
    # its seed. Equal bit for bit on the CPUs we ran; promised only up to the rounding of batched
    # kernels, which may block a batch differently from a single element.
    world = shipped(folder)
    horizon, batch = (2, 3) if folder == DIT else (1, 2)
    frames, actions = episode_starts(world, batch, horizon)
    seeds = [11, 12, 13][:batch]
    batched = world.rollout_latents(world.encode(frames), actions, seed=seeds)
    for b, seed in enumerate(seeds):
        alone = world.rollout_latents(world.encode(frames[b : b + 1]), actions[b : b + 1], seed=seed)
        torch.testing.assert_close(batched[b : b + 1], alone, rtol=0, atol=1e-4)
    # One seed for the batch is what predict does: element 0's rollout then depends on the batch.
    shared = world.rollout_latents(world.encode(frames), actions, seed=seeds[0])
    assert not torch.equal(shared, batched)


def test_rollout_latents_takes_torch_actions_and_keeps_the_last_context_latents(dit: WorldModel) -> None:
    frames, actions = episode_starts(dit, 1, 2)
    context = dit.encode(frames)
    longer = torch.cat([torch.zeros_like(context), context], dim=2)  # extra, older latents are ignored
    expected = dit.rollout_latents(context, actions, seed=0, steps=2)
    torch.testing.assert_close(
        dit.rollout_latents(longer, torch.from_numpy(actions), seed=0, steps=2), expected, rtol=0, atol=0
    )


def test_rollout_latents_checks_its_inputs(dit: WorldModel) -> None:
    frames, actions = episode_starts(dit, 2, 2)
    context = dit.encode(frames)
    with pytest.raises(ValueError, match=r"normalised latents \(B, 16, K, h, w\)"):
        dit.rollout_latents(frames, actions)
    with pytest.raises(ValueError, match="at least 2 context latents"):
        dit.rollout_latents(context[:, :, :1], actions)
    with pytest.raises(ValueError, match=r"\(8, 8\) \(h, w\)"):
        dit.rollout_latents(context[..., :4], actions)
    with pytest.raises(ValueError, match="actions must have shape"):
        dit.rollout_latents(context, actions[:1])
    with pytest.raises(ValueError, match="horizon"):
        dit.rollout_latents(context)
    with pytest.raises(ValueError, match="NaN"):
        dit.rollout_latents(context, np.full_like(actions, np.nan))
    with pytest.raises(ValueError, match="3 generators for a batch of 2"):
        dit.rollout_latents(context, actions, seed=[1, 2, 3], steps=1)

"""The DiT backbone: config validation, adaLN-Zero init, conditioning inputs and their checks."""

import pytest
import torch

from worldmodel.conditioning.inputs import Conditioning, NullInputs
from worldmodel.diffusion import DIT_MODELS, DiT, DiTConfig, get_config

# These matmuls are tiny: a second thread only adds synchronisation (and fights other jobs).
pytestmark = pytest.mark.usefixtures("one_thread")


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (the zero-initialised layers would hide most behaviour)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return model.eval()


def dit_inputs(config: DiTConfig, b: int = 2, t: int = 2, size: int = 4) -> tuple[torch.Tensor, ...]:
    x = torch.randn(b, config.in_channels, t, size, size)
    return x, torch.randn(b), torch.randn(b)


@pytest.mark.parametrize(
    ("field", "value"),
    [("hidden", 0), ("heads", 5), ("patch_size", (1, 2)), ("adaln_lora_rank", -1), ("action_dim", -2)],
)
def test_dit_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        DiTConfig(**{field: value})


def test_dit_presets_grow_in_size() -> None:
    sizes = [sum(p.numel() for p in DiT(DIT_MODELS[n]).parameters()) for n in ("DiT-tiny", "DiT-XS", "DiT-S")]
    assert sizes == sorted(sizes)


def test_dit_output_is_zero_at_init_adaln_zero() -> None:
    config = get_config("DiT-tiny", text_dim=8, action_dim=3)
    x, c_noise, c_noise_aug = dit_inputs(config)
    out = DiT(config)(
        x, c_noise, c_noise_aug, Conditioning(actions=torch.randn(2, 2, 3), text=torch.randn(2, 5, 8))
    )
    assert out.shape == (2, config.latent_channels, 2, 4, 4)
    assert out.abs().max() == 0


@pytest.mark.parametrize("rank", [0, 8])
def test_dit_with_temporal_patches_and_actions_maps_back_to_the_latent_shape(rank: int) -> None:
    config = get_config("DiT-tiny", patch_size=(2, 2, 2), action_dim=3, adaln_lora_rank=rank)
    model = randomized(DiT(config))
    x, c_noise, c_noise_aug = dit_inputs(config, t=4)
    out = model(x, c_noise, c_noise_aug, Conditioning(actions=torch.randn(2, 4, 3)))
    assert out.shape == (2, config.latent_channels, 4, 4, 4) and out.isfinite().all()


def test_adaln_lora_uses_fewer_parameters_than_full_adaln() -> None:
    full = sum(p.numel() for p in DiT(get_config("DiT-S", adaln_lora_rank=0)).parameters())
    lora = sum(p.numel() for p in DiT(get_config("DiT-S", adaln_lora_rank=64)).parameters())
    assert lora < 0.8 * full


def test_padded_text_tokens_do_not_change_the_output() -> None:
    config = get_config("DiT-tiny", text_dim=8)
    model = randomized(DiT(config))
    x, c_noise, c_noise_aug = dit_inputs(config)
    text = torch.randn(2, 6, 8)
    mask = torch.tensor([[True] * 3 + [False] * 3, [True] * 5 + [False]])
    other = text.clone()
    other[~mask] = torch.randn(int((~mask).sum()), 8)
    a = model(x, c_noise, c_noise_aug, Conditioning(text=text, text_mask=mask))
    b = model(x, c_noise, c_noise_aug, Conditioning(text=other, text_mask=mask))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(
        a, model(x, c_noise, c_noise_aug, Conditioning(text=torch.randn(2, 6, 8), text_mask=mask))
    )


def test_dropped_text_and_actions_equal_missing_ones() -> None:
    config = get_config("DiT-tiny", text_dim=8, action_dim=3)
    model = randomized(DiT(config))
    x, c_noise, c_noise_aug = dit_inputs(config)
    text, actions = torch.randn(2, 5, 8), torch.randn(2, 2, 3)
    drop = torch.tensor([True, False])
    dropped = model(
        x, c_noise, c_noise_aug, Conditioning(actions=actions, text=text), NullInputs(text=drop, actions=drop)
    )
    missing = model(x, c_noise, c_noise_aug)
    kept = model(x, c_noise, c_noise_aug, Conditioning(actions=actions, text=text))
    torch.testing.assert_close(dropped[0], missing[0])
    torch.testing.assert_close(dropped[1], kept[1])
    assert not torch.allclose(dropped[0], kept[0])


def test_an_action_changes_the_prediction() -> None:
    config = get_config("DiT-tiny", action_dim=3)
    model = randomized(DiT(config))
    x, c_noise, c_noise_aug = dit_inputs(config)
    actions = torch.randn(2, 2, 3)
    moved = actions.clone()
    moved[:, 1] += 1.0
    assert not torch.allclose(
        model(x, c_noise, c_noise_aug, Conditioning(actions=actions)),
        model(x, c_noise, c_noise_aug, Conditioning(actions=moved)),
    )


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (torch.randn(2, 3, 3), r"actions must be \(B, T, action_dim\) = \(2, 2, 3\)"),
        (torch.randn(2, 2), r"actions must be \(B, T, action_dim\)"),
    ],
)
def test_bad_action_shape_raises_a_clear_value_error(actions: torch.Tensor, match: str) -> None:
    config = get_config("DiT-tiny", action_dim=3)
    with pytest.raises(ValueError, match=match):
        DiT(config)(*dit_inputs(config), Conditioning(actions=actions))


def test_actions_for_a_model_without_actions_are_refused() -> None:
    config = get_config("DiT-tiny")
    with pytest.raises(ValueError, match="action_dim=0"):
        DiT(config)(*dit_inputs(config), Conditioning(actions=torch.randn(2, 2, 3)))

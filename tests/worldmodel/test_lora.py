"""LoRA: starts as the base model, trains only the adapters, merges to the same function."""

import pytest
import torch

from worldmodel.conditioning.inputs import Conditioning
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel
from worldmodel.diffusion.configuration_dit import DiTConfig
from worldmodel.lora import LoRALinear, apply_lora, has_lora, merge_lora, merged_copy


def _model() -> DiffusionWorldModel:
    torch.manual_seed(0)
    model = DiffusionWorldModel(DiffusionConfig(dit=DiTConfig(latent_channels=4, camera_dim=6)))
    for p in model.parameters():  # adaLN-zero outputs 0 untrained: give every layer weights
        p.data.normal_(0, 0.05)
    return model


def _denoise(model: DiffusionWorldModel) -> torch.Tensor:
    torch.manual_seed(1)
    x, sigma = torch.randn(2, 4, 3, 4, 4), torch.rand(2) + 0.1
    return model.denoise(x, sigma, Conditioning(camera=torch.randn(2, 6, 3, 4, 4)))


def test_lora_starts_as_the_base_model_and_trains_only_adapters_and_new_layers() -> None:
    model = _model()
    before = _denoise(model)
    adapted = apply_lora(
        model, rank=2, within=("denoiser.backbone.blocks",), trainable=("denoiser.backbone.camera_embedder",)
    )
    assert adapted and all(".blocks." in name for name in adapted)
    torch.testing.assert_close(_denoise(model), before)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "camera_embedder" in n for n in trainable)


def test_merged_model_gives_the_same_outputs_as_the_unmerged_one() -> None:
    model = _model()
    apply_lora(model, rank=3, alpha=6, within=("denoiser.backbone.blocks",))
    for module in model.modules():
        if isinstance(module, LoRALinear):
            module.lora_b.data.normal_(0, 0.1)  # as if trained
    unmerged = _denoise(model)
    merged = merged_copy(model)
    assert has_lora(model) and not has_lora(merged)
    torch.testing.assert_close(_denoise(merged), unmerged, rtol=1e-5, atol=1e-5)
    assert set(merged.state_dict()) == set(_model().state_dict())
    assert not torch.allclose(_denoise(_model()), unmerged)  # the adapters did change the function
    merge_lora(model)
    torch.testing.assert_close(_denoise(model), unmerged, rtol=1e-5, atol=1e-5)


def test_lora_refuses_a_zero_rank_and_a_model_without_linears() -> None:
    with pytest.raises(ValueError, match="rank must be >= 1"):
        apply_lora(_model(), rank=0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_lora(torch.nn.Sequential(torch.nn.ReLU()), rank=2)

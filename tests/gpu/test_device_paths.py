"""Every model family trains a bf16-autocast step and samples on an accelerator (``make test-gpu``).

Each test runs on the CPU in ``make test`` too, so the code stays right where no GPU is lent; the
``cuda`` cases carry the ``gpu`` marker and are skipped without CUDA. Models are tiny: these check
devices, dtypes and shapes, not quality.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from training.trainer import TrainConfig, Trainer
from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel
from worldmodel.autoregressive import get_config as get_gpt_config
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel
from worldmodel.diffusion import get_config as get_dit_config
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.world import WorldModel

CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")],
)
DEVICES = pytest.mark.parametrize("device", ["cpu", CUDA])


def bf16_train_step(model: torch.nn.Module, loss_fn, device: str) -> float:
    """One AdamW step with the loss under bf16 autocast (fp32 master weights); returns the loss."""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    with torch.autocast(device, dtype=torch.bfloat16):
        loss = loss_fn(model)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 and g.isfinite().all() for g in grads)
    optimizer.step()
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert all(p.dtype == torch.float32 and p.device.type == device for p in after)
    return loss.item()


def video(device: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(shape, generator=generator, device=device) * 2 - 1


@DEVICES
@pytest.mark.parametrize("preset", ["CV4x8x8-tiny", "DV4x8x8-tiny"])
def test_tokenizer_trains_a_bf16_step_and_round_trips_on_device(device: str, preset: str) -> None:
    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config(preset))
    x = video(device, (2, 3, 5, 16, 16))  # (B, 3, T, H, W)
    loss = bf16_train_step(model, lambda m: (m(x)[0].float() - x).abs().mean(), device)
    assert np.isfinite(loss)
    model.eval()
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        encoded = model.encode(x)
        latent = encoded[0] if isinstance(encoded, tuple) else encoded
        recon = model.decode(latent)
    assert latent.device.type == device and latent.shape[:3] == (2, model.latent_channels, 2)
    assert recon.shape == x.shape and recon.device.type == device and recon.float().isfinite().all()


@DEVICES
def test_diffusion_world_model_trains_a_bf16_step_and_samples_on_device(device: str) -> None:
    torch.manual_seed(0)
    model = DiffusionWorldModel(DiffusionConfig(dit=get_dit_config("DiT-tiny", action_dim=2)))
    x0 = video(device, (2, 4, 3, 4, 4))  # (B, C, T, h, w) latents
    given = torch.tensor([[True, True, False]] * 2, device=device)  # (B, T)
    actions = video(device, (2, 3, 2), seed=1)  # (B, T, A)
    loss = bf16_train_step(model, lambda m: m(x0, Conditioning(cond_mask=given, actions=actions)), device)
    assert np.isfinite(loss)
    model.eval()
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.autocast(device, dtype=torch.bfloat16):
        sample = model.sample(
            x0.shape,
            Conditioning(cond_latent=x0, cond_mask=given, actions=actions),
            steps=2,
            generator=generator,
        )
    assert sample.shape == x0.shape and sample.device.type == device and sample.float().isfinite().all()
    torch.testing.assert_close(sample[:, :, :2].float(), x0[:, :, :2])


@DEVICES
def test_autoregressive_model_trains_a_bf16_step_and_samples_with_kv_cache_on_device(device: str) -> None:
    torch.manual_seed(0)
    gpt = get_gpt_config("GPT-tiny", action_dim=2, max_frames=4, max_height=4, max_width=4)
    model = AutoregressiveWorldModel(ARConfig(gpt=gpt))
    size = model.config.gpt.codebook_size
    indices = torch.randint(0, size, (2, 3, 4, 4), generator=torch.Generator().manual_seed(0)).to(device)
    given = torch.tensor([[True, True, False]] * 2, device=device)  # (B, T)
    actions = video(device, (2, 3, 2), seed=1)  # (B, T, A)
    loss = bf16_train_step(
        model, lambda m: m(indices, Conditioning(cond_mask=given, actions=actions)), device
    )
    assert np.isfinite(loss)
    model.eval()
    codes = model.gpt.fsq.indices_to_codes(indices).movedim(-1, 1)  # (B, C, T, h, w)

    def sample(use_cache: bool, autocast: bool) -> torch.Tensor:
        generator = torch.Generator(device=device).manual_seed(0)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            return model.sample(
                codes.shape,
                Conditioning(cond_latent=codes, cond_mask=given, actions=actions),
                temperature=0.0,
                generator=generator,
                use_cache=use_cache,
            )

    cached = sample(use_cache=True, autocast=False)
    assert cached.device.type == device and cached.shape == codes.shape
    torch.testing.assert_close(cached[:, :, :2], codes[:, :, :2])
    # Greedy decoding in fp32: the cache only skips recomputation, so the tokens are the same.
    torch.testing.assert_close(cached, sample(use_cache=False, autocast=False))
    in_bf16 = sample(use_cache=True, autocast=True)
    assert in_bf16.shape == codes.shape and in_bf16.float().isfinite().all()
    model.codes_to_indices(in_bf16)  # the bf16 draws are valid FSQ codes


@DEVICES
@pytest.mark.parametrize("checkpoint", ["fetchpush-wm-dit", "fetchpush-wm-ar"])
def test_shipped_world_model_predicts_on_device_in_bf16(device: str, checkpoint: str) -> None:
    directory = SHIPPED_CHECKPOINTS / checkpoint
    if not (directory / "config.json").exists():
        pytest.skip(f"no shipped checkpoint {checkpoint}")
    world = WorldModel.from_pretrained(directory, device=device, precision="bf16")
    assert world.device.type == device
    rng = np.random.default_rng(0)
    context = rng.integers(0, 256, (world.context_frames, 64, 64, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (2, world.action_dim)).astype(np.float32)
    frames = world.predict(context, actions=actions, horizon=2, seed=0, steps=1)
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trainer_runs_bf16_steps_on_the_gpu_and_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    from worldmodel import hub

    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny"))
    config = TrainConfig(steps=2, batch_size=2, mixed_precision="bf16", ema_decay=0.9, out_dir=str(tmp_path))
    config = dataclasses.replace(config, warmup_steps=0, log_every=1, save_every=2, eval_every=2)
    trainer = Trainer(
        model,
        config,
        loss_fn=lambda m, batch, step: ((m(batch["video"])[0].float() - batch["video"]).abs().mean(), {}),
        get_batch=lambda step, micro: {"video": video("cpu", (2, 3, 5, 16, 16), seed=step)},
    )
    assert trainer.accelerator.device.type == "cuda"
    metrics = trainer.fit()
    assert np.isfinite(metrics["losses/total"])
    loaded = hub.load(tmp_path, expect_kind="tokenizer")
    assert isinstance(loaded, CausalVideoTokenizer)


@DEVICES
def test_curation_networks_run_on_the_chosen_device_and_agree_with_the_cpu(
    device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TransNetV2 and the tokenizer embedder, as a Ray task given that device would run them."""
    from curation.embeddings import DEFAULT_TOKENIZER, TokenizerEmbedder
    from curation.model_device import DEVICE_ENV
    from curation.splitters import _IsolatedTransNetV2

    rng = np.random.default_rng(0)
    shots = rng.integers(0, 256, (2, 1, 27, 48, 3), dtype=np.uint8)
    frames = np.repeat(shots, 60, axis=1).reshape(120, 27, 48, 3)  # one hard cut at frame 60
    clip = rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)

    def run(name: str):  # noqa: ANN202
        monkeypatch.setenv(DEVICE_ENV, name)
        net = _IsolatedTransNetV2()
        assert next(net.model.parameters()).device.type == name
        outputs = [*net.predict(frames), *net.predict_window(frames[40:80])]
        if (DEFAULT_TOKENIZER / "config.json").exists():
            embedder = TokenizerEmbedder()
            assert next(embedder.model.parameters()).device.type == name
            outputs.append(embedder.embed(clip))
        return outputs

    on_device, on_cpu = run(device), run("cpu")
    assert np.argmax(on_device[0]) in (59, 60)  # the cut
    for a, b in zip(on_device, on_cpu, strict=True):
        assert isinstance(a, np.ndarray)
        np.testing.assert_allclose(a, b, atol=2e-3)

import math

import pytest
import torch

from worldmodel.tokenizer.flow_loss import (
    flow_consistency_loss,
    flow_in_frame_mask,
    flow_warp,
    forward_backward_mask,
)
from worldmodel.tokenizer.losses import TokenizerLossConfig, l1_loss, psnr, tokenizer_loss
from worldmodel.tokenizer.ssim import K1, K2, gaussian_window, ms_ssim, ms_ssim_scales, ssim
from worldmodel.tokenizer.vgg import VGG19Features, gram_loss, gram_matrix, perceptual_loss


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    torch.manual_seed(0)
    return VGG19Features(("relu1_2", "relu2_2")).requires_grad_(False).eval()


# ---------------------------------------------------------------- SSIM / MS-SSIM


def _reference_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> float:
    """Wang 2004 eq. 13, one window position at a time, float64, for (C, H, W) images."""
    g = gaussian_window(11, 1.5).double()
    w = torch.outer(g, g)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    x, y = x.double(), y.double()
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - 10):
            for j in range(x.shape[2] - 10):
                px, py = x[c, i : i + 11, j : j + 11], y[c, i : i + 11, j : j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cov = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(torch.stack(values).mean())


def test_ssim_of_identical_images_is_one() -> None:
    x = _rand(2, 3, 16, 16)
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(2))


def test_ssim_matches_windowed_loop_reference() -> None:
    x, y = _rand(1, 2, 13, 14, seed=1), _rand(1, 2, 13, 14, seed=2)
    y = 0.6 * x + 0.4 * y
    assert ssim(x, y).item() == pytest.approx(_reference_ssim(x[0], y[0], 2.0), abs=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a, b = 0.3, -0.2
    x, y = torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b)
    c1 = (K1 * 2.0) ** 2
    # float32 variances of a constant are not exactly 0, hence the tolerance.
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a**2 + b**2 + c1), abs=1e-4)


def test_ssim_is_symmetric() -> None:
    x, y = _rand(2, 3, 20, 20, seed=3), _rand(2, 3, 20, 20, seed=4)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    torch.testing.assert_close(ms_ssim(x, y), ms_ssim(y, x))


@pytest.mark.parametrize("fn", [ssim, ms_ssim])
def test_ssim_decreases_with_noise(fn) -> None:
    x = torch.nn.functional.avg_pool2d(_rand(1, 3, 36, 36, seed=5), 3, 1)  # smooth, 34x34
    noise = _rand(1, 3, 34, 34, seed=6)
    values = [fn(x, (x + s * noise).clamp(-1, 1)).item() for s in (0.0, 0.05, 0.2, 0.8)]
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_ssim_of_video_is_mean_over_frames() -> None:
    x, y = _rand(2, 3, 4, 16, 16, seed=7), _rand(2, 3, 4, 16, 16, seed=8)
    per_frame = torch.stack([ssim(x[:, :, t], y[:, :, t]) for t in range(4)], dim=1)
    torch.testing.assert_close(ssim(x, y), per_frame.mean(dim=1))


def test_ssim_rejects_images_smaller_than_window() -> None:
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_ms_ssim_uses_fewer_scales_on_small_images() -> None:
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(64, 64) == 3
    assert ms_ssim_scales(16, 16) == 1
    x, y = _rand(1, 3, 16, 16, seed=9), _rand(1, 3, 16, 16, seed=10)
    y = 0.7 * x + 0.3 * y  # positive SSIM: MS-SSIM clamps negative values before the power
    # A single scale is plain SSIM: l * cs at the finest scale with exponent 1.
    torch.testing.assert_close(ms_ssim(x, y), ssim(x, y))


# ---------------------------------------------------------------- pixel losses


def test_psnr_matches_definition_and_is_infinite_for_identical() -> None:
    x = _rand(2, 3, 2, 8, 8)
    y = x + 0.1
    torch.testing.assert_close(psnr(x, y), torch.full((2,), 10 * math.log10(4.0 / 0.01)))
    assert torch.isinf(psnr(x, x)).all()


def test_l1_loss_is_mean_absolute_error() -> None:
    x = torch.zeros(2, 3)
    y = torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    assert l1_loss(x, y).item() == pytest.approx(1.0)


# ---------------------------------------------------------------- VGG19, perceptual, Gram


def test_vgg19_has_torchvision_layout() -> None:
    net = VGG19Features()
    conv_indices = [i for i, m in enumerate(net.features) if isinstance(m, torch.nn.Conv2d)]
    assert conv_indices == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert len(net.features) == 37
    keys = set(net.state_dict())
    assert keys == {f"features.{i}.{p}" for i in conv_indices for p in ("weight", "bias")}
    feats = net(_rand(1, 3, 2, 32, 32))  # frames fold into the batch
    shapes = {name: tuple(f.shape) for name, f in feats.items()}
    assert shapes == {
        "relu1_2": (2, 64, 32, 32),
        "relu2_2": (2, 128, 16, 16),
        "relu3_4": (2, 256, 8, 8),
        "relu4_4": (2, 512, 4, 4),
        "relu5_4": (2, 512, 2, 2),
    }


def test_vgg19_normalises_minus_one_one_input_with_imagenet_stats(vgg: VGG19Features) -> None:
    x = _rand(1, 3, 16, 16)
    expected = vgg.features[1](vgg.features[0](((x + 1) / 2 - vgg.mean) / vgg.std))
    torch.testing.assert_close(vgg(x)["relu1_2"], vgg.features[3](vgg.features[2](expected)))


def test_vgg19_rejects_unknown_layer() -> None:
    with pytest.raises(ValueError, match="relu9_9"):
        VGG19Features(("relu9_9",))


def test_perceptual_loss_is_weighted_feature_l1(vgg: VGG19Features) -> None:
    fx, fy = vgg(_rand(1, 3, 16, 16, seed=1)), vgg(_rand(1, 3, 16, 16, seed=2))
    assert perceptual_loss(fx, fx).item() == 0.0
    expected = 2.0 * (fx["relu2_2"] - fy["relu2_2"]).abs().mean()
    torch.testing.assert_close(perceptual_loss(fx, fy, {"relu2_2": 2.0}), expected)


def test_gram_matrix_matches_definition() -> None:
    f = _rand(2, 3, 4, 5)
    g = gram_matrix(f)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                assert g[n, i, j].item() == pytest.approx((f[n, i] * f[n, j]).sum().item() / 60, abs=1e-6)


def test_gram_loss_ignores_spatial_arrangement() -> None:
    f = _rand(2, 8, 6, 6)
    shuffled = f.flatten(2)[:, :, torch.randperm(36)].view(2, 8, 6, 6)
    assert gram_loss({"a": f}, {"a": shuffled}).item() == pytest.approx(0.0, abs=1e-10)
    assert perceptual_loss({"a": f}, {"a": shuffled}).item() > 0.1


# ---------------------------------------------------------------- optical flow


def _translating_video(dx: int, dy: int, t: int = 3, size: int = 24) -> torch.Tensor:
    """(1, 3, T, size, size) whose content moves by (dx, dy) pixels per frame, cropped from a canvas."""
    canvas = _rand(1, 3, size + 2 * t * abs(dy) + 1, size + 2 * t * abs(dx) + 1, seed=11)
    y0, x0 = t * abs(dy), t * abs(dx)
    frames = [
        canvas[:, :, y0 - k * dy : y0 - k * dy + size, x0 - k * dx : x0 - k * dx + size] for k in range(t)
    ]
    return torch.stack(frames, dim=2)


def test_flow_warp_with_zero_flow_is_identity() -> None:
    x = _rand(2, 3, 7, 9)
    torch.testing.assert_close(flow_warp(x, torch.zeros(2, 2, 7, 9)), x)


def test_flow_warp_samples_at_pixel_plus_flow() -> None:
    x = _rand(1, 2, 6, 9)
    flow = torch.zeros(1, 2, 6, 9)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # out(y, x) = in(y - 1, x + 2)
    out = flow_warp(x, flow)
    torch.testing.assert_close(out[:, :, 1:, :-2], x[:, :, :-1, 2:])


def test_flow_in_frame_mask_drops_pixels_entering_the_view() -> None:
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0] = 2.0
    mask = flow_in_frame_mask(flow)
    assert mask[..., :4].eq(1).all() and mask[..., 4:].eq(0).all()


def test_flow_consistency_loss_is_zero_for_correct_flow() -> None:
    video = _translating_video(dx=2, dy=1)
    # Content moves by (+2, +1): frame[t+1](p) = frame[t](p - (2, 1)), so the warp flow is (-2, -1).
    flow = torch.zeros(1, 2, 2, 24, 24)
    flow[:, 0], flow[:, 1] = -2.0, -1.0
    assert flow_consistency_loss(video, flow).item() == pytest.approx(0.0, abs=1e-6)
    assert flow_consistency_loss(video, torch.zeros_like(flow)).item() > 0.1
    assert flow_consistency_loss(video, -flow).item() > 0.1


def test_flow_consistency_loss_ignores_masked_pixels() -> None:
    video = _translating_video(dx=2, dy=0)
    zero = torch.zeros(1, 2, 2, 24, 24)
    assert flow_consistency_loss(video, zero, torch.zeros(1, 1, 2, 24, 24)).item() == 0.0


def test_flow_consistency_loss_rejects_single_frame() -> None:
    with pytest.raises(ValueError, match="T >= 2"):
        flow_consistency_loss(torch.zeros(1, 3, 1, 8, 8), torch.zeros(1, 2, 0, 8, 8))


def test_forward_backward_mask_accepts_consistent_and_rejects_inconsistent_flow() -> None:
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = -3.0
    assert forward_backward_mask(flow, -flow).eq(1).all()
    assert forward_backward_mask(flow, flow).eq(0).all()


# ---------------------------------------------------------------- config and the two-stage loss


def test_loss_config_defaults_are_valid() -> None:
    config = TokenizerLossConfig()
    assert config.l1 == 1.0 and config.flow > 0 and config.stage2_step > 0


@pytest.mark.parametrize(
    ("field", "value"), [("l1", -1.0), ("perceptual", float("nan")), ("gram", float("inf")), ("flow", "x")]
)
def test_loss_config_rejects_bad_weight_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TokenizerLossConfig(**{field: value})


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_loss_config_rejects_bad_stage2_step(value: object) -> None:
    with pytest.raises(ValueError, match="stage2_step"):
        TokenizerLossConfig(stage2_step=value)


def _video_pair(t: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    target = _translating_video(dx=1, dy=0, t=t, size=16)
    recon = (target + 0.1 * _rand(*target.shape, seed=12)).requires_grad_(True)
    flow = torch.zeros(1, 2, t - 1, 16, 16)
    flow[:, 0] = -1.0
    return recon, target, flow


def test_stage_one_is_l1_without_vgg() -> None:
    recon, target, flow = _video_pair()
    loss, logs = tokenizer_loss(recon, target, config=TokenizerLossConfig(stage2_step=10), step=0, flow=flow)
    assert set(logs) == {"loss/l1", "loss/total", "loss/stage"}
    assert logs["loss/stage"] == 1.0
    torch.testing.assert_close(loss, l1_loss(recon, target))


def test_stage_one_adds_perceptual_with_vgg(vgg: VGG19Features) -> None:
    recon, target, flow = _video_pair()
    config = TokenizerLossConfig(stage2_step=10)
    loss, logs = tokenizer_loss(recon, target, config=config, step=9, vgg=vgg, flow=flow)
    assert set(logs) == {"loss/l1", "loss/perceptual", "loss/total", "loss/stage"}
    expected = l1_loss(recon, target) + config.perceptual * perceptual_loss(vgg(recon), vgg(target))
    torch.testing.assert_close(loss, expected)


def test_stage_two_adds_flow_and_gram_terms(vgg: VGG19Features) -> None:
    recon, target, flow = _video_pair()
    config = TokenizerLossConfig(stage2_step=10)
    loss, logs = tokenizer_loss(recon, target, config=config, step=10, vgg=vgg, flow=flow)
    assert set(logs) == {"loss/l1", "loss/perceptual", "loss/gram", "loss/flow", "loss/total", "loss/stage"}
    assert logs["loss/stage"] == 2.0
    weighted = sum(
        getattr(config, name) * logs[f"loss/{name}"] for name in ("l1", "perceptual", "gram", "flow")
    )
    assert loss.item() == pytest.approx(weighted, rel=1e-5)
    assert logs["loss/total"] == pytest.approx(loss.item())


def test_images_skip_the_flow_term() -> None:
    recon, target, _ = _video_pair()
    recon, target = recon[:, :, :1], target[:, :, :1]
    _, logs = tokenizer_loss(recon, target, config=TokenizerLossConfig(stage2_step=0), step=0)
    assert "loss/flow" not in logs


def test_zero_weight_terms_are_not_computed(vgg: VGG19Features) -> None:
    recon, target, flow = _video_pair()
    config = TokenizerLossConfig(perceptual=0.0, gram=0.0, flow=0.0, ssim=0.5, stage2_step=0)
    _, logs = tokenizer_loss(recon, target, config=config, step=0, vgg=vgg, flow=flow)
    assert set(logs) == {"loss/l1", "loss/ssim", "loss/total", "loss/stage"}
    assert logs["loss/ssim"] == pytest.approx(1 - ssim(recon, target).item(), rel=1e-5)


def test_tokenizer_loss_backpropagates_to_recon_only(vgg: VGG19Features) -> None:
    recon, target, flow = _video_pair()
    loss, _ = tokenizer_loss(
        recon, target, config=TokenizerLossConfig(stage2_step=0), step=0, vgg=vgg, flow=flow
    )
    loss.backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_mse_term_is_the_mean_squared_pixel_error_and_can_replace_l1() -> None:
    torch.manual_seed(0)
    recon, target = torch.rand(2, 3, 1, 16, 16) * 2 - 1, torch.rand(2, 3, 1, 16, 16) * 2 - 1
    config = TokenizerLossConfig(l1=0.0, mse=2.0, perceptual=0.0, flow=0.0, gram=0.0)
    loss, logs = tokenizer_loss(recon, target, config=config, step=0)
    torch.testing.assert_close(loss, 2.0 * ((recon - target) ** 2).mean())
    assert "loss/l1" not in logs and "loss/mse" in logs

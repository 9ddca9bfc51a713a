import pytest
import torch

from worldmodel.metrics import ssim
from worldmodel.tokenizer.flow_loss import (
    flow_consistency_loss,
    flow_in_frame_mask,
    flow_warp,
    forward_backward_mask,
)
from worldmodel.tokenizer.losses import TokenizerLossConfig, l1_loss, tokenizer_loss
from worldmodel.tokenizer.vgg import VGG19Features, gram_loss, gram_matrix, perceptual_loss


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    torch.manual_seed(0)
    return VGG19Features(("relu1_2", "relu2_2")).requires_grad_(False).eval()


# ---------------------------------------------------------------- pixel losses


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

"""The tokenizer's fast paths compute what the plain layers compute (issue 29)."""

import pytest
import torch
import torch.nn.functional as F

from worldmodel import precision
from worldmodel.tokenizer.layers3d import CausalConv3d, nearest_up_conv


def test_nearest_up_conv_equals_upsampling_then_convolving() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(6, 5, (1, 3, 3), padding=(0, 1, 1))
    x = torch.randn(2, 6, 3, 4, 5)
    up = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
    torch.testing.assert_close(nearest_up_conv(x, conv), conv(up), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frames", [1, 2, 3, 6])
def test_temporal_conv_at_video_start_equals_conv3d_of_frame0_padding(frames: int) -> None:
    torch.manual_seed(0)
    layer = CausalConv3d(4, 3, (3, 1, 1))
    x = torch.randn(2, 4, frames, 3, 3)
    padded = torch.cat([x[:, :, :1], x[:, :, :1], x], 2)
    torch.testing.assert_close(layer(x), layer.conv(padded), atol=1e-5, rtol=1e-5)


def test_folded_kernels_follow_changed_weights_in_inference() -> None:
    torch.manual_seed(0)
    layer = CausalConv3d(4, 3, (3, 1, 1))
    x = torch.randn(1, 4, 5, 2, 2)
    with torch.inference_mode():
        layer(x)  # fills the cache
    with torch.no_grad():
        layer.conv.weight.mul_(2)
    with torch.inference_mode():
        out = layer(x)
    padded = torch.cat([x[:, :, :1], x[:, :, :1], x], 2)
    torch.testing.assert_close(out, layer.conv(padded).detach(), atol=1e-5, rtol=1e-5)


def test_bf16_autocast_refuses_a_cpu_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "bf16_is_fast", lambda device: (False, "a CPU without native bf16 units"))
    with pytest.raises(ValueError, match="not native .* use fp32"):
        precision.bf16_autocast("cpu")

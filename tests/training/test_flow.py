import cv2
import numpy as np
import pytest
import torch

from training.flow import estimate_flow, estimate_flow_with_mask
from worldmodel.tokenizer.flow_loss import flow_warp

DX, DY = 3, 2  # content motion per frame, pixels


@pytest.fixture(scope="module")
def translating_video() -> np.ndarray:
    """uint8 (3, 64, 64, 3) of a smooth random texture moving by (+DX, +DY) per frame."""
    rng = np.random.default_rng(0)
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (96, 96, 3)).astype(np.float32), (0, 0), 2.0)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    y0, x0 = 16, 16
    return np.stack(
        [canvas[y0 - k * DY : y0 - k * DY + 64, x0 - k * DX : x0 - k * DX + 64] for k in range(3)]
    )


def _to_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float()  # (1, 3, H, W)


def test_estimate_flow_points_from_next_frame_into_previous(translating_video: np.ndarray) -> None:
    flow = estimate_flow(translating_video)
    assert flow.shape == (2, 2, 64, 64) and flow.dtype == np.float32
    # frame[t+1](p) = frame[t](p - (DX, DY)): the warp flow is -(DX, DY).
    inner = flow[:, :, 8:-8, 8:-8]
    assert np.median(inner[:, 0]) == pytest.approx(-DX, abs=0.25)
    assert np.median(inner[:, 1]) == pytest.approx(-DY, abs=0.25)


def test_flow_warp_with_estimated_flow_reproduces_next_frame(translating_video: np.ndarray) -> None:
    flow = estimate_flow(translating_video)
    for t in range(2):
        prev, nxt = _to_tensor(translating_video[t]), _to_tensor(translating_video[t + 1])
        warped = flow_warp(prev, torch.from_numpy(flow[t])[None])
        crop = (..., slice(8, -8), slice(8, -8))  # pixels that entered the view have no source
        warp_err = (warped - nxt)[crop].abs().mean().item()
        no_warp_err = (prev - nxt)[crop].abs().mean().item()
        assert warp_err < 0.2 * no_warp_err


def test_forward_backward_mask_trusts_a_pure_translation(translating_video: np.ndarray) -> None:
    flow, mask = estimate_flow_with_mask(translating_video)
    assert mask.shape == (2, 1, 64, 64) and mask.dtype == np.float32
    np.testing.assert_array_equal(flow, estimate_flow(translating_video))
    assert mask[:, :, 8:-8, 8:-8].mean() > 0.95


def test_estimate_flow_rejects_float_video() -> None:
    with pytest.raises(ValueError, match="uint8"):
        estimate_flow(np.zeros((2, 8, 8, 3), dtype=np.float32))

"""Optical flow of target videos for the stage-2 flow loss (OpenCV DIS, Kroeger et al. ECCV 2016).

The flow is computed once per clip from the *target* uint8 frames, outside the
loss, in the convention of ``worldmodel.tokenizer.flow_loss``: ``flow[t]``
lives on the pixel grid of frame t+1 and points into frame t, so

    frame[t + 1](x, y) ~= frame[t](x + dx, y + dy)   and
    flow_warp(frame[t], flow[t]) ~= frame[t + 1].

OpenCV's ``calc(I0, I1)`` returns the flow with ``I0(p) ~= I1(p + flow(p))``,
so this is ``calc(frame[t + 1], frame[t])``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from worldmodel.tokenizer.flow_loss import forward_backward_mask


def _check_video(video: np.ndarray) -> None:
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] < 1:
        raise ValueError(f"expected a uint8 video (T, H, W, 3), got {video.dtype} {video.shape}")


def _pair_flows(video: np.ndarray, *, reverse: bool) -> np.ndarray:
    """DIS flow for each consecutive pair: ``(T-1, 2, H, W)`` float32.

    reverse=False: on frame t+1's grid into frame t (the warp convention);
    reverse=True: on frame t's grid into frame t+1.
    """
    _check_video(video)
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    _, h, w, _ = video.shape
    out = np.empty((len(gray) - 1, 2, h, w), dtype=np.float32)
    for t in range(len(gray) - 1):
        first, second = (gray[t], gray[t + 1]) if reverse else (gray[t + 1], gray[t])
        out[t] = dis.calc(first, second, None).transpose(2, 0, 1)  # (H, W, 2) -> (2, H, W)
    return out


def estimate_flow(video: np.ndarray) -> np.ndarray:
    """Flow that warps each frame onto the next (see the module docstring).

    Args:
        video: uint8 ``(T, H, W, 3)`` RGB.

    Returns:
        float32 ``(T-1, 2, H, W)`` in pixels, channels (dx, dy).
    """
    return _pair_flows(video, reverse=False)


def estimate_flow_with_mask(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``estimate_flow`` plus its forward-backward consistency (occlusion) mask.

    Args:
        video: uint8 ``(T, H, W, 3)`` RGB.

    Returns:
        (flow float32 ``(T-1, 2, H, W)``, mask float32 ``(T-1, 1, H, W)``, 1 where the flow is trusted).
    """
    flow = _pair_flows(video, reverse=False)
    reverse = _pair_flows(video, reverse=True)
    mask = forward_backward_mask(torch.from_numpy(flow), torch.from_numpy(reverse))
    return flow, mask.numpy()

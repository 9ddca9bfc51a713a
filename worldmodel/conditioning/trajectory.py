"""Ego-trajectory conditioning for driving world models.

A trajectory is ``(T, 3)`` ego poses ``(x, y, yaw)`` on the ground plane (``trajectory.npy``).
What a camera on the car sees next depends on how the car moves relative to where it is, not on
world coordinates, so the model is conditioned on each step's motion in the ego frame of the
step's start: forward and leftward displacement and the change of heading.
"""

from __future__ import annotations

import numpy as np
import torch

TRAJECTORY_DIM = 3


def check_trajectory(trajectory: np.ndarray | torch.Tensor, name: str = "trajectory") -> None:
    """Raise a ValueError unless ``trajectory`` is (..., T, 3) finite poses with T >= 2."""
    shape = tuple(trajectory.shape)
    if len(shape) < 2 or shape[-1] != TRAJECTORY_DIM or shape[-2] < 2:
        raise ValueError(
            f"{name} must be (T, 3) ego poses (x, y, yaw) with T >= 2, one per frame, got shape {shape}"
        )
    finite = (
        torch.isfinite(trajectory).all()
        if isinstance(trajectory, torch.Tensor)
        else np.isfinite(trajectory).all()
    )
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or Inf values")


def ego_motion(trajectory: torch.Tensor) -> torch.Tensor:
    """Per-step ego motion (..., T - 1, 3) of poses (..., T, 3): row t is pose t+1 in the frame of pose t,
    ``(forward, left, wrap(yaw_{t+1} - yaw_t))``, like ``actions.npy``'s row t leads frame t to t+1."""
    start, end = trajectory[..., :-1, :], trajectory[..., 1:, :]
    dx, dy = end[..., 0] - start[..., 0], end[..., 1] - start[..., 1]
    cos, sin = torch.cos(start[..., 2]), torch.sin(start[..., 2])
    dyaw = torch.remainder(end[..., 2] - start[..., 2] + torch.pi, 2 * torch.pi) - torch.pi
    return torch.stack([cos * dx + sin * dy, -sin * dx + cos * dy, dyaw], dim=-1)

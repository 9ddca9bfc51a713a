"""The one rule that turns a window's actions / camera poses / trajectory into a world model's inputs.

A window is ``context + 1`` latent frames: the given context and the frame to predict. Training
(``training.train_wfm``) applies the rule to every window of a batch; ``WorldModel`` applies it to
each step of a rollout, so the model sees at inference exactly what it was trained on:

- only the step *into the predicted frame* conditions it (its action, relative pose or ego
  motion); the context frames' rows are zero, because inference knows no earlier ones;
- camera poses are taken relative to the last context camera, as Plücker maps per latent cell
  (``camera_features``) and, with ``pose_std``, as relative pose vectors in the action input;
- a trajectory becomes the ego motion into each frame (``ego_motion``) in the action input.

Statistics are applied in float64 and the results cast to float32 at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.conditioning.camera import camera_features, relative_pose_vectors
from worldmodel.conditioning.trajectory import ego_motion


@dataclass(frozen=True)
class WindowConditioning:
    """How a window's camera and trajectory arrays become model inputs."""

    camera_stride: int = 0
    """> 0: Plücker maps at the centres of this many pixels per latent cell"""
    image_size: tuple[int, int] = (64, 64)
    """the frames' (H, W), which the intrinsics refer to"""
    camera_scale: tuple[float, ...] | None = None
    """per-channel std of the camera features (``camera_features``' scale)"""
    pose_std: tuple[float, ...] | None = None
    """per-component std of the relative pose vectors; set: they are the action input"""
    trajectory_std: tuple[float, ...] | None = None
    """per-component std of the ego motion; set: the ego motion, divided by it, is the action input"""


def window_conditioning(
    rule: WindowConditioning,
    context: int,
    *,
    actions: torch.Tensor | None = None,
    camera: torch.Tensor | None = None,
    intrinsics: torch.Tensor | None = None,
    trajectory: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(actions, camera)`` model inputs of windows of ``context + 1`` frames.

    Args:
        rule: the statistics and sizes of this model's conditioning.
        context: given frames per window; the rest are predicted.
        actions: (B, K+1, A) robot actions, row i leads into frame i.
        camera: (B, K+1, 4, 4) camera-to-world poses; intrinsics: (B, K+1, 3, 3) in pixels.
        trajectory: (B, K+1, 3) ego poses (x, y, yaw).
    Returns:
        the action input (B, K+1, A) with zero context rows, or None; the camera maps
        (B, 6, K+1, h, w) relative to the last context camera, or None.
    """
    action_input = camera_maps = None
    if actions is not None:
        action_input = actions.clone()
    if camera is not None and rule.camera_stride:
        poses = camera.double()
        scale = rule.camera_scale
        camera_maps = camera_features(
            poses,
            intrinsics.double(),
            poses[:, context - 1],
            image_size=rule.image_size,
            stride=rule.camera_stride,
            scale=torch.tensor(scale, dtype=torch.float64) if scale is not None else None,
        ).float()  # (B, 6, K+1, h, w)
    if camera is not None and rule.pose_std is not None:
        vectors = relative_pose_vectors(camera.double(), intrinsics.double(), context - 1)  # (B, K+1, 10)
        action_input = (vectors / vectors.new_tensor(rule.pose_std)).float()
    if trajectory is not None and rule.trajectory_std is not None:
        motion = ego_motion(trajectory.double())  # (B, K, 3): row i leads frame i to i+1
        motion = (motion / motion.new_tensor(rule.trajectory_std)).float()
        action_input = torch.cat([torch.zeros_like(motion[:, :1]), motion], dim=1)  # row i leads into frame i
    if action_input is not None:
        # Only the step into the predicted frame conditions it: inference knows no earlier ones.
        action_input[:, :context] = 0
    return action_input, camera_maps


def context_mask(batch: int, frames: int, context: int, device: torch.device | None = None) -> torch.Tensor:
    """(B, frames) bool: True on the first ``context`` (given) frames of each window."""
    return (torch.arange(frames, device=device) < context).expand(batch, -1)

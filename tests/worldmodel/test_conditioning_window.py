"""window_conditioning: one rule for a window's actions / camera / trajectory, in training and inference."""

import math

import torch

from worldmodel.conditioning.camera import camera_features, relative_pose_vectors
from worldmodel.conditioning.trajectory import ego_motion
from worldmodel.conditioning.window import WindowConditioning, context_mask, window_conditioning

K = 2  # context frames; windows are K + 1 frames


def _turn(yaw: float, centre: tuple[float, float, float]) -> torch.Tensor:
    """A camera-to-world pose rotated by ``yaw`` about the y axis, at ``centre``."""
    c, s = math.cos(yaw), math.sin(yaw)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    pose[:3, 3] = torch.tensor(centre, dtype=torch.float64)
    return pose


def _orbit(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses (1, frames, 4, 4) of a camera circling a point, and intrinsics (1, frames, 3, 3)."""
    poses = torch.stack(
        [_turn(0.1 * i, (math.sin(0.1 * i), 0.05 * i, math.cos(0.1 * i))) for i in range(frames)]
    )
    k = torch.tensor([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]], dtype=torch.float64)
    return poses[None], k.expand(1, frames, 3, 3)


def test_only_the_action_into_the_predicted_frame_conditions_it() -> None:
    actions = torch.randn(2, K + 1, 4)
    out, camera = window_conditioning(WindowConditioning(), K, actions=actions)
    assert camera is None and torch.equal(out[:, :K], torch.zeros(2, K, 4))
    assert torch.equal(out[:, K], actions[:, K])
    assert not torch.equal(actions[:, :K], torch.zeros(2, K, 4))  # the caller's tensor is left alone


def test_trajectory_input_is_the_normalised_ego_motion_into_the_predicted_frame() -> None:
    trajectory = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [1.5, 1.0, 1.0]]], dtype=torch.float64)
    std = (2.0, 0.5, 0.25)
    out, _ = window_conditioning(WindowConditioning(trajectory_std=std), K, trajectory=trajectory)
    expected = (ego_motion(trajectory)[:, -1] / torch.tensor(std, dtype=torch.float64)).float()
    assert out.dtype == torch.float32 and torch.equal(out[:, :K], torch.zeros(1, K, 3))
    assert torch.equal(out[:, K], expected)


def test_a_rollout_step_sees_what_the_training_window_at_that_offset_sees() -> None:
    # Inference slides a window along one long clip; training cuts the same windows from shards.
    poses, intrinsics = _orbit(K + 4)
    rule = WindowConditioning(camera_stride=8, image_size=(64, 64), pose_std=(0.5,) * 10)
    for i in range(4):
        window = slice(i, i + K + 1)
        actions, camera = window_conditioning(
            rule, K, camera=poses[:, window].clone(), intrinsics=intrinsics[:, window].clone()
        )
        expected = relative_pose_vectors(poses[:, window], intrinsics[:, window], K - 1)[:, K] / 0.5
        torch.testing.assert_close(actions[:, K], expected.float(), rtol=0, atol=0)
        reference = camera_features(
            poses[:, window], intrinsics[:, window], poses[:, i + K - 1], image_size=(64, 64), stride=8
        )
        assert torch.equal(camera, reference.float())


def test_camera_inputs_do_not_depend_on_world_coordinates() -> None:
    poses, intrinsics = _orbit(K + 1)
    moved = _turn(1.3, (5.0, -2.0, 3.0)) @ poses  # the same motion, elsewhere in the world
    rule = WindowConditioning(camera_stride=8, image_size=(64, 64), pose_std=(1.0,) * 10)
    a = window_conditioning(rule, K, camera=poses, intrinsics=intrinsics)
    b = window_conditioning(rule, K, camera=moved, intrinsics=intrinsics)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)


def test_context_mask_marks_the_first_frames_of_every_window() -> None:
    assert context_mask(2, K + 1, K).tolist() == [[True, True, False]] * 2

"""Plücker rays, relative poses and ego motion against hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from worldmodel.conditioning.camera import (
    cell_centres,
    check_rigid,
    plucker_map,
    plucker_rays,
    relative_poses,
)
from worldmodel.conditioning.trajectory import ego_motion


def _pose(rotation: np.ndarray, centre: tuple[float, float, float]) -> torch.Tensor:
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = torch.from_numpy(rotation)
    pose[:3, 3] = torch.tensor(centre, dtype=torch.float64)
    return pose


def test_plucker_rays_match_a_hand_computed_case() -> None:
    # Camera at (1, 2, 3) looking down +z (identity rotation), f = 2, principal point (1, 1).
    pose = _pose(np.eye(3), (1.0, 2.0, 3.0))
    k = torch.tensor([[2.0, 0, 1], [0, 2.0, 1], [0, 0, 1]], dtype=torch.float64)
    pixels = torch.tensor([[[1.0, 1.0], [3.0, 1.0]]], dtype=torch.float64)  # centre and 2 px right
    rays = plucker_rays(pose, k, pixels)  # (6, 1, 2)
    # Centre pixel: d = (0, 0, 1); m = o x d = (2*1 - 3*0, 3*0 - 1*1, 0) = (2, -1, 0).
    np.testing.assert_allclose(rays[:, 0, 0].numpy(), [0, 0, 1, 2, -1, 0], atol=1e-12)
    # Pixel (3, 1): K^-1 (3, 1, 1) = (1, 0, 1) -> d = (1, 0, 1)/sqrt2; m = (1,2,3) x d.
    s = 1 / math.sqrt(2)
    d = np.array([s, 0, s])
    np.testing.assert_allclose(rays[:3, 0, 1].numpy(), d, atol=1e-12)
    np.testing.assert_allclose(rays[3:, 0, 1].numpy(), np.cross([1.0, 2.0, 3.0], d), atol=1e-12)


def test_plucker_moment_is_the_same_anywhere_along_the_ray() -> None:
    k = torch.tensor([[30.0, 0, 15.5], [0, 30.0, 15.5], [0, 0, 1]], dtype=torch.float64)
    pixels = cell_centres(32, 32, 8, dtype=torch.float64)
    near = _pose(np.eye(3), (0.0, 0.0, 0.0))
    rays = plucker_rays(near, k, pixels)
    # Moving the camera along the centre ray... changes only rays that do not pass through both centres:
    # instead check the defining property d . m = 0 for every ray and |d| = 1.
    d, m = rays[:3], rays[3:]
    np.testing.assert_allclose((d * m).sum(0).numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(d.norm(dim=0).numpy(), 1, atol=1e-12)
    shifted = _pose(np.eye(3), (0.0, 0.0, 5.0))  # along the optical axis
    centre = torch.tensor([[[15.5, 15.5]]], dtype=torch.float64)
    np.testing.assert_allclose(
        plucker_rays(shifted, k, centre).numpy(), plucker_rays(near, k, centre).numpy(), atol=1e-12
    )


def test_cell_centres_sit_at_the_middle_of_each_latent_cell() -> None:
    grid = cell_centres(16, 24, 8)
    assert grid.shape == (2, 3, 2)
    np.testing.assert_allclose(grid[0, 0].numpy(), [3.5, 3.5])  # pixels 0..7 -> centre 3.5
    np.testing.assert_allclose(grid[1, 2].numpy(), [19.5, 11.5])


def test_relative_poses_make_the_reference_the_identity() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    reference = _pose(q, (1.0, -2.0, 0.5))
    other = _pose(np.eye(3), (0.0, 1.0, 2.0))
    rel = relative_poses(torch.stack([reference, other]), reference)
    np.testing.assert_allclose(rel[0].numpy(), np.eye(4), atol=1e-12)
    np.testing.assert_allclose((reference @ rel[1]).numpy(), other.numpy(), atol=1e-12)


def test_plucker_map_of_the_reference_frame_is_independent_of_world_coordinates() -> None:
    k = torch.tensor([[20.0, 0, 15.5], [0, 20.0, 15.5], [0, 0, 1]], dtype=torch.float64)
    a = _pose(np.eye(3), (0.0, 0.0, 0.0))
    b = _pose(np.eye(3), (0.3, 0.0, 0.0))
    world_shift = _pose(np.eye(3), (10.0, -4.0, 2.0))
    poses = torch.stack([a, b])[None]
    shifted = (world_shift @ torch.stack([a, b]))[None]
    m1 = plucker_map(poses, k[None], poses[:, 0], image_size=(32, 32), stride=8)
    m2 = plucker_map(shifted, k[None], shifted[:, 0], image_size=(32, 32), stride=8)
    assert m1.shape == (1, 6, 2, 4, 4)
    torch.testing.assert_close(m1, m2)


def test_check_rigid_names_the_problem() -> None:
    good = torch.eye(4).repeat(3, 1, 1)
    check_rigid(good)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, 4\)"):
        check_rigid(torch.eye(3))
    bad = good.clone()
    bad[1, 3, 0] = 1
    with pytest.raises(ValueError, match=r"camera\[1\].*last row"):
        check_rigid(bad)
    bad = good.clone()
    bad[2, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"camera\[2\].*not orthonormal"):
        check_rigid(bad)
    bad = good.clone()
    bad[0, :3, :3] = torch.diag(torch.tensor([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="reflection"):
        check_rigid(bad)
    bad = good.clone()
    bad[0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        check_rigid(bad)


def test_ego_motion_is_each_step_in_the_frame_of_its_start() -> None:
    # Facing +y (yaw 90 deg): moving to +y is forward; then turning left by 0.2 rad in place.
    trajectory = torch.tensor(
        [[0.0, 0.0, math.pi / 2], [0.0, 1.0, math.pi / 2], [0.0, 1.0, math.pi / 2 + 0.2]]
    )
    motion = ego_motion(trajectory)
    np.testing.assert_allclose(motion.numpy(), [[1.0, 0.0, 0.0], [0.0, 0.0, 0.2]], atol=1e-6)
    # Headings wrap: from +179 deg to -179 deg is +2 deg, not -358.
    wrap = torch.tensor([[0.0, 0.0, math.radians(179)], [0.0, 0.0, math.radians(-179)]])
    np.testing.assert_allclose(ego_motion(wrap)[0, 2].item(), math.radians(2), atol=1e-6)


def test_relative_pose_vectors_match_a_hand_computed_case() -> None:
    from worldmodel.conditioning.camera import relative_pose_vectors

    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about z
    reference = _pose(np.eye(3), (1.0, 0.0, 0.0))
    moved = _pose(quarter, (1.0, 2.0, 0.0))
    poses = torch.stack([reference, moved])[None]
    k = torch.tensor([[10.0, 0, 5], [0, 10.0, 5], [0, 0, 1]], dtype=torch.float64)
    intrinsics = torch.stack([k, k * torch.tensor([[2.0], [2.0], [1.0]], dtype=torch.float64)])[None]
    vectors = relative_pose_vectors(poses, intrinsics, reference=0)
    assert vectors.shape == (1, 2, 10)
    np.testing.assert_allclose(vectors[0, 0].numpy(), 0, atol=1e-12)  # the reference itself
    # Rotation columns 1 and 2 minus the identity's: (0,1,0)-(1,0,0) and (-1,0,0)-(0,1,0).
    np.testing.assert_allclose(vectors[0, 1, :6].numpy(), [-1, 1, 0, -1, -1, 0], atol=1e-12)
    np.testing.assert_allclose(vectors[0, 1, 6:9].numpy(), [0, 2, 0], atol=1e-12)  # translation
    np.testing.assert_allclose(vectors[0, 1, 9].item(), math.log(2), atol=1e-12)  # zoom x2

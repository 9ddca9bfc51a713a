"""Camera paths and drives of the Generate tab against the simulators that define them."""

import numpy as np
import pytest

from app.web.controls import (
    camera_actions,
    camera_path,
    drive_actions,
    driving_rollout,
    relative_to_first,
    upload_start,
)
from envs.driving_world_env import CRUISE_ACTION, ego_trajectory
from envs.sim.camera_paths import MOTIONS
from envs.sim.driving import DrivingSimEnv
from envs.sim.orbit import OrbitSimEnv


def test_camera_path_poses_are_the_orbit_simulators_own() -> None:
    env = OrbitSimEnv(height=24, width=32)
    _, info = env.reset(seed=3)
    start, cameras, intrinsics = env.state, [info["camera"]], [info["intrinsics"]]
    actions = np.concatenate([camera_actions("orbit_right", 0.7, 2), camera_actions("zoom_in", 1.0, 2)])
    for action in actions:
        info = env.step(action)[-1]
        cameras.append(info["camera"])
        intrinsics.append(info["intrinsics"])
    env.close()
    poses, k = camera_path(start, actions, (24, 32))
    np.testing.assert_allclose(poses, np.stack(cameras), atol=1e-4)
    np.testing.assert_allclose(k, np.stack(intrinsics), rtol=1e-5)


def test_every_motion_moves_one_axis_at_the_requested_speed() -> None:
    for motion in MOTIONS:
        actions = camera_actions(motion, 0.4, 3)
        assert actions.shape == (3, 5)
        moving = actions != 0
        assert moving.sum(axis=1).tolist() == [0 if motion == "static" else 1] * 3, motion
        np.testing.assert_allclose(np.abs(actions[moving]), 0.4, rtol=1e-6)
    with pytest.raises(ValueError, match="speed"):
        camera_actions("pan_left", 0.0, 3)


def test_uploaded_image_path_starts_at_identity_with_the_models_field_of_view() -> None:
    k = np.array([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    poses, intrinsics = camera_path(upload_start(k, 32), camera_actions("dolly_in", 1.0, 3), (32, 32))
    poses = relative_to_first(poses)
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(intrinsics[0], k, rtol=1e-9)
    # Dollying in moves along the camera's own viewing direction: +z in OpenCV axes.
    np.testing.assert_allclose(poses[1:, :2, 3], 0, atol=1e-9)
    assert np.all(np.diff(poses[:, 2, 3]) > 0)


def test_lane_change_left_ends_on_the_start_heading_further_left() -> None:
    actions = drive_actions("lane change left", 0.3, 0.0, 10)
    path, _ = ego_trajectory(np.zeros((2, 3)), 8.0, actions)
    assert path.shape == (2 + 10, 3)
    assert path[-1, 0] > 5 and path[-1, 1] > 0.1  # forward, then to the left (+y)
    assert abs(path[-1, 2]) < 0.02 * abs(path[:, 2]).max() + 1e-3  # heading back to straight
    right, _ = ego_trajectory(np.zeros((2, 3)), 8.0, drive_actions("lane change right", 0.3, 0.0, 10))
    np.testing.assert_allclose(right[:, 1], -path[:, 1], atol=1e-9)


def test_driving_rollout_follows_the_same_bicycle_model() -> None:
    actions = drive_actions("constant", 0.4, 0.5, 3)
    rollout = driving_rollout(0, 16, 2, actions)
    assert set(rollout.context) == {"left", "front", "right"}
    assert rollout.context["front"].shape == (2, 16, 16, 3) and rollout.true["left"].shape == (3, 16, 16, 3)
    path, speed = ego_trajectory(rollout.poses, rollout.speed, actions)
    assert path.shape == (5, 3) and path[-1, 2] > path[1, 2]  # + steer turns left
    # The simulator, driven the same way, ends where the integrated drive says.
    env = DrivingSimEnv(size=16)
    env.reset(seed=0)
    for action in [CRUISE_ACTION, *actions]:
        info = env.step(action)[-1]
    env.close()
    np.testing.assert_allclose(info["pose"], path[-1], atol=1e-5)
    assert info["speed"] == pytest.approx(speed, abs=1e-5)

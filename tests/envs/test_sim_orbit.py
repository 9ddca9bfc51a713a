"""Tests for the camera-motion simulator ``envs.sim.orbit``."""

from __future__ import annotations

# envs picks MuJoCo's headless GL backend, which only works before mujoco is imported.
import envs  # noqa: F401

# isort: split
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.sim.camera_paths import MOTIONS, motion_actions
from envs.sim.orbit import SCENE_CENTRE, OrbitSimEnv, generate_episodes


def test_orbit_env_passes_check_env() -> None:
    env = OrbitSimEnv(height=32)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_orbit_episodes_have_documented_shapes_and_dtypes() -> None:
    episodes = list(generate_episodes(2, size=32, seed=0, frames_per_episode=6))
    assert [e.episode_id for e in episodes] == ["orbit-s0-e000000", "orbit-s0-e000001"]
    for ep in episodes:
        assert ep.source == "orbit" and ep.fps == 24
        assert ep.frames["main"].shape == (6, 32, 32, 3) and ep.frames["main"].dtype == np.uint8
        assert ep.arrays["camera"].shape == (6, 4, 4) and ep.arrays["camera"].dtype == np.float32
        assert ep.arrays["intrinsics"].shape == (6, 3, 3) and ep.arrays["intrinsics"].dtype == np.float32
        assert ep.arrays["actions"].shape == (5, 5) and ep.arrays["actions"].dtype == np.float32
        assert ep.meta["motion"] in MOTIONS
        assert ep.meta["num_objects"] == len(ep.meta["objects"]) >= 1
        assert set(ep.meta["intrinsics"]) == {"fx", "fy", "cx", "cy", "width", "height"}
        assert ep.meta["intrinsics"]["fx"] == pytest.approx(float(ep.arrays["intrinsics"][0, 0, 0]))
        assert ep.meta["caption"].endswith(".") and "camera" in ep.meta["caption"]


def test_orbit_same_seed_same_frames() -> None:
    a = next(generate_episodes(1, size=24, seed=5, frames_per_episode=4))
    b = next(generate_episodes(1, size=24, seed=5, frames_per_episode=4))
    c = next(generate_episodes(1, size=24, seed=6, frames_per_episode=4))
    np.testing.assert_array_equal(a.frames["main"], b.frames["main"])
    np.testing.assert_array_equal(a.arrays["camera"], b.arrays["camera"])
    assert not np.array_equal(a.frames["main"], c.frames["main"])


def test_orbit_cameras_are_rigid_transforms() -> None:
    for ep in generate_episodes(3, size=16, seed=1, frames_per_episode=8):
        c2w = ep.arrays["camera"].astype(np.float64)
        rot = c2w[:, :3, :3]
        np.testing.assert_allclose(
            rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5
        )
        np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
        np.testing.assert_array_equal(c2w[:, 3], np.broadcast_to([0, 0, 0, 1], (8, 4)))


def _isolate_marker(env: OrbitSimEnv, marker: np.ndarray) -> int:
    """Turn ``obj0`` into a sphere at ``marker`` and hide the other objects below the floor.

    The sphere spans a few pixels so its blob centroid is precise to a fraction of a pixel,
    which tells a half-pixel error in the principal point from a correct one.
    """
    model = env.model
    marker_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "obj0")
    for g in range(model.ngeom):
        if mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g).startswith("obj"):
            model.geom_pos[g] = (0.0, 0.0, -50.0)
    model.geom_type[marker_id] = mujoco.mjtGeom.mjGEOM_SPHERE
    model.geom_size[marker_id] = (0.1, 0.0, 0.0)
    model.geom_pos[marker_id] = marker
    return marker_id


@pytest.mark.parametrize("motion", ["orbit_left", "zoom_in", "dolly_out"])
def test_orbit_camera_projects_world_point_onto_rendered_pixel(motion: str) -> None:
    """A marker projected with camera.npy + intrinsics lands on its blob in the rendered frame.

    The blob comes from segmentation rendering of the env's own model, data and camera;
    the same renderer's RGB image is checked to be the env's observation.
    """
    height, width = 72, 96
    marker = SCENE_CENTRE + np.array([0.5, -0.4, 0.3])
    env = OrbitSimEnv(height=height, width=width)
    seg = None
    try:
        env.reset(seed=3)
        marker_id = _isolate_marker(env, marker)
        seg = mujoco.Renderer(env.model, height, width)
        obs, _, _, _, _ = env.step(np.zeros(5))
        seg.update_scene(env.data, camera=0)
        np.testing.assert_array_equal(seg.render(), obs)
        seg.enable_segmentation_rendering()
        actions = motion_actions(motion, 24, np.random.default_rng(0), env.state)
        errors = []
        for action in [np.zeros(5), *actions]:
            _, _, _, _, info = env.step(action)
            seg.update_scene(env.data, camera=0)
            ids = seg.render()
            mask = (ids[..., 0] == marker_id) & (ids[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)
            rows, cols = np.nonzero(mask)
            if len(rows) == 0 or rows.min() == 0 or cols.min() == 0:
                continue
            if rows.max() == height - 1 or cols.max() == width - 1:
                continue
            x, y, z = (np.linalg.inv(info["camera"].astype(np.float64)) @ np.append(marker, 1.0))[:3]
            k = info["intrinsics"]
            u, v = k[0, 0] * x / z + k[0, 2], k[1, 1] * y / z + k[1, 2]
            errors.append((u - cols.mean(), v - rows.mean()))
        errors = np.abs(np.array(errors))
        assert len(errors) >= 10
        assert errors.max() <= 1.0 and errors.mean() <= 0.25, errors
    finally:
        if seg is not None:
            seg.close()
        env.close()


def _yaw(c2w: np.ndarray) -> float:
    forward = c2w[:3, 2]
    return float(np.degrees(np.arctan2(forward[1], forward[0])))


@pytest.mark.parametrize("motion", MOTIONS)
def test_orbit_motion_label_matches_camera_change(motion: str) -> None:
    ep = next(generate_episodes(1, size=16, seed=2, frames_per_episode=10, motions=(motion,)))
    cam = ep.arrays["camera"].astype(np.float64)
    first, last = cam[0], cam[-1]
    move = last[:3, 3] - first[:3, 3]
    d_yaw = (_yaw(last) - _yaw(first) + 180.0) % 360.0 - 180.0
    d_pitch = np.degrees(np.arcsin(last[2, 2]) - np.arcsin(first[2, 2]))
    focal = ep.arrays["intrinsics"][:, 0, 0]
    still = np.linalg.norm(move) < 1e-5
    expected = {
        "orbit_left": np.dot(move, first[:3, 0]) < -0.05 and d_yaw < -1,
        "orbit_right": np.dot(move, first[:3, 0]) > 0.05 and d_yaw > 1,
        "dolly_in": np.dot(move, first[:3, 2]) > 0.05,
        "dolly_out": np.dot(move, first[:3, 2]) < -0.05,
        # Yaw is counter-clockwise seen from above (z up), so turning left raises it.
        "pan_left": still and d_yaw > 1,
        "pan_right": still and d_yaw < -1,
        "tilt_up": still and d_pitch > 0.5,
        "tilt_down": still and d_pitch < -0.5,
        "zoom_in": still and focal[-1] > focal[0] * 1.02,
        "zoom_out": still and focal[-1] < focal[0] / 1.02,
        "static": still and np.allclose(cam, first) and np.allclose(focal, focal[0]),
    }[motion]
    assert expected, (motion, move, d_yaw, d_pitch, focal[[0, -1]])

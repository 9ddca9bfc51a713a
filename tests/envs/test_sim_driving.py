"""Tests for the embedded driving simulator ``envs.sim.driving`` and its scenes ``envs.sim.road_scene``."""

from __future__ import annotations

# envs picks MuJoCo's headless GL backend, which only works before mujoco is imported.
import envs  # noqa: F401

# isort: split
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.sim.camera_paths import opencv_from_mujoco
from envs.sim.driving import (
    DT,
    MANEUVERS,
    DrivingSimEnv,
    DrivingWorld,
    bicycle_step,
    boxes_overlap,
    ego_to_world,
    generate_episodes,
    wrap_angle,
)
from envs.sim.road_scene import VIEWS, Road, camera_to_ego, sample_scene

SIZE, FRAMES = 32, 8


@pytest.fixture(scope="module")
def episodes() -> list:
    return list(generate_episodes(2, size=SIZE, seed=0, frames_per_episode=FRAMES))


def test_driving_env_passes_check_env() -> None:
    env = DrivingSimEnv(size=SIZE, road_length=150.0)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_episodes_have_three_views_and_documented_arrays(episodes: list) -> None:
    assert [e.episode_id for e in episodes] == ["driving-s0-e000000", "driving-s0-e000001"]
    for ep in episodes:
        assert ep.source == "driving" and ep.fps == 10 and ep.primary_view == "front"
        assert set(ep.frames) == set(VIEWS) == {"front", "left", "right"}
        for frames in ep.frames.values():
            assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.dtype == np.uint8
            assert frames.std() > 5  # a rendered scene, not a blank buffer
        assert ep.arrays["trajectory"].shape == (FRAMES, 3) and ep.arrays["trajectory"].dtype == np.float32
        assert ep.arrays["actions"].shape == (FRAMES - 1, 2) and ep.arrays["actions"].dtype == np.float32
        assert ep.arrays["speed"].shape == (FRAMES,) and ep.arrays["speed"].dtype == np.float32
        assert np.abs(ep.arrays["actions"]).max() <= 1.0
        assert ep.meta["views"] == ["front", "left", "right"]
        assert ep.meta["backend"] == "embedded" and ep.meta["seed"] == 0
        assert ep.meta["maneuver"] in MANEUVERS and ep.meta["num_traffic"] >= 1
        assert ep.meta["caption"].startswith("Driving on a") and ep.meta["caption"].endswith(".")
        assert set(ep.meta["view_extrinsics"]) == set(VIEWS)
        assert ep.meta["intrinsics"]["width"] == ep.meta["intrinsics"]["height"] == SIZE
        # The three cameras look different ways, so they see different images.
        assert not np.array_equal(ep.frames["left"], ep.frames["right"])


def test_trajectory_follows_bicycle_model_of_recorded_actions(episodes: list) -> None:
    for ep in episodes:
        state = np.concatenate([ep.arrays["trajectory"], ep.arrays["speed"][:, None]], axis=1)
        for t, action in enumerate(ep.arrays["actions"]):
            predicted = bicycle_step(state[t], action, DT)
            np.testing.assert_allclose(predicted[:2], state[t + 1, :2], atol=1e-3)
            assert abs(wrap_angle(predicted[2] - state[t + 1, 2])) < 1e-4
            assert predicted[3] == pytest.approx(state[t + 1, 3], abs=1e-4)


def test_same_seed_gives_same_episodes_and_other_seed_differs(episodes: list) -> None:
    again = next(iter(generate_episodes(1, size=SIZE, seed=0, frames_per_episode=FRAMES)))
    for view in VIEWS:
        np.testing.assert_array_equal(again.frames[view], episodes[0].frames[view])
    np.testing.assert_array_equal(again.arrays["actions"], episodes[0].arrays["actions"])
    other = next(iter(generate_episodes(1, size=SIZE, seed=1, frames_per_episode=FRAMES)))
    assert not np.array_equal(other.frames["front"], episodes[0].frames["front"])


def test_positive_steer_turns_left_and_negative_throttle_brakes_then_reverses() -> None:
    start = np.array([0.0, 0.0, 0.0, 5.0])
    left = bicycle_step(start, np.array([1.0, 0.0]))
    right = bicycle_step(start, np.array([-1.0, 0.0]))
    assert left[2] > 0 and left[1] > 0 and right[2] < 0 and right[1] < 0
    assert left[0] > 0  # still moving forward along +x
    state, speeds = start, []
    for _ in range(40):
        state = bicycle_step(state, np.array([0.0, -1.0]))
        speeds.append(state[3])
    stop = int(np.argmax(np.array(speeds) <= 0.0))
    assert speeds[stop] == 0.0  # braking stops exactly, never overshoots into reverse
    assert np.all(np.diff(speeds[: stop + 1]) < 0) and speeds[-1] < 0  # then it reverses
    assert speeds[-1] >= -3.0  # slowly: reverse speed is clamped


def test_speed_is_clamped_under_full_throttle() -> None:
    state = np.array([0.0, 0.0, 0.0, 0.0])
    for _ in range(200):
        state = bicycle_step(state, np.array([0.0, 1.0]))
    assert state[3] == pytest.approx(20.0)


def test_rig_extrinsics_match_the_rendered_cameras() -> None:
    world = DrivingWorld(sample_scene(np.random.default_rng(0), road_length=120.0), 16)
    try:
        world.step(np.array([0.5, 0.5]))
        world.render()  # poses the mocap bodies
        for view in VIEWS:
            expected = ego_to_world(world.ego[:3]) @ camera_to_ego(view)
            cam = world.data.camera(view)
            np.testing.assert_allclose(cam.xpos, expected[:3, 3], atol=1e-5)
            np.testing.assert_allclose(
                opencv_from_mujoco(cam.xmat.reshape(3, 3)), expected[:3, :3], atol=1e-5
            )
    finally:
        world.close()


def test_road_projection_inverts_pose_at() -> None:
    road = Road(((30.0, 0.0), (60.0, 1 / 90), (40.0, -1 / 120)), num_lanes=3)
    for s, d in [(5.0, 0.0), (45.0, 3.5), (80.0, -2.0), (120.0, 1.0)]:
        x, y, _ = road.pose_at(s, d)
        assert road.project(x, y) == pytest.approx((s, d), abs=0.02)
    assert [road.lane_of(float(road.lane_offset(i))) for i in range(3)] == [0, 1, 2]


def test_boxes_overlap_separates_nearby_cars() -> None:
    car = np.array([0.0, 0.0, 0.0])
    assert boxes_overlap(car, np.array([4.0, 0.5, 0.3]))
    assert not boxes_overlap(car, np.array([4.8, 0.0, 0.0]))  # bumper to bumper with a gap
    assert not boxes_overlap(car, np.array([0.0, 3.5, 0.0]))  # next lane
    assert boxes_overlap(car, np.array([0.0, 2.0, np.pi / 2]))  # crossing


def test_env_reset_same_seed_same_obs() -> None:
    env = DrivingSimEnv(size=SIZE, road_length=150.0)
    try:
        first, _ = env.reset(seed=5)
        second, info = env.reset(seed=5)
        np.testing.assert_array_equal(first, second)
        assert set(info["views"]) == set(VIEWS)
        np.testing.assert_array_equal(info["views"]["front"], second)
    finally:
        env.close()


def test_env_terminates_with_penalty_when_leaving_the_road() -> None:
    env = DrivingSimEnv(size=16, road_length=150.0, num_traffic=0)
    try:
        env.reset(seed=0)
        for _ in range(80):
            _, reward, terminated, truncated, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
            if terminated or truncated:
                break
        assert terminated and info["off_road"] and not info["collision"]
        assert reward < -5.0
    finally:
        env.close()


def test_env_terminates_on_collision_with_traffic() -> None:
    env = DrivingSimEnv(size=16, road_length=150.0, num_traffic=1)
    try:
        env.reset(seed=0)
        world = env.unwrapped.world
        s, d = world.road_coords()
        car = world.traffic[0]
        car.lane, car.s, car.speed, car.desired_speed = world.road.lane_of(d), s + 6.0, 0.0, 0.0
        _, reward, terminated, _, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        assert not terminated  # still 1.5 m apart
        for _ in range(5):
            _, reward, terminated, _, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
            if terminated:
                break
        assert terminated and info["collision"] and reward < 0
    finally:
        env.close()


def test_env_reward_is_forward_progress() -> None:
    env = DrivingSimEnv(size=16, road_length=150.0, num_traffic=0)
    try:
        _, info = env.reset(seed=2)
        _, reward, terminated, _, after = env.step(np.array([0.0, 0.0], dtype=np.float32))
        assert not terminated
        assert reward == pytest.approx(after["s"] - info["s"]) and reward > 0
    finally:
        env.close()


def test_unknown_backend_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="embedded"):
        generate_episodes(1, backend="unreal")


def test_world_reloaded_with_a_scene_renders_like_a_fresh_one() -> None:
    def scene(seed: int):
        return sample_scene(np.random.default_rng(seed), road_length=150.0)

    reused = DrivingWorld(scene(1), SIZE)
    fresh = DrivingWorld(scene(2), SIZE)
    try:
        reused.load(scene(2))
        for _ in range(3):
            for world in (reused, fresh):
                world.step(np.array([0.2, 0.5]))
            views = reused.render(), fresh.render()
            for view in VIEWS:
                np.testing.assert_array_equal(views[0][view], views[1][view])
    finally:
        reused.close()
        fresh.close()


def test_front_view_shows_asphalt_below_and_sky_above(episodes: list) -> None:
    for ep in episodes:
        frame = ep.frames["front"][0].astype(int)
        road = frame[-4:, SIZE // 2 - 2 : SIZE // 2 + 2].reshape(-1, 3).mean(axis=0)
        sky = frame[:3].reshape(-1, 3).mean(axis=0)
        assert np.ptp(road) < 20 and road.mean() < 140  # grey asphalt, not grass or sky
        assert sky[2] > sky[0] + 20  # blue

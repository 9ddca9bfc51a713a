"""Tests for ``envs.sim.carla_backend``: a real client with no server, and a fake server."""

from __future__ import annotations

# envs picks MuJoCo's headless GL backend, which only works before mujoco is imported.
import envs  # noqa: F401

# isort: split
import copy
import socket
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from envs.sim.carla_backend import (
    CarlaConnectionError,
    bgra_to_rgb,
    control_to_action,
    record_carla_episodes,
    to_right_handed,
)
from envs.sim.driving import generate_episodes

carla = pytest.importorskip("carla")

SIZE, FRAMES = 16, 5


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------
# A fake of the slice of the CARLA API the backend uses. Vehicles drive straight along
# their spawn heading at 5 m/s, steering a little to the right (CARLA's + steer).


@dataclass
class FakeSettings:
    synchronous_mode: bool = False
    fixed_delta_seconds: float | None = None


class FakeAttribute:
    def __init__(self, value: str) -> None:
        self.value = value

    def as_int(self) -> int:
        return int(self.value)


class FakeBlueprint:
    def __init__(self, blueprint_id: str, **attributes: str) -> None:
        self.id = blueprint_id
        self.attributes = dict(attributes)

    def has_attribute(self, name: str) -> bool:
        return name in self.attributes

    def get_attribute(self, name: str) -> FakeAttribute:
        return FakeAttribute(self.attributes[name])

    def set_attribute(self, name: str, value: str) -> None:
        self.attributes[name] = value


class FakeLibrary:
    def __init__(self) -> None:
        self.blueprints = [
            FakeBlueprint("vehicle.tesla.model3", number_of_wheels="4", role_name=""),
            FakeBlueprint("vehicle.yamaha.yzf", number_of_wheels="2", role_name=""),
            FakeBlueprint("sensor.camera.rgb", image_size_x="800", image_size_y="600", fov="90"),
        ]

    def filter(self, pattern: str) -> list[FakeBlueprint]:
        prefix = pattern.rstrip("*")
        return [copy.deepcopy(b) for b in self.blueprints if b.id.startswith(prefix)]

    def find(self, blueprint_id: str) -> FakeBlueprint:
        return copy.deepcopy(next(b for b in self.blueprints if b.id == blueprint_id))


@dataclass
class FakeActor:
    world: FakeWorld
    blueprint: FakeBlueprint
    transform: carla.Transform
    id: int
    parent: FakeActor | None = None
    autopilot: bool = False
    callback: object = None
    listening: bool = False

    def destroy(self) -> bool:
        self.world.alive.remove(self)
        return True

    # vehicles
    def set_autopilot(self, enabled: bool, port: int) -> None:
        assert port == self.world.traffic_manager.port
        self.autopilot = enabled

    def get_transform(self) -> carla.Transform:
        return self.transform

    def get_velocity(self) -> carla.Vector3D:
        yaw = np.radians(self.transform.rotation.yaw)
        return carla.Vector3D(5.0 * np.cos(yaw), 5.0 * np.sin(yaw), 0.0)

    def get_control(self) -> carla.VehicleControl:
        return carla.VehicleControl(throttle=0.5, steer=0.2, brake=0.0)

    # sensors
    def listen(self, callback: object) -> None:
        self.callback, self.listening = callback, True

    def stop(self) -> None:
        self.listening = False


@dataclass
class FakeTrafficManager:
    port: int
    synchronous: bool = False
    seed: int | None = None

    def get_port(self) -> int:
        return self.port

    def set_synchronous_mode(self, enabled: bool) -> None:
        self.synchronous = enabled

    def set_random_device_seed(self, seed: int) -> None:
        self.seed = seed


@dataclass
class FakeWorld:
    settings: FakeSettings = field(default_factory=FakeSettings)
    traffic_manager: FakeTrafficManager = field(default_factory=lambda: FakeTrafficManager(8000))
    alive: list = field(default_factory=list)
    spawned: int = 0
    frame: int = 100
    fail_at_frame: int | None = None
    settings_during_ticks: list = field(default_factory=list)

    def get_settings(self) -> FakeSettings:
        return copy.copy(self.settings)  # CARLA returns a copy too

    def apply_settings(self, settings: FakeSettings) -> int:
        self.settings = copy.copy(settings)
        return self.frame

    def get_blueprint_library(self) -> FakeLibrary:
        return FakeLibrary()

    def get_map(self) -> SimpleNamespace:
        points = [
            carla.Transform(carla.Location(x=10.0 * i, y=3.0 * i, z=0.3), carla.Rotation(yaw=30.0 * i))
            for i in range(6)
        ]
        return SimpleNamespace(name="Carla/Maps/Town03", get_spawn_points=lambda: points)

    def _spawn(
        self, blueprint: FakeBlueprint, transform: carla.Transform, parent: FakeActor | None
    ) -> FakeActor:
        self.spawned += 1
        actor = FakeActor(self, blueprint, transform, self.spawned, parent)
        self.alive.append(actor)
        return actor

    def try_spawn_actor(self, blueprint: FakeBlueprint, transform: carla.Transform) -> FakeActor | None:
        if any(
            a.transform.location.distance(transform.location) < 1.0 for a in self.alive if a.parent is None
        ):
            return None
        return self._spawn(blueprint, transform, None)

    def spawn_actor(
        self, blueprint: FakeBlueprint, transform: carla.Transform, attach_to: FakeActor
    ) -> FakeActor:
        return self._spawn(blueprint, transform, attach_to)

    def tick(self) -> int:
        assert self.settings.synchronous_mode and self.traffic_manager.synchronous
        self.settings_during_ticks.append(self.settings.fixed_delta_seconds)
        self.frame += 1
        if self.frame == self.fail_at_frame:
            raise RuntimeError("fake server crashed")
        dt = self.settings.fixed_delta_seconds
        for actor in self.alive:
            if actor.parent is None and actor.autopilot:
                loc, rot = actor.transform.location, actor.transform.rotation
                yaw = np.radians(rot.yaw)
                actor.transform = carla.Transform(
                    carla.Location(x=loc.x + 5 * dt * np.cos(yaw), y=loc.y + 5 * dt * np.sin(yaw), z=loc.z),
                    carla.Rotation(yaw=rot.yaw + 2.0),  # turning clockwise: right in CARLA
                )
        for actor in self.alive:
            if actor.listening:
                actor.callback(self._image(actor))
        return self.frame

    def _image(self, camera: FakeActor) -> SimpleNamespace:
        width = int(camera.blueprint.get_attribute("image_size_x").value)
        height = int(camera.blueprint.get_attribute("image_size_y").value)
        bgra = np.zeros((height, width, 4), np.uint8)
        bgra[..., 0] = 10  # blue
        bgra[..., 1] = self.frame % 256  # green
        bgra[..., 2] = int(camera.transform.rotation.yaw) % 256  # red tells the views apart
        bgra[..., 3] = 255
        return SimpleNamespace(frame=self.frame, width=width, height=height, raw_data=bgra.tobytes())


class FakeClient:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.timeout: float | None = None

    def set_timeout(self, seconds: float) -> None:
        self.timeout = seconds

    def get_server_version(self) -> str:
        return "0.9.16"

    def get_world(self) -> FakeWorld:
        return self.world

    def get_trafficmanager(self, port: int) -> FakeTrafficManager:
        return self.world.traffic_manager


def _record(world: FakeWorld, num_episodes: int = 2) -> list:
    return list(
        record_carla_episodes(
            num_episodes,
            size=SIZE,
            seed=3,
            frames_per_episode=FRAMES,
            timeout=1.0,
            client_factory=lambda host, port: FakeClient(world),
            num_traffic=2,
        )
    )


# ---------------------------------------------------------------------------------------


def test_no_server_raises_connection_error_naming_address_and_how_to_start_one() -> None:
    port = _unused_port()
    start = time.monotonic()
    with pytest.raises(CarlaConnectionError) as err:
        generate_episodes(1, backend="carla", port=port, timeout=1.0)
    assert time.monotonic() - start < 10.0
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "1 s" in message
    assert "CarlaUE4.sh" in message and "--backend embedded" in message
    assert isinstance(err.value, RuntimeError)


def test_fake_server_episodes_match_the_embedded_format() -> None:
    world = FakeWorld()
    episodes = _record(world)
    embedded = next(iter(generate_episodes(1, size=SIZE, seed=0, frames_per_episode=FRAMES)))
    assert [e.episode_id for e in episodes] == ["carla-s3-e000000", "carla-s3-e000001"]
    for ep in episodes:
        assert (ep.source, ep.fps, ep.primary_view) == (embedded.source, embedded.fps, embedded.primary_view)
        assert ep.frames.keys() == embedded.frames.keys()
        for view, frames in ep.frames.items():
            assert frames.shape == embedded.frames[view].shape and frames.dtype == np.uint8
        assert ep.arrays.keys() == embedded.arrays.keys()
        for name, array in ep.arrays.items():
            assert array.shape == embedded.arrays[name].shape and array.dtype == embedded.arrays[name].dtype
        shared = {
            "caption",
            "backend",
            "seed",
            "num_traffic",
            "maneuver",
            "views",
            "view_extrinsics",
            "intrinsics",
        }
        assert shared <= ep.meta.keys() and shared <= embedded.meta.keys()
        assert (
            ep.meta["views"] == embedded.meta["views"]
            and ep.meta["intrinsics"] == embedded.meta["intrinsics"]
        )
        assert ep.meta["backend"] == "carla" and ep.meta["map"] == "Town03" and ep.meta["num_traffic"] == 2
        assert ep.meta["maneuver"] == "lane_keep" and "Town03" in ep.meta["caption"]


def test_fake_server_is_left_as_found() -> None:
    world = FakeWorld()
    _record(world)
    assert world.alive == []  # every vehicle and camera destroyed
    assert world.settings == FakeSettings()  # asynchronous again
    assert not world.traffic_manager.synchronous and world.traffic_manager.seed == 3
    assert set(world.settings_during_ticks) == {0.1}  # recorded with a fixed 10 fps step


def test_fake_server_crash_still_restores_settings_and_destroys_actors() -> None:
    world = FakeWorld(fail_at_frame=110)
    with pytest.raises(RuntimeError, match="crashed"):
        _record(world)
    assert world.alive == [] and world.settings == FakeSettings()
    assert not world.traffic_manager.synchronous


def test_fake_server_poses_controls_and_pixels_are_converted_to_the_embedded_frame() -> None:
    ep = _record(FakeWorld(), num_episodes=1)[0]
    trajectory = ep.arrays["trajectory"]
    # CARLA yaw grows by 2 degrees (clockwise, to the right) per tick: ours turns right.
    np.testing.assert_allclose(np.diff(trajectory[:, 2]), -np.radians(2.0), atol=1e-5)
    np.testing.assert_allclose(ep.arrays["speed"], 5.0, atol=1e-4)
    np.testing.assert_allclose(ep.arrays["actions"], [[-0.2, 0.5]] * (FRAMES - 1), atol=1e-6)
    # Red encodes the camera's CARLA yaw: the left camera looks 60 degrees anticlockwise.
    assert ep.frames["front"][0, 0, 0, 0] == 0 and ep.frames["left"][0, 0, 0, 0] == (-60) % 256
    assert ep.frames["right"][0, 0, 0, 0] == 60 and ep.frames["front"][0, 0, 0, 2] == 10


def test_pose_conversion_mirrors_y_and_yaw() -> None:
    np.testing.assert_allclose(to_right_handed(1.0, 2.0, 90.0), [1.0, -2.0, -np.pi / 2])
    np.testing.assert_allclose(to_right_handed(0.0, 0.0, -170.0)[2], np.radians(170.0))


def test_control_conversion_signs() -> None:
    np.testing.assert_allclose(
        control_to_action(carla.VehicleControl(throttle=0.0, steer=-0.5, brake=0.7)), [0.5, -0.7]
    )
    reverse = carla.VehicleControl(throttle=0.4, steer=0.0, brake=0.0, reverse=True)
    np.testing.assert_allclose(control_to_action(reverse), [0.0, -0.4], atol=1e-6)


def test_bgra_bytes_become_rgb() -> None:
    bgra = np.array([[[1, 2, 3, 255], [4, 5, 6, 255]]], np.uint8)
    rgb = bgra_to_rgb(SimpleNamespace(raw_data=bgra.tobytes(), width=2, height=1))
    np.testing.assert_array_equal(rgb, [[[3, 2, 1], [6, 5, 4]]])


def test_driving_post_training_runs_on_carla_recorded_shards_as_on_embedded_ones(
    posttrained: dict, tmp_path
) -> None:
    from app.cli import main
    from envs.record import record_episodes
    from tests.posttrained import COMMON
    from worldmodel.world import WorldModel

    # Episode 5 of seed 3 falls in the held-out split, so the run can evaluate.
    record_episodes(_record(FakeWorld(), num_episodes=6), tmp_path / "carla", progress=False)
    out = tmp_path / "carla-wm"
    args = [
        "train",
        "posttrain",
        "--task",
        "driving",
        "--from",
        str(posttrained["base"]),
        "--size",
        str(SIZE),
    ]
    assert main([*args, "--data", str(tmp_path / "carla"), "--out", str(out), *COMMON]) == 0
    world = WorldModel.from_pretrained(out)
    assert world.views == ("left", "front", "right") and world.frame_size == (SIZE, 3 * SIZE)
    context = np.zeros((2, SIZE, 3 * SIZE, 3), np.uint8)
    trajectory = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0.1]], dtype=np.float64)
    assert world.predict(context, trajectory=trajectory, horizon=2, steps=1).shape == (2, SIZE, 3 * SIZE, 3)

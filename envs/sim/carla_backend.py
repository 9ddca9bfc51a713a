"""Record driving episodes from a CARLA 0.9.16 server, in the embedded simulator's ``Episode`` format.

An ego vehicle drives on CARLA's autopilot (the traffic manager, seeded) among
autopilot traffic, in synchronous mode with a fixed step of ``driving.DT`` seconds.
Three RGB cameras use the embedded rig (``road_scene.VIEW_YAWS_DEG``,
``CAMERA_POSITION``, ``CAMERA_PITCH_DEG``, ``CAMERA_FOVY_DEG``), so both backends'
clips share extrinsics, intrinsics and action meaning.

Frame conversion: CARLA's world is left-handed (x forward, y right, z up) with
angles in degrees and yaw positive clockwise seen from above. Poses are mirrored
into the right-handed frame of ``envs.sim.driving``: ``x' = x``, ``y' = -y``,
``yaw' = -radians(yaw)`` wrapped to [-pi, pi); cameras are mounted at CARLA
``Location(x, -y, z)`` and ``Rotation(pitch, -yaw)`` of the rig (CARLA pitch is + up,
as in the rig). CARLA's ``fov`` is horizontal; the images are square, so it equals
the vertical field of view.

Controls: the ego's applied ``VehicleControl`` becomes ``(steer, throttle)`` with
``steer' = -steer`` (CARLA steers right for +) and ``throttle' = throttle - brake``
(negated in reverse gear). CARLA applies the control read after tick k while moving
from frame k-1 to frame k, so ``actions[t]`` is the control read with frame t+1.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from envs.sim.driving import DT, FPS, view_meta, wrap_angle
from envs.sim.episode import Episode
from envs.sim.road_scene import CAMERA_FOVY_DEG, CAMERA_PITCH_DEG, CAMERA_POSITION, VIEW_YAWS_DEG, VIEWS

logger = logging.getLogger(__name__)

TRAFFIC_MANAGER_PORT = 8000
WARMUP_TICKS = 30
"""Ticks run before recording, so the autopilot has pulled away and every camera streams."""


class CarlaConnectionError(RuntimeError):
    """No CARLA server answered at the given host and port within the timeout."""


def _connection_message(host: str, port: int, timeout: float, err: Exception) -> str:
    return (
        f"Could not reach a CARLA server at {host}:{port} within the {timeout:g} s timeout ({err}). "
        f"Start CARLA with `./CarlaUE4.sh -RenderOffScreen -carla-rpc-port={port}` (or the Docker image "
        f"carlasim/carla:0.9.16), then rerun; or use --backend embedded."
    )


def _carla_module() -> Any:
    try:
        import carla
    except ImportError as err:
        raise ImportError(
            "The CARLA backend needs the CARLA Python client: pip install 'worldfm[carla]' (carla==0.9.16), "
            "or use backend='embedded'."
        ) from err
    return carla


def connect(
    host: str, port: int, timeout: float, client_factory: Callable[[str, int], Any] | None = None
) -> tuple[Any, Any]:
    """Return ``(client, world)`` of the server at ``host:port``.

    ``client_factory(host, port)`` builds the client (``carla.Client`` by default; tests
    pass a fake). Raises ``CarlaConnectionError`` when the server does not answer
    within ``timeout`` seconds.
    """
    factory = client_factory or _carla_module().Client
    client = factory(host, port)
    client.set_timeout(timeout)
    try:
        version = client.get_server_version()
        world = client.get_world()
    except RuntimeError as err:
        raise CarlaConnectionError(_connection_message(host, port, timeout, err)) from err
    logger.info("connected to CARLA %s at %s:%d", version, host, port)
    return client, world


def to_right_handed(x: float, y: float, yaw_deg: float) -> np.ndarray:
    """CARLA (x, y, yaw degrees, left-handed) -> (3,) (x, y, yaw radians) in the embedded frame."""
    return np.array([x, -y, wrap_angle(-np.radians(yaw_deg))])


def control_to_action(control: Any) -> np.ndarray:
    """A CARLA ``VehicleControl`` -> (2,) float32 (steer + left, throttle + forward / brake -)."""
    throttle = float(control.throttle) * (-1.0 if control.reverse else 1.0) - float(control.brake)
    return np.clip(np.array([-float(control.steer), throttle]), -1.0, 1.0).astype(np.float32)


def bgra_to_rgb(image: Any) -> np.ndarray:
    """A CARLA camera image (BGRA bytes in ``raw_data``) -> uint8 (H, W, 3) RGB."""
    bgra = np.frombuffer(image.raw_data, dtype=np.uint8).reshape(image.height, image.width, 4)
    return bgra[:, :, 2::-1].copy()


def _camera_transform(carla: Any, view: str) -> Any:
    x, y, z = CAMERA_POSITION
    return carla.Transform(
        carla.Location(x=x, y=-y, z=z),
        carla.Rotation(pitch=CAMERA_PITCH_DEG, yaw=-VIEW_YAWS_DEG[view], roll=0.0),
    )


def _spawn_vehicles(world: Any, rng: np.random.Generator, count: int, tm_port: int) -> tuple[Any, list[Any]]:
    """Spawn the ego and up to ``count`` other cars at shuffled spawn points, all on autopilot."""
    library = world.get_blueprint_library()
    blueprints = [
        bp
        for bp in library.filter("vehicle.*")
        if not bp.has_attribute("number_of_wheels") or bp.get_attribute("number_of_wheels").as_int() == 4
    ]
    points = world.get_map().get_spawn_points()
    vehicles: list[Any] = []
    for index in rng.permutation(len(points)):
        if len(vehicles) > count:
            break
        blueprint = blueprints[int(rng.integers(len(blueprints)))]
        if blueprint.has_attribute("role_name"):
            blueprint.set_attribute("role_name", "hero" if not vehicles else "autopilot")
        vehicle = world.try_spawn_actor(blueprint, points[int(index)])
        if vehicle is not None:
            vehicle.set_autopilot(True, tm_port)
            vehicles.append(vehicle)
    if not vehicles:
        raise RuntimeError(
            "CARLA spawned no vehicle: every spawn point is occupied; reload the map and rerun."
        )
    return vehicles[0], vehicles


def _describe(trajectory: np.ndarray, speed: np.ndarray, town: str) -> tuple[str, str]:
    """(maneuver, caption) from the ego's motion; e.g. ("turn_left", "Driving through Town03 ...")."""
    turn = np.degrees(np.sum(wrap_angle(np.diff(trajectory[:, 2]))))
    if speed.max() < 0.5:
        maneuver, phrase = "stopped", "waiting at a standstill"
    elif abs(turn) > 30:
        maneuver = "turn_left" if turn > 0 else "turn_right"
        phrase = f"turning {'left' if turn > 0 else 'right'}"
    elif speed[-1] - speed[0] > 2:
        maneuver, phrase = "speed_up", "speeding up"
    elif speed[0] - speed[-1] > 2:
        maneuver, phrase = "slow_down", "slowing down"
    else:
        maneuver, phrase = "lane_keep", "following its lane"
    return maneuver, f"Driving through {town} on autopilot in traffic, {phrase}."


def _record_episode(
    carla: Any,
    world: Any,
    rng: np.random.Generator,
    *,
    size: int,
    frames_per_episode: int,
    num_traffic: int,
    tm_port: int,
    timeout: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Spawn, warm up, record and destroy one episode; returns (frames by view, arrays, meta)."""
    actors: list[Any] = []
    cameras: list[Any] = []
    try:
        ego, vehicles = _spawn_vehicles(world, rng, num_traffic, tm_port)
        actors += vehicles
        camera_bp = world.get_blueprint_library().find("sensor.camera.rgb")
        camera_bp.set_attribute("image_size_x", str(size))
        camera_bp.set_attribute("image_size_y", str(size))
        camera_bp.set_attribute("fov", str(CAMERA_FOVY_DEG))
        queues: dict[str, queue.Queue] = {}
        for view in VIEWS:
            camera = world.spawn_actor(camera_bp, _camera_transform(carla, view), attach_to=ego)
            actors.append(camera)
            cameras.append(camera)
            queues[view] = queue.Queue()
            camera.listen(queues[view].put)

        frames: dict[str, list[np.ndarray]] = {v: [] for v in VIEWS}
        poses, speeds, controls = [], [], []
        for tick in range(WARMUP_TICKS + frames_per_episode):
            frame_id = world.tick()
            images = {view: _image_for_frame(q, frame_id, timeout) for view, q in queues.items()}
            if tick < WARMUP_TICKS:
                continue
            for view, image in images.items():
                frames[view].append(bgra_to_rgb(image))
            transform = ego.get_transform()
            pose = to_right_handed(transform.location.x, transform.location.y, transform.rotation.yaw)
            velocity = ego.get_velocity()
            yaw = np.radians(transform.rotation.yaw)  # CARLA frame: forward is (cos, sin)
            poses.append(pose)
            speeds.append(velocity.x * np.cos(yaw) + velocity.y * np.sin(yaw))
            controls.append(control_to_action(ego.get_control()))
        trajectory = np.array(poses, dtype=np.float32)
        speed = np.array(speeds, dtype=np.float32)
        town = str(world.get_map().name).rsplit("/", 1)[-1]
        maneuver, caption = _describe(trajectory, speed, town)
        arrays = {
            "trajectory": trajectory,
            "actions": np.array(controls[1:], dtype=np.float32).reshape(-1, 2),
            "speed": speed,
        }
        meta = {
            "caption": caption,
            "backend": "carla",
            "map": town,
            "num_traffic": len(vehicles) - 1,
            "maneuver": maneuver,
            **view_meta(size),
        }
        return {v: np.stack(f) for v, f in frames.items()}, arrays, meta
    finally:
        for camera in cameras:
            _quietly(camera.stop, "stop a camera")
        for actor in reversed(actors):
            _quietly(actor.destroy, f"destroy actor {actor.id}")


def _image_for_frame(images: queue.Queue, frame_id: int, timeout: float) -> Any:
    """The camera image of ``frame_id``, dropping older ones still queued."""
    while True:
        try:
            image = images.get(timeout=timeout)
        except queue.Empty as err:
            raise RuntimeError(
                f"CARLA sent no camera image for frame {frame_id} within {timeout:g} s."
            ) from err
        if image.frame >= frame_id:
            return image


def _quietly(action: Callable[[], Any], what: str) -> None:
    """Run a cleanup step; log instead of raise, so a dead server cannot hide the original error."""
    try:
        action()
    except RuntimeError as err:
        logger.warning("CARLA cleanup failed to %s: %s", what, err)


def record_carla_episodes(
    num_episodes: int,
    *,
    size: int = 64,
    seed: int = 0,
    frames_per_episode: int = 48,
    host: str = "127.0.0.1",
    port: int = 2000,
    timeout: float = 5.0,
    client_factory: Callable[[str, int], Any] | None = None,
    num_traffic: int = 20,
) -> Iterator[Episode]:
    """Record ``num_episodes`` autopilot episodes from the CARLA server at ``host:port``.

    Connects right away (raising ``CarlaConnectionError`` if no server answers within
    ``timeout`` seconds) and returns an iterator of ``Episode`` in the layout of
    ``driving.generate_episodes``: ids ``carla-s{seed}-e{i:06d}``, views front/left/right
    uint8 (T, size, size, 3), ``trajectory`` (T, 3), ``actions`` (T-1, 2) and ``speed``
    (T,) float32. Each episode spawns the ego and ``num_traffic`` other cars at
    spawn points drawn from ``(seed, i)``; the traffic manager is seeded with ``seed``.
    The world's settings are restored and every spawned actor destroyed even when
    recording fails or the iterator is closed early.
    """
    carla = _carla_module()
    client, world = connect(host, port, timeout, client_factory)
    return _carla_episodes(
        carla, client, world, num_episodes, size, seed, frames_per_episode, timeout, num_traffic
    )


def _carla_episodes(
    carla: Any,
    client: Any,
    world: Any,
    num_episodes: int,
    size: int,
    seed: int,
    frames_per_episode: int,
    timeout: float,
    num_traffic: int,
) -> Iterator[Episode]:
    original = world.get_settings()
    traffic_manager = client.get_trafficmanager(TRAFFIC_MANAGER_PORT)
    try:
        settings = world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = DT
        world.apply_settings(settings)
        traffic_manager.set_synchronous_mode(True)
        traffic_manager.set_random_device_seed(seed)
        for i in range(num_episodes):
            rng = np.random.default_rng([seed, i])
            frames, arrays, meta = _record_episode(
                carla,
                world,
                rng,
                size=size,
                frames_per_episode=frames_per_episode,
                num_traffic=num_traffic,
                tm_port=traffic_manager.get_port(),
                timeout=timeout,
            )
            yield Episode(
                source="driving",
                episode_id=f"carla-s{seed}-e{i:06d}",
                fps=float(FPS),
                frames=frames,
                arrays=arrays,
                meta={**meta, "seed": seed},
                primary_view="front",
            )
    finally:
        _quietly(lambda: world.apply_settings(original), "restore the world settings")
        _quietly(lambda: traffic_manager.set_synchronous_mode(False), "make the traffic manager asynchronous")

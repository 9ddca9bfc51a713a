"""Embedded driving simulator: a kinematic ego car and lane-following traffic on a procedural road.

The scene (``envs.sim.road_scene``) is rendered by MuJoCo from three cameras rigidly
mounted on the ego car (front, left at +60 deg, right at -60 deg); the physics is
plain Python: the ego integrates a kinematic bicycle model, traffic moves along lane
centre lines at its own speed and keeps a gap to whoever is ahead (the ego included).
MuJoCo only poses the mocap bodies (``mj_forward``) and renders.

Conventions:
    world: right-handed, z up, metres; the road starts at the origin heading +x.
    ego pose: (x, y, yaw) of the car's centre on the ground; yaw in radians wrapped
        to [-pi, pi), 0 along +x, counter-clockwise (to the left) positive.
    action: ``(steer, throttle)`` in [-1, 1]^2. ``steer`` +1 is full lock to the left
        (yaw grows when moving forward). ``throttle`` > 0 accelerates; < 0 brakes while
        moving forward and, once stopped, reverses slowly.
    time: ``FPS`` = 10 frames per second; one action per frame interval.
    cameras: ``road_scene.camera_to_ego`` (OpenCV axes, ego frame) and
        ``road_scene.rig_intrinsics`` (``fy = (H / 2) / tan(fovy / 2)``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.error import ResetNeeded

from envs.actions import finite_actions
from envs.sim.episode import Episode
from envs.sim.road_scene import (
    CAMERA_FOVY_DEG,
    CAR_HALF_EXTENTS,
    EGO_GEOM_GROUP,
    GEOM_TYPES,
    VIEWS,
    DrivingScene,
    TrafficCar,
    camera_to_ego,
    pooled_mjcf,
    rig_intrinsics,
    sample_scene,
    static_geoms,
)

logger = logging.getLogger(__name__)

FPS = 10
DT = 1.0 / FPS
BACKENDS = ("embedded", "carla")
MANEUVERS = ("lane_keep", "lane_change_left", "lane_change_right", "speed_up", "slow_down", "random")
VIEW_RADIUS = 160.0
"""Geoms farther than this (metres) are skipped when rendering; fog hides them from ~150 m."""
COLLISION_PENALTY = 10.0
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass(frozen=True)
class VehicleParams:
    """Kinematic bicycle parameters of the ego car (SI units)."""

    wheelbase: float = 2.7
    max_steer: float = 0.5
    """Front wheel angle at ``steer = +-1``, radians."""
    max_accel: float = 3.0
    max_brake: float = 6.0
    reverse_accel: float = 1.5
    max_speed: float = 20.0
    max_reverse_speed: float = 3.0
    drag: float = 0.05
    """Speed lost per second as a fraction of speed, so the car coasts to a stop."""


def _accelerate(v: float, throttle: float, dt: float, p: VehicleParams, braking: bool) -> float:
    """Speed after ``dt`` under ``throttle``: brake to a stop (never through zero), or drive / reverse."""
    if braking:
        return max(v + throttle * p.max_brake * dt, 0.0)
    gain = p.max_accel if throttle >= 0 else p.reverse_accel
    return float(np.clip(v + (throttle * gain - p.drag * v) * dt, -p.max_reverse_speed, p.max_speed))


def bicycle_step(
    state: np.ndarray,
    action: np.ndarray,
    dt: float = DT,
    params: VehicleParams = VehicleParams(),
    substeps: int = 4,
) -> np.ndarray:
    """Advance the ego state ``(x, y, yaw, v)`` (4,) by ``dt`` under ``action`` = (steer, throttle) (2,).

    Kinematic bicycle model about the centre of mass (Kong et al. 2015, "Kinematic
    and Dynamic Vehicle Models for Autonomous Driving Control Design", eq. 1) with
    the centre midway between the axles: beta = atan(tan(delta) / 2),
    x' = v cos(yaw + beta), y' = v sin(yaw + beta), yaw' = 2 v sin(beta) / wheelbase,
    integrated with ``substeps`` explicit Euler steps (speed first). Negative throttle
    brakes when the step starts moving forward and reverses only from a standstill, so
    holding it stops the car for at least one step before it backs up. Returns (4,)
    with yaw wrapped to [-pi, pi).
    """
    x, y, yaw, v = (float(a) for a in state)
    steer, throttle = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    beta = np.arctan(np.tan(steer * params.max_steer) / 2)
    h = dt / substeps
    braking = throttle < 0 and v > 0
    for _ in range(substeps):
        v = _accelerate(v, throttle, h, params, braking)
        x += v * np.cos(yaw + beta) * h
        y += v * np.sin(yaw + beta) * h
        yaw += 2 * v * np.sin(beta) / params.wheelbase * h
    return np.array([x, y, wrap_angle(yaw), v])


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Angle(s) in radians wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def ego_to_world(pose: np.ndarray) -> np.ndarray:
    """Homogeneous (4, 4) transform of the ego frame at ``pose`` = (x, y, yaw) (3,) into the world."""
    x, y, yaw = (float(a) for a in pose)
    out = np.eye(4)
    out[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    out[:2, 3] = x, y
    return out


def boxes_overlap(a: np.ndarray, b: np.ndarray, half_extents: tuple[float, float] = CAR_HALF_EXTENTS) -> bool:
    """Whether equal rectangles at poses ``a``, ``b`` = (x, y, yaw) (3,) intersect (separating axes)."""
    delta = np.asarray(b[:2]) - np.asarray(a[:2])
    if np.hypot(*delta) > 2 * np.hypot(*half_extents):
        return False
    axes = [np.array([np.cos(t), np.sin(t)]) for t in (a[2], a[2] + np.pi / 2, b[2], b[2] + np.pi / 2)]
    hl, hw = half_extents
    for axis in axes:
        # Projected half size of each box on this axis.
        reach = sum(hl * abs(np.dot(axis, u)) + hw * abs(np.dot(axis, w)) for u, w in (axes[0:2], axes[2:4]))
        if abs(np.dot(delta, axis)) > reach:
            return False
    return True


class DrivingWorld:
    """Simulation state of one scene plus the MuJoCo model and renderer that show it.

    Args:
        scene: from ``road_scene.sample_scene``; its traffic list is copied, not mutated.
        size: rendered frames are ``size`` x ``size``.
        params: ego vehicle parameters.
    """

    def __init__(self, scene: DrivingScene, size: int, params: VehicleParams = VehicleParams()) -> None:
        self.size = size
        self.params = params
        self._renderer: mujoco.Renderer | None = None
        self.load(scene)

    def load(self, scene: DrivingScene) -> None:
        """Make ``scene`` current: reset ego and traffic and write its geoms into the model's pools.

        The model and renderer are rebuilt only when the scene needs more geoms or cars
        than they hold.
        """
        geoms = {kind: [g for g in static_geoms(scene) if g.type == kind] for kind in GEOM_TYPES}
        need = {kind: len(items) for kind, items in geoms.items()}
        if self._renderer is None:
            # Headroom, so later scenes of a similar road length reuse this model.
            self._build({kind: n * 3 // 2 + 32 for kind, n in need.items()}, max(len(scene.traffic), 8))
        elif (
            any(need[kind] > len(self._pools[kind]) for kind in GEOM_TYPES)
            or len(scene.traffic) > self._num_cars
        ):
            capacity = {kind: max(len(self._pools[kind]), need[kind] * 3 // 2 + 32) for kind in GEOM_TYPES}
            self._build(capacity, max(len(scene.traffic), self._num_cars))
        model = self.model
        for kind, pool in self._pools.items():
            used, items = pool[: len(geoms[kind])], geoms[kind]
            model.geom_rgba[pool, 3] = 0.0
            if not items:
                continue
            yaw = np.array([g.yaw for g in items])
            size = np.array([g.size for g in items])
            zero = np.zeros_like(yaw)
            model.geom_pos[used] = [g.pos for g in items]
            model.geom_quat[used] = np.stack([np.cos(yaw / 2), zero, zero, np.sin(yaw / 2)], axis=1)
            model.geom_size[used] = size
            model.geom_rgba[used] = [(*g.rgb, 1.0) for g in items]
            # Bounding radius, which culling reads: half diagonal of a box or cylinder, a sphere's radius.
            model.geom_rbound[used] = {
                "box": np.linalg.norm(size, axis=1),
                "cylinder": np.hypot(size[:, 0], size[:, 1]),
                "sphere": size[:, 0],
            }[kind]
        for i in range(self._num_cars):
            body = model.body(f"car{i}")
            geoms_of_car = slice(body.geomadr[0], body.geomadr[0] + body.geomnum[0])
            model.geom_rgba[geoms_of_car, 3] = 1.0 if i < len(scene.traffic) else 0.0
            if i < len(scene.traffic):
                for k in range(2):
                    model.geom(f"car{i}_paint{k}").rgba[:3] = scene.traffic_rgb[i]
        model.geom("floor").pos[:2] = scene.road.xy.mean(axis=0)
        self._alpha = model.geom_rgba[:, 3].copy()

        self.scene = scene
        self.road = scene.road
        x, y, yaw = self.road.pose_at(scene.ego_s, self.road.lane_offset(scene.ego_lane))
        self.ego = np.array([x, y, yaw, scene.ego_speed])  # (4,) x, y, yaw, v
        self.traffic = [TrafficCar(**vars(c)) for c in scene.traffic]

    def _build(self, capacity: dict[str, int], num_cars: int) -> None:
        """Compile a pooled model (``capacity`` geoms per type, ``num_cars`` cars) and its renderer."""
        if self._renderer is not None:
            self._renderer.close()
        self.model = mujoco.MjModel.from_xml_string(pooled_mjcf(self.size, capacity, num_cars))
        self.data = mujoco.MjData(self.model)
        static = np.flatnonzero(self.model.geom_bodyid == 0)
        self._pools = {
            kind: static[self.model.geom_type[static] == getattr(mujoco.mjtGeom, f"mjGEOM_{kind.upper()}")]
            for kind in GEOM_TYPES
        }
        # Pool geoms and the floor compile at the world origin, which MuJoCo marks as "same
        # frame as the body" and then ignores geom_pos / geom_quat; clearing the mark makes
        # writes count.
        for pool in [*self._pools.values(), [self.model.geom("floor").id]]:
            self.model.geom_sameframe[pool] = mujoco.mjtSameFrame.mjSAMEFRAME_NONE
        self._num_cars = num_cars
        names = ["ego"] + [f"car{i}" for i in range(num_cars)]
        self._mocap = [int(self.model.body_mocapid[self.model.body(n).id]) for n in names]
        self._renderer = mujoco.Renderer(self.model, self.size, self.size)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_FOG] = True
        self._option = mujoco.MjvOption()
        self._option.geomgroup[EGO_GEOM_GROUP] = 0

    def road_coords(self) -> tuple[float, float]:
        """Ego ``(s, d)``: arc length along the road and lateral offset (+ left)."""
        return self.road.project(self.ego[0], self.ego[1])

    def traffic_poses(self) -> np.ndarray:
        """(N, 3) world poses (x, y, yaw) of the traffic cars."""
        if not self.traffic:
            return np.zeros((0, 3))
        s = np.array([c.s for c in self.traffic])
        d = self.road.lane_offset(np.array([c.lane for c in self.traffic]))
        return self.road.pose_at(s, d)

    def step(self, action: np.ndarray) -> None:
        """Advance ego and traffic by one frame interval ``DT`` under ``action`` (2,)."""
        ego_s, ego_d = self.road_coords()
        # Each car keeps a time gap to the nearest car ahead in its lane, the ego counting
        # when it overlaps the lane; leaders are read before anyone moves.
        ahead = [(c.s, c.lane) for c in self.traffic]
        for car in self.traffic:
            gaps = [s - car.s for s, lane in ahead if lane == car.lane and s > car.s]
            if ego_s > car.s and abs(ego_d - self.road.lane_offset(car.lane)) < 0.8 * self.road.lane_width:
                gaps.append(ego_s - car.s)
            target = car.desired_speed
            if gaps:
                target = min(target, max(0.0, (min(gaps) - 2 * CAR_HALF_EXTENTS[0] - 4.0) / 1.2))
            car.speed = float(np.clip(target, car.speed - 6.0 * DT, car.speed + 2.0 * DT))
            car.s += car.speed * DT
        self.ego = bicycle_step(self.ego, action, DT, self.params)

    def collided(self) -> bool:
        """Whether the ego's footprint intersects any traffic car's."""
        return any(boxes_overlap(self.ego[:3], pose) for pose in self.traffic_poses())

    def off_road(self) -> bool:
        """Whether the ego's centre is beyond an outer edge line or before the road's start."""
        s, d = self.road_coords()
        return abs(d) > self.road.half_width or s < 0.0

    def render(self) -> dict[str, np.ndarray]:
        """Render every rig view: view name -> uint8 (size, size, 3)."""
        poses = np.concatenate([self.ego[None, :3], self.traffic_poses()])
        # Spare cars beyond the scene's traffic stay hidden, so they are not posed.
        for mocap, (x, y, yaw) in zip(self._mocap, poses, strict=False):
            self.data.mocap_pos[mocap] = (x, y, 0.0)
            self.data.mocap_quat[mocap] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        mujoco.mj_forward(self.model, self.data)
        self._cull()
        views = {}
        for view in VIEWS:
            self._renderer.update_scene(self.data, camera=view, scene_option=self._option)
            views[view] = self._renderer.render()
        return views

    def _cull(self) -> None:
        """Hide (alpha 0, which MuJoCo skips) geoms out of range or behind the rig.

        The software GL renderer pays per geom, so this keeps frame time flat in road length.
        """
        x, y, yaw = self.ego[:3]
        rel = self.data.geom_xpos[:, :2] - (x, y)
        reach = self.model.geom_rbound
        forward = rel @ np.array([np.cos(yaw), np.sin(yaw)])
        keep = (np.hypot(rel[:, 0], rel[:, 1]) - reach < VIEW_RADIUS) & (forward > -10.0 - reach)
        keep |= self.model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE
        self.model.geom_rgba[:, 3] = np.where(keep, self._alpha, 0.0)

    def close(self) -> None:
        """Free the GL context; the world cannot render afterwards."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


# ---------------------------------------------------------------------------------------
# Scripted driver


class ScriptedDriver:
    """Drives a ``DrivingWorld`` with purpose: lane keeping plus one planned maneuver.

    Steering is pure pursuit (Coulter 1992) on a point ``lookahead`` metres down the
    commanded lateral offset; the commanded offset slides to a new lane over ~2.5 s for
    a lane change, which waits (adjusting speed) until the target lane has a gap.
    Throttle tracks a cruise speed (changed once for ``speed_up`` / ``slow_down``) and
    a 1 s gap to the car ahead. Ornstein-Uhlenbeck noise (rate 1/s) on both actions
    keeps the driving human-like. ``random`` episodes instead steer and throttle by
    smooth random processes, pulled back to a lane centre only near the road edges or
    a car alongside. A lane change that never finds a gap is reported as ``lane_keep``.

    Args:
        world: the world to drive (read only; the caller steps it).
        rng: randomness for the plan and the noise.
        num_steps: actions the episode will take; the maneuver starts in its first half.
        maneuver: one of ``MANEUVERS``; drawn when None.
    """

    def __init__(
        self, world: DrivingWorld, rng: np.random.Generator, num_steps: int, maneuver: str | None = None
    ) -> None:
        self.world = world
        self.rng = rng
        road = world.road
        lane = world.scene.ego_lane
        if maneuver is None:
            options = ["lane_keep", "speed_up", "slow_down", "random"]
            weights = [0.2, 0.12, 0.12, 0.16]
            for name, ok in (
                ("lane_change_left", lane < road.num_lanes - 1),
                ("lane_change_right", lane > 0),
            ):
                if ok:
                    options.append(name)
                    weights.append(0.2)
            maneuver = str(rng.choice(options, p=np.array(weights) / sum(weights)))
        if maneuver not in MANEUVERS:
            raise ValueError(f"maneuver {maneuver!r} unknown; expected one of {MANEUVERS}.")
        self.maneuver = maneuver
        self.start_step = int(rng.integers(max(1, num_steps // 6), max(2, num_steps // 2)))
        self.target_lane = lane
        self.d_cmd = float(road.lane_offset(lane))
        self.cruise = float(world.ego[3]) + rng.uniform(-1.0, 2.0)
        self.lane_changed = False
        self._noise = np.zeros(2)
        self._step = 0

    def act(self) -> np.ndarray:
        """Action (2,) float32 for the world's current state."""
        world, road = self.world, self.world.road
        s, d = world.road_coords()
        v = float(world.ego[3])
        if self._step == self.start_step:
            if self.maneuver == "speed_up":
                self.cruise = min(self.cruise + self.rng.uniform(4, 7), world.params.max_speed - 2)
            elif self.maneuver == "slow_down":
                self.cruise = self.rng.uniform(1.5, 4.0)
        if (
            self.maneuver.startswith("lane_change")
            and self._step >= self.start_step
            and not self.lane_changed
        ):
            target = self.target_lane + (1 if self.maneuver == "lane_change_left" else -1)
            blocker = self._blocker(target, s)
            if blocker is None:
                self.target_lane, self.lane_changed = target, True
            else:
                # Drift back or forward relative to the car alongside to line up with a gap.
                self.cruise = max(blocker.speed + (2.0 if blocker.s < s else -2.0), 2.0)
        self._step += 1
        sigma = np.array([0.15, 0.3]) if self.maneuver == "random" else np.array([0.03, 0.08])
        self._noise += -1.0 * self._noise * DT + sigma * np.sqrt(DT) * self.rng.standard_normal(2)
        if self.maneuver == "random":
            return self._random_action(s, d)
        goal = float(road.lane_offset(self.target_lane))
        self.d_cmd += float(
            np.clip(goal - self.d_cmd, -road.lane_width * DT / 2.5, road.lane_width * DT / 2.5)
        )
        steer = self._pursue(s, self.d_cmd, v)
        speed = min(self.cruise, self._safe_speed(s, d))
        throttle = np.clip(0.6 * (speed - v), -1.0, 1.0)
        return np.clip(np.array([steer, throttle]) + self._noise, -1.0, 1.0).astype(np.float32)

    def _random_action(self, s: float, d: float) -> np.ndarray:
        """Smooth random steering and throttle; near an edge or a car alongside, pursue a lane centre."""
        road, v = self.world.road, float(self.world.ego[3])
        steer, throttle = 4.0 * self._noise[0], 0.3 + self._noise[1]
        pull, centre = np.clip((abs(d) - (road.half_width - 3.0)) / 2.0, 0.0, 1.0), 0.0
        if any(abs(c.s - s) < 8.0 and abs(road.lane_offset(c.lane) - d) < 3.0 for c in self.world.traffic):
            pull, centre = 1.0, float(road.lane_offset(road.lane_of(d)))
        steer = (1 - pull) * steer + pull * self._pursue(s, centre, v)
        throttle = min(throttle, 0.6 * (self._safe_speed(s, d) - v))
        return np.clip(np.array([steer, throttle]), -1.0, 1.0).astype(np.float32)

    def _pursue(self, s: float, d_target: float, v: float) -> float:
        """Pure-pursuit steer command towards (s + lookahead, d_target)."""
        x, y, yaw = self.world.ego[:3]
        lookahead = float(np.clip(4.0 + 0.8 * abs(v), 6.0, 20.0))
        gx, gy, _ = self.world.road.pose_at(s + lookahead, d_target)
        lateral = -(gx - x) * np.sin(yaw) + (gy - y) * np.cos(yaw)
        curvature = 2 * lateral / lookahead**2
        return float(np.arctan(curvature * self.world.params.wheelbase) / self.world.params.max_steer)

    def _safe_speed(self, s: float, d: float) -> float:
        """Highest speed keeping a 1 s gap to the nearest traffic car ahead in the lanes being used."""
        road = self.world.road
        lanes = {road.lane_of(d), self.target_lane}
        gaps = [c.s - s for c in self.world.traffic if c.lane in lanes and c.s > s]
        if not gaps:
            return np.inf
        return max(0.0, (min(gaps) - 2 * CAR_HALF_EXTENTS[0] - 4.0) / 1.0)

    def _blocker(self, lane: int, s: float) -> TrafficCar | None:
        """A car in ``lane`` too close to merge in front of or behind, if any.

        The window is tighter than the traffic's 1.2 s headway, so the ego fits into the
        gaps of a platoon; the car behind then brakes for it.
        """
        near = [c for c in self.world.traffic if c.lane == lane and -6.5 < c.s - s < 8.5]
        return min(near, key=lambda c: abs(c.s - s), default=None)


# ---------------------------------------------------------------------------------------
# Recording


def _lead_car(world: DrivingWorld) -> TrafficCar | None:
    """The nearest traffic car within 30 m ahead in the ego's lane (farther ones are a few pixels)."""
    s, d = world.road_coords()
    lane = world.road.lane_of(d)
    ahead = [c for c in world.traffic if c.lane == lane and 0 < c.s - s < 30.0]
    return min(ahead, key=lambda c: c.s, default=None)


def _caption(world: DrivingWorld, lead: TrafficCar | None, maneuver: str, heading_change: float) -> str:
    """E.g. "Driving on a two-lane road curving left behind a red car, changing to the left lane."."""
    lanes = _NUMBER_WORDS.get(world.road.num_lanes, str(world.road.num_lanes))
    bend = np.degrees(heading_change)
    road = "straight road" if abs(bend) < 8 else f"road curving {'left' if bend > 0 else 'right'}"
    if lead is not None:
        context = f" behind {'an' if lead.colour[0] in 'aeiou' else 'a'} {lead.colour} car"
    else:
        context = " with traffic in the other lanes" if world.traffic else ""
    phrase = {
        "lane_keep": "keeping to its lane",
        "lane_change_left": "changing to the left lane",
        "lane_change_right": "changing to the right lane",
        "speed_up": "speeding up",
        "slow_down": "slowing down",
        "random": "weaving with erratic steering",
    }[maneuver]
    return f"Driving on a {lanes}-lane {road}{context}, {phrase}."


def view_meta(size: int) -> dict:
    """Camera metadata shared by both backends.

    ``view_extrinsics``: view -> (4, 4) camera-to-ego pose, OpenCV axes (x right, y down,
    z forward); camera-to-world at frame t is ``ego_to_world(trajectory[t]) @ view_extrinsics[view]``.
    ``intrinsics``: the pinhole parameters every view shares, in the orbit simulator's layout.
    """
    k = rig_intrinsics(size)
    return {
        "views": list(VIEWS),
        "view_extrinsics": {v: camera_to_ego(v).tolist() for v in VIEWS},
        "intrinsics": {
            "fx": float(k[0, 0]),
            "fy": float(k[1, 1]),
            "cx": float(k[0, 2]),
            "cy": float(k[1, 2]),
            "width": size,
            "height": size,
        },
        "fovy_deg": CAMERA_FOVY_DEG,
        "ego_frame": "x forward, y left, z up; origin on the ground under the car's centre",
    }


def record_embedded_episode(
    world: DrivingWorld, rng: np.random.Generator, *, frames_per_episode: int, maneuver: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Drive ``world``'s scene with a ``ScriptedDriver``; returns (frames by view, arrays, meta).

    frames: view -> uint8 (T, size, size, 3); arrays: ``trajectory`` (T, 3), ``actions``
    (T-1, 2), ``speed`` (T,) float32. ``meta["collided"]`` / ``["off_road"]`` flag the
    rare episode (mostly ``random`` ones) that touched a car or left the road; recording
    does not stop there, so every clip has T frames.
    """
    driver = ScriptedDriver(world, rng, frames_per_episode - 1, maneuver)
    lead = _lead_car(world)
    s0 = world.road_coords()[0]
    frames: dict[str, list[np.ndarray]] = {v: [] for v in VIEWS}
    states, actions = [], []
    collided = off_road = False
    for t in range(frames_per_episode):
        for view, image in world.render().items():
            frames[view].append(image)
        states.append(world.ego.copy())
        collided |= world.collided()
        off_road |= world.off_road()
        if t < frames_per_episode - 1:
            actions.append(driver.act())
            world.step(actions[-1])
    heading = np.interp([s0, world.road_coords()[0]], world.road.s, world.road.heading)
    executed = driver.maneuver
    if executed.startswith("lane_change") and not driver.lane_changed:
        executed = "lane_keep"
    states_arr = np.array(states)
    arrays = {
        "trajectory": states_arr[:, :3].astype(np.float32),
        "actions": np.array(actions, dtype=np.float32).reshape(-1, 2),
        "speed": states_arr[:, 3].astype(np.float32),
    }
    meta = {
        "caption": _caption(world, lead, executed, float(heading[1] - heading[0])),
        "backend": "embedded",
        "num_traffic": len(world.traffic),
        "num_lanes": world.road.num_lanes,
        "maneuver": executed,
        "collided": bool(collided),
        "off_road": bool(off_road),
        **view_meta(world.size),
    }
    return {v: np.stack(f) for v, f in frames.items()}, arrays, meta


def generate_episodes(
    num_episodes: int,
    *,
    size: int = 64,
    seed: int = 0,
    frames_per_episode: int = 48,
    backend: str = "embedded",
    host: str = "127.0.0.1",
    port: int = 2000,
    timeout: float = 5.0,
) -> Iterator[Episode]:
    """Record scripted driving episodes with front/left/right views at ``FPS`` = 10.

    Each ``Episode`` has ``source="driving"``, ``frames`` = {"front", "left", "right"}
    each uint8 (T, size, size, 3) with T = ``frames_per_episode``, ``primary_view="front"``,
    arrays ``trajectory`` (T, 3) ego (x, y, yaw) in the world frame, ``actions``
    (T-1, 2) (steer, throttle), row t applied between frames t and t+1, ``speed`` (T,)
    m/s (negative when reversing), all float32; meta has ``caption``, ``maneuver``,
    ``backend``, ``seed``, ``num_traffic``, ``views``, ``view_extrinsics`` and
    ``intrinsics`` (``view_meta``). Episode i of a seed is the same on every run.

    ``backend="carla"`` records from a CARLA server at ``host:port`` instead (see
    ``envs.sim.carla_backend``); its episode ids start with ``carla-``. Arguments are
    checked here, before the first episode is asked for.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} unknown; expected one of {BACKENDS}.")
    if frames_per_episode < 2:
        raise ValueError(f"frames_per_episode must be at least 2 (one action), got {frames_per_episode}.")
    if backend == "carla":
        from envs.sim.carla_backend import record_carla_episodes

        return record_carla_episodes(
            num_episodes,
            size=size,
            seed=seed,
            frames_per_episode=frames_per_episode,
            host=host,
            port=port,
            timeout=timeout,
        )
    return _embedded_episodes(num_episodes, size, seed, frames_per_episode)


def _embedded_episodes(num_episodes: int, size: int, seed: int, frames_per_episode: int) -> Iterator[Episode]:
    road_length = 30.0 + frames_per_episode * DT * VehicleParams().max_speed + VIEW_RADIUS
    world: DrivingWorld | None = None
    try:
        for i in range(num_episodes):
            # One generator per episode, so episode i does not depend on how many came before.
            rng = np.random.default_rng([seed, i])
            scene = sample_scene(rng, road_length=road_length)
            if world is None:
                world = DrivingWorld(scene, size)
            else:
                world.load(scene)
            frames, arrays, meta = record_embedded_episode(world, rng, frames_per_episode=frames_per_episode)
            episode_id = f"driving-s{seed}-e{i:06d}"
            logger.debug("recorded %s: %s", episode_id, meta["caption"])
            yield Episode(
                source="driving",
                episode_id=episode_id,
                fps=float(FPS),
                frames=frames,
                arrays=arrays,
                meta={**meta, "seed": seed},
                primary_view="front",
            )
    finally:
        if world is not None:
            world.close()


# ---------------------------------------------------------------------------------------
# Gymnasium environment


class DrivingSimEnv(gym.Env[np.ndarray, np.ndarray]):
    """Drive an ego car along a procedural multi-lane road with traffic.

    ## Description
    Each reset draws a road (straight or curving, 2-3 lanes), 4-8 traffic cars and the
    roadside from ``self.np_random``; the ego starts 30 m in, centred in a random lane
    at 5-10 m/s. Conventions are in the module docstring.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: (steer, throttle); +steer turns left; -throttle
    brakes, then reverses slowly.

    ## Observation Space
    ``Box(0, 255, (size, size, 3), uint8)``: the front camera. All three views
    (front, left, right) are in ``info["views"]``, with ``pose`` (x, y, yaw),
    ``speed``, road coordinates ``s`` and ``lateral``, ``collision`` and ``off_road``.

    ## Rewards
    Metres of progress along the road's centre line during the step, minus
    ``COLLISION_PENALTY`` on the step that collides or leaves the road.

    ## Episode End
    Terminated when the ego touches a traffic car or its centre leaves the road.
    Truncated when it comes within 20 m of the road's end; register with
    ``max_episode_steps`` for a time limit.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        size: int = 64,
        road_length: float = 400.0,
        num_lanes: int | None = None,
        num_traffic: int | None = None,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r} unsupported; expected None or 'rgb_array'.")
        self.render_mode = render_mode
        self.size = size
        self.road_length = road_length
        self.num_lanes = num_lanes
        self.num_traffic = num_traffic
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.world: DrivingWorld | None = None
        self._views: dict[str, np.ndarray] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        scene = sample_scene(
            self.np_random,
            road_length=self.road_length,
            num_lanes=self.num_lanes,
            num_traffic=self.num_traffic,
        )
        if self.world is None:
            self.world = DrivingWorld(scene, self.size)
        else:
            self.world.load(scene)  # reuses the model and GL context
        self._views = self.world.render()
        return self._views["front"], self._info(collision=False, off_road=False)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.world is None:
            raise ResetNeeded("DrivingSimEnv: call reset() before step()")
        action = finite_actions(action, self.action_space)
        s_before = self.world.road_coords()[0]
        self.world.step(action)
        s_after = self.world.road_coords()[0]
        collision, off_road = self.world.collided(), self.world.off_road()
        terminated = collision or off_road
        reward = s_after - s_before - (COLLISION_PENALTY if terminated else 0.0)
        truncated = s_after > self.world.road.length - 20.0
        self._views = self.world.render()
        return self._views["front"], float(reward), terminated, truncated, self._info(collision, off_road)

    def _info(self, collision: bool, off_road: bool) -> dict:
        s, d = self.world.road_coords()
        x, y, yaw, v = self.world.ego
        return {
            "views": self._views,
            "pose": np.array([x, y, yaw], dtype=np.float32),
            "speed": float(v),
            "s": s,
            "lateral": d,
            "collision": collision,
            "off_road": off_road,
        }

    def render(self) -> np.ndarray | None:
        """The front view, uint8 (size, size, 3), when ``render_mode == "rgb_array"``."""
        if self.render_mode != "rgb_array":
            return None
        return self._views["front"]

    def close(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None

"""Procedural road scenes for the embedded driving simulator, and the ego camera rig.

``sample_scene(rng)`` draws a scene: a one-way multi-lane road that is straight or
curves, its roadside (grass, sidewalks, trees, poles, buildings, cones) and the
traffic on it. ``static_geoms`` lists its primitives and ``pooled_mjcf`` writes a
MuJoCo model, only ever rendered, that any scene can be loaded into: the cars are
mocap bodies that the Python simulation moves, contacts are off.

Frames:
    world: right-handed, z up; the road starts at the origin heading along +x.
    road: ``(s, d)``, arc length along the centre line and lateral offset, + to the
        left. Lane 0 is the rightmost lane; lane ``i`` is centred at
        ``d = (i - (num_lanes - 1) / 2) * lane_width``.
    ego: x forward, y left, z up, origin on the ground under the car's centre. A yaw of
        0 faces +x and yaw grows counter-clockwise seen from above (to the left).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from envs.sim.camera_paths import intrinsics_matrix, rotation_opencv

LANE_WIDTH = 3.5
SHOULDER = 0.6
"""Asphalt beyond the outer edge lines, metres."""
SIDEWALK_WIDTH = 2.5
FLOOR_HALF_SIZE = 1000.0
"""Half size of the grass plane, metres; the simulation centres it on the road."""
CAR_HALF_EXTENTS = (2.25, 0.9)
"""Half length and half width of every car's footprint, metres."""

# Cameras rigidly mounted on the ego car's roof, sharing one position so the three views
# tile a ~200 degree panorama; a slight downward pitch keeps the road in the lower half.
VIEW_YAWS_DEG = {"front": 0.0, "left": 60.0, "right": -60.0}
VIEWS = tuple(VIEW_YAWS_DEG)
CAMERA_POSITION = (0.2, 0.0, 1.9)
"""Camera centre in the ego frame, metres: just above the roof (top at 1.45 m)."""
CAMERA_PITCH_DEG = -8.0
"""Elevation of each camera's optical axis; negative looks down."""
CAMERA_FOVY_DEG = 80.0

# Named colours so captions can say "behind a red car"; each draw jitters the rgb a little.
CAR_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.08, 0.07),
    "blue": (0.10, 0.25, 0.80),
    "yellow": (0.95, 0.80, 0.10),
    "green": (0.10, 0.55, 0.20),
    "white": (0.92, 0.92, 0.92),
    "black": (0.07, 0.07, 0.08),
    "orange": (0.95, 0.45, 0.05),
    "silver": (0.60, 0.62, 0.66),
}
EGO_COLOUR = (0.20, 0.30, 0.45)
EGO_GEOM_GROUP = 3
"""The ego car's geoms sit in this group, which the rig cameras do not draw (no roof in view)."""
# Building wall colours; dark bands of windows run across the lower floors.
FACADES: dict[str, tuple[float, float, float]] = {
    "sandstone": (0.76, 0.70, 0.60),
    "brick": (0.62, 0.32, 0.25),
    "concrete": (0.58, 0.59, 0.62),
    "glass": (0.45, 0.58, 0.68),
}


class Road:
    """Centre line of a road made of constant-curvature pieces, sampled every ``ds`` metres.

    Args:
        pieces: ``(length m, curvature 1/m)`` in order; positive curvature turns left.
        num_lanes: lanes, all driving in the +s direction.
        lane_width: metres.
        ds: sampling step of the centre line, metres.
    """

    def __init__(
        self,
        pieces: tuple[tuple[float, float], ...],
        num_lanes: int,
        lane_width: float = LANE_WIDTH,
        ds: float = 0.5,
    ) -> None:
        self.pieces = pieces
        self.num_lanes = num_lanes
        self.lane_width = lane_width
        lengths = np.array([p[0] for p in pieces])
        total = float(lengths.sum())
        self.s = np.arange(0.0, total + ds / 2, ds)  # (N,)
        piece = np.minimum(np.searchsorted(np.cumsum(lengths), self.s[:-1], side="right"), len(pieces) - 1)
        kappa = np.array([p[1] for p in pieces])[piece]  # (N-1,) curvature of each step
        self.heading = np.concatenate([[0.0], np.cumsum(kappa * ds)])  # (N,) unwrapped
        # Each step is an arc; its chord points along the mid-step heading.
        mid = self.heading[:-1] + kappa * ds / 2
        steps = ds * np.stack([np.cos(mid), np.sin(mid)], axis=1)
        self.xy = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])  # (N, 2)

    @property
    def length(self) -> float:
        return float(self.s[-1])

    @property
    def half_width(self) -> float:
        """Distance from the centre line to the outer edge lines, metres."""
        return self.num_lanes * self.lane_width / 2

    def lane_offset(self, lane: int | np.ndarray) -> np.ndarray | float:
        """Lateral offset ``d`` of a lane's centre (lane 0 is the rightmost)."""
        return (np.asarray(lane) - (self.num_lanes - 1) / 2) * self.lane_width

    def lane_of(self, d: float) -> int:
        """Index of the lane containing lateral offset ``d`` (clipped to the road)."""
        return int(np.clip(np.floor(d / self.lane_width + self.num_lanes / 2), 0, self.num_lanes - 1))

    def pose_at(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> np.ndarray:
        """World pose ``(..., 3)`` = (x, y, heading) of road coordinates ``(s, d)``.

        Beyond either end the road continues straight along its end heading.
        """
        s = np.asarray(s, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        inside = np.clip(s, 0.0, self.length)
        heading = np.interp(inside, self.s, self.heading)
        beyond = s - inside
        x = np.interp(inside, self.s, self.xy[:, 0]) + beyond * np.cos(heading) - d * np.sin(heading)
        y = np.interp(inside, self.s, self.xy[:, 1]) + beyond * np.sin(heading) + d * np.cos(heading)
        return np.stack(np.broadcast_arrays(x, y, heading), axis=-1)

    def project(self, x: float, y: float) -> tuple[float, float]:
        """Road coordinates ``(s, d)`` of the world point (x, y)."""
        p = np.array([x, y])
        i = int(np.argmin(np.sum((self.xy - p) ** 2, axis=1)))
        h = self.heading[i]
        rel = p - self.xy[i]
        s = self.s[i] + rel[0] * np.cos(h) + rel[1] * np.sin(h)
        d = -rel[0] * np.sin(h) + rel[1] * np.cos(h)
        return float(s), float(d)


@dataclass
class TrafficCar:
    """A car that follows its lane's centre line (see ``driving.DrivingWorld``).

    ``s`` is its arc length along the road (m), ``speed`` and ``desired_speed`` in m/s,
    ``colour`` a key of ``CAR_COLOURS``.
    """

    lane: int
    s: float
    speed: float
    desired_speed: float
    colour: str


@dataclass(frozen=True)
class Prop:
    """A static roadside object: ``kind`` in tree, pole, building, cone.

    ``size`` is kind-specific: tree (trunk height, crown radius), pole (height,),
    building (half length, half depth, height), cone (height,). Buildings take their
    look from ``facade`` (a key of ``FACADES``), the others from ``rgb``.
    """

    kind: str
    x: float
    y: float
    yaw: float
    size: tuple[float, ...]
    rgb: tuple[float, float, float] = (0.5, 0.5, 0.5)
    facade: str = ""


@dataclass
class DrivingScene:
    """Everything drawn for one episode; the simulation copies the traffic state."""

    road: Road
    ego_lane: int
    ego_s: float
    ego_speed: float
    traffic: list[TrafficCar] = field(default_factory=list)
    props: list[Prop] = field(default_factory=list)
    traffic_rgb: list[tuple[float, float, float]] = field(default_factory=list)


def _sample_pieces(
    rng: np.random.Generator, length: float, straight: bool
) -> tuple[tuple[float, float], ...]:
    """Alternate straights and arcs (radius 80-250 m, up to 70 degrees) until ``length``."""
    if straight:
        return ((length, 0.0),)
    pieces: list[tuple[float, float]] = [(float(rng.uniform(30, 60)), 0.0)]
    total = pieces[0][0]
    while total < length:
        radius = rng.uniform(80, 250)
        arc = min(radius * np.radians(rng.uniform(20, 70)), length - total + 1.0)
        pieces.append((float(arc), float(rng.choice([-1.0, 1.0]) / radius)))
        straight_len = float(rng.uniform(20, 80))
        pieces.append((straight_len, 0.0))
        total += arc + straight_len
    return tuple(pieces)


def _sample_traffic(
    rng: np.random.Generator, road: Road, num_traffic: int, ego_lane: int, ego_s: float
) -> list[TrafficCar]:
    """Place cars in lanes around the ego, at least 14 m apart within a lane.

    The first car goes ahead of the ego in its lane most of the time, so there is a car
    to follow.
    """
    colours = rng.permutation(list(CAR_COLOURS))
    cars: list[TrafficCar] = []
    occupied = [(ego_lane, ego_s)]
    for i in range(num_traffic):
        for _ in range(50):
            if i == 0 and rng.random() < 0.75:
                lane, s = ego_lane, ego_s + rng.uniform(12, 25)
            else:
                lane, s = int(rng.integers(road.num_lanes)), ego_s + rng.uniform(-20, 70)
            if s > 5 and all(abs(s - os) > 14 for ol, os in occupied if ol == lane):
                break
        else:
            continue
        speed = float(rng.uniform(6, 12))
        occupied.append((lane, s))
        cars.append(TrafficCar(lane, float(s), speed, speed, str(colours[i % len(colours)])))
    return cars


def _sample_props(rng: np.random.Generator, road: Road) -> list[Prop]:
    """Roadside objects on both sides: buildings set back, trees, street lights, cones."""
    props: list[Prop] = []
    kerb = road.half_width + SHOULDER + SIDEWALK_WIDTH
    for side in (-1.0, 1.0):
        s = rng.uniform(0, 10)
        while s < road.length:
            half_len = rng.uniform(3, 7)
            if rng.random() < 0.6:
                d = side * (kerb + rng.uniform(8, 14))
                x, y, h = road.pose_at(s + half_len, d)
                size = (half_len, rng.uniform(3, 6), rng.uniform(5, 16))
                props.append(Prop("building", x, y, h, size, facade=str(rng.choice(list(FACADES)))))
            s += 2 * half_len + rng.uniform(2, 12)
        s = rng.uniform(0, 8)
        while s < road.length:
            x, y, h = road.pose_at(s, side * (kerb + rng.uniform(1.5, 5)))
            green = (0.12, rng.uniform(0.35, 0.5), 0.10)
            props.append(Prop("tree", x, y, h, (rng.uniform(1.8, 3.0), rng.uniform(1.2, 2.2)), green))
            s += rng.uniform(8, 22)
        for s in np.arange(rng.uniform(0, 35), road.length, 35.0):
            x, y, h = road.pose_at(s, side * (road.half_width + SHOULDER + 0.4))
            props.append(Prop("pole", x, y, h, (5.5,)))
        for s in rng.uniform(0, road.length, size=int(road.length // 80)):
            for k in range(3):
                x, y, h = road.pose_at(s + 2.5 * k, side * (road.half_width + SHOULDER / 2))
                props.append(Prop("cone", x, y, h, (0.7,), (0.95, 0.40, 0.05)))
    return props


def sample_scene(
    rng: np.random.Generator,
    *,
    road_length: float = 400.0,
    num_lanes: int | None = None,
    num_traffic: int | None = None,
    ego_s: float = 30.0,
) -> DrivingScene:
    """Draw a road (35% straight), 2-3 lanes, 4-8 traffic cars and the roadside.

    The ego starts at arc length ``ego_s`` in a random lane at 5-10 m/s.
    """
    lanes = int(rng.integers(2, 4)) if num_lanes is None else num_lanes
    road = Road(_sample_pieces(rng, road_length, straight=rng.random() < 0.35), lanes)
    ego_lane = int(rng.integers(lanes))
    count = int(rng.integers(4, 9)) if num_traffic is None else num_traffic
    traffic = _sample_traffic(rng, road, count, ego_lane, ego_s)
    traffic_rgb = [
        tuple(np.clip(np.array(CAR_COLOURS[c.colour]) * rng.uniform(0.9, 1.1), 0, 1)) for c in traffic
    ]
    return DrivingScene(
        road=road,
        ego_lane=ego_lane,
        ego_s=ego_s,
        ego_speed=float(rng.uniform(5, 10)),
        traffic=traffic,
        props=_sample_props(rng, road),
        traffic_rgb=traffic_rgb,
    )


# ---------------------------------------------------------------------------------------
# Camera rig


def camera_to_ego(view: str) -> np.ndarray:
    """Pose (4, 4) of a rig camera in the ego frame, OpenCV axes (x right, y down, z forward)."""
    pose = np.eye(4)
    pose[:3, :3] = rotation_opencv(VIEW_YAWS_DEG[view], CAMERA_PITCH_DEG)
    pose[:3, 3] = CAMERA_POSITION
    return pose


def rig_intrinsics(size: int) -> np.ndarray:
    """Pinhole matrix K (3, 3) shared by the rig's square ``size`` x ``size`` cameras."""
    return intrinsics_matrix(CAMERA_FOVY_DEG, size, size)


# ---------------------------------------------------------------------------------------
# Geometry and MJCF
#
# Every scene is rendered by one MuJoCo model whose static geoms are pools of boxes,
# cylinders and spheres: ``static_geoms`` lists what a scene needs, and the simulation
# writes it into the pools (``model.geom_pos`` etc.), hiding spare slots. Reusing the
# model spares the ~0.3 s of building a GL context on every reset.

GEOM_TYPES = ("box", "cylinder", "sphere")
PAINT = (0.95, 0.95, 0.92)
ASPHALT = (0.28, 0.28, 0.30)


class StaticGeom(NamedTuple):
    """One static primitive: MuJoCo ``type`` in ``GEOM_TYPES``, centre ``pos`` (3,), ``yaw`` about z,
    MuJoCo ``size`` (box half extents; cylinder radius, half height; sphere radius) and ``rgb``."""

    type: str
    pos: tuple[float, float, float]
    yaw: float
    size: tuple[float, float, float]
    rgb: tuple[float, float, float]


def _box(
    x: float, y: float, z: float, yaw: float, half: tuple[float, float, float], rgb: tuple
) -> StaticGeom:
    return StaticGeom("box", (x, y, z), yaw, half, rgb)


def _cylinder(x: float, y: float, z: float, radius: float, half_height: float, rgb: tuple) -> StaticGeom:
    return StaticGeom("cylinder", (x, y, z), 0.0, (radius, half_height, 0.0), rgb)


def _strip(
    road: Road, d: float, half_width: float, z: float, half_height: float, rgb: tuple
) -> list[StaticGeom]:
    """Boxes tiling a band of the road at offset ``d``: one per straight, short ones along arcs.

    Arc boxes are at most as long as keeps the chord within 5 cm of the arc, and
    overlap so the outer side of a curve shows no gaps.
    """
    out = []
    start = 0.0
    for length, kappa in road.pieces:
        max_len = 40.0 if kappa == 0 else min(40.0, np.sqrt(0.4 / abs(kappa)))
        n = int(np.ceil(length / max_len))
        seg = length / n
        half_len = seg / 2 + (abs(d) + half_width) * abs(kappa) * seg / 2 + 0.05
        for s in start + seg * (np.arange(n) + 0.5):
            x, y, h = road.pose_at(s, d)
            out.append(_box(x, y, z, h, (half_len, half_width, half_height), rgb))
        start += length
    return out


def _road_geoms(road: Road) -> list[StaticGeom]:
    hw = road.half_width
    out = _strip(road, 0.0, hw + SHOULDER, 0.010, 0.010, ASPHALT)
    for side in (-1.0, 1.0):
        out += _strip(road, side * (hw - 0.15), 0.08, 0.022, 0.004, PAINT)
        kerb = side * (hw + SHOULDER + SIDEWALK_WIDTH / 2)
        out += _strip(road, kerb, SIDEWALK_WIDTH / 2, 0.07, 0.07, (0.70, 0.69, 0.66))
    # Dashed lane dividers: 3 m of paint every 10 m.
    for lane in range(1, road.num_lanes):
        d = (lane - road.num_lanes / 2) * road.lane_width
        for s in np.arange(1.5, road.length, 10.0):
            x, y, h = road.pose_at(s, d)
            out.append(_box(x, y, 0.022, h, (1.5, 0.07, 0.004), PAINT))
    return out


def _prop_geoms(p: Prop) -> list[StaticGeom]:
    if p.kind == "tree":
        trunk, crown = p.size
        crown_geom = StaticGeom("sphere", (p.x, p.y, trunk + crown * 0.7), 0.0, (crown, 0.0, 0.0), p.rgb)
        return [_cylinder(p.x, p.y, trunk / 2, 0.18, trunk / 2, (0.40, 0.26, 0.13)), crown_geom]
    if p.kind == "pole":
        (height,) = p.size
        return [
            _cylinder(p.x, p.y, height / 2, 0.08, height / 2, (0.35, 0.36, 0.38)),
            _box(p.x, p.y, height, p.yaw, (0.3, 0.15, 0.08), (0.9, 0.9, 0.75)),
        ]
    if p.kind == "building":
        half_len, half_depth, height = p.size
        out = [_box(p.x, p.y, height / 2, p.yaw, (half_len, half_depth, height / 2), FACADES[p.facade])]
        # Window bands make scale and motion readable at 64 px; only three, since each
        # geom costs a draw call.
        for z in np.arange(2.0, height - 1.0, 3.5)[:3]:
            out.append(_box(p.x, p.y, z, p.yaw, (half_len * 0.9, half_depth + 0.05, 0.5), (0.16, 0.20, 0.26)))
        return out
    if p.kind == "cone":
        (height,) = p.size
        return [
            _cylinder(p.x, p.y, height / 2, 0.17, height / 2, p.rgb),
            _cylinder(p.x, p.y, height * 0.6, 0.18, 0.07, (0.95, 0.95, 0.95)),
        ]
    raise ValueError(f"Prop kind {p.kind!r} unknown; expected tree, pole, building or cone.")


def static_geoms(scene: DrivingScene) -> list[StaticGeom]:
    """Every static primitive of ``scene``: road surface, markings, sidewalks and props."""
    return _road_geoms(scene.road) + [g for p in scene.props for g in _prop_geoms(p)]


def _rgba(rgb: tuple[float, ...] | np.ndarray, alpha: float = 1.0) -> str:
    return " ".join(f"{c:.3f}" for c in (*rgb, alpha))


def _car_body(name: str, rgb: tuple[float, ...], extra: str = "", group: int = 0) -> str:
    """A mocap car facing +x (body, cabin with dark windows, roof, wheels, lights), origin on the ground.

    Its painted geoms are named ``<name>_paint<k>`` so a scene can recolour them.
    """
    g = f'group="{group}"'
    paint = f'rgba="{_rgba(rgb)}" {g}'
    glass = f'rgba="0.12 0.15 0.20 1" {g}'
    tyre = f'rgba="0.05 0.05 0.05 1" {g}'
    wheels = "\n".join(
        f'<geom type="cylinder" pos="{x} {y} 0.34" euler="1.5708 0 0" size="0.34 0.14" {tyre}/>'
        for x in (1.4, -1.4)
        for y in (0.82, -0.82)
    )
    lamps = [(2.24, "1 0.95 0.7"), (-2.24, "0.9 0.05 0.05")]
    lights = "\n".join(
        f'<geom type="box" pos="{x} {y} 0.72" size="0.03 0.18 0.07" rgba="{c} 1" {g}/>'
        for x, c in lamps
        for y in (0.6, -0.6)
    )
    return f"""<body name="{name}" mocap="true">
  <geom name="{name}_paint0" type="box" pos="0 0 0.72" size="2.22 0.88 0.32" {paint}/>
  <geom type="box" pos="-0.25 0 1.2" size="1.2 0.8 0.2" {glass}/>
  <geom name="{name}_paint1" type="box" pos="-0.25 0 1.42" size="1.15 0.78 0.03" {paint}/>
  {wheels}
  {lights}
  {extra}
</body>"""


def _camera_xml(view: str) -> str:
    """A MuJoCo camera (looks along its -z, y up) matching ``camera_to_ego(view)``."""
    rot = rotation_opencv(VIEW_YAWS_DEG[view], CAMERA_PITCH_DEG)
    right, up = rot[:, 0], -rot[:, 1]
    axes = " ".join(f"{v:.6f}" for v in (*right, *up))
    pos = " ".join(f"{v:.3f}" for v in CAMERA_POSITION)
    return f'<camera name="{view}" pos="{pos}" xyaxes="{axes}" fovy="{CAMERA_FOVY_DEG}"/>'


def pooled_mjcf(size: int, capacity: dict[str, int], num_cars: int) -> str:
    """MJCF of the reusable driving model, rendered at ``size`` x ``size``.

    It holds a grass ``floor`` plane, ``capacity[type]`` hidden static geoms per type of
    ``GEOM_TYPES``, the mocap ``ego`` car carrying the camera rig, and ``num_cars``
    mocap traffic cars ``car<i>``. Every mocap body's origin is on the ground under the
    car's centre, x forward. Contacts are off: the simulation handles collisions itself.
    """
    pools = "\n  ".join(
        f'<geom type="{kind}" size="1 1 1" rgba="0 0 0 0"/>'
        for kind in GEOM_TYPES
        for _ in range(capacity[kind])
    )
    cars = "\n".join(_car_body(f"car{i}", CAR_COLOURS["silver"]) for i in range(num_cars))
    cameras = "\n  ".join(_camera_xml(v) for v in VIEWS)
    # The offscreen buffer is exactly one frame: a larger one only slows context creation.
    # extent scales znear/zfar/fog: 0.002 * 50 = 0.1 m near plane, 6 * 50 = 300 m far plane,
    # fog from 50 m to 160 m (driving.VIEW_RADIUS, beyond which geoms are culled).
    return f"""<mujoco model="road">
<compiler angle="radian"/>
<option timestep="0.1"><flag contact="disable" gravity="disable"/></option>
<statistic extent="50" center="0 0 0"/>
<visual>
  <global offwidth="{size}" offheight="{size}"/>
  <quality shadowsize="0" numslices="10" numstacks="5"/>
  <map znear="0.002" zfar="6" fogstart="1" fogend="3.2"/>
  <rgba fog="0.78 0.84 0.92 1" haze="0.8 0.86 0.95 1"/>
  <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
</visual>
<asset>
  <texture name="sky" type="skybox" builtin="gradient" rgb1="0.35 0.55 0.85" rgb2="0.85 0.9 0.97" width="64"
    height="64"/>
  <texture name="grass" type="2d" builtin="checker" rgb1="0.30 0.50 0.20" rgb2="0.26 0.45 0.17" width="64"
    height="64"/>
  <material name="grass" texture="grass" texrepeat="{FLOOR_HALF_SIZE / 2:.0f} {FLOOR_HALF_SIZE / 2:.0f}"
    specular="0"/>
</asset>
<worldbody>
  <light directional="true" dir="-0.4 0.3 -1" diffuse="0.55 0.55 0.5" specular="0 0 0" castshadow="false"/>
  <geom name="floor" type="plane" size="{FLOOR_HALF_SIZE} {FLOOR_HALF_SIZE} 1" material="grass"/>
  {pools}
  {_car_body("ego", EGO_COLOUR, cameras, group=EGO_GEOM_GROUP)}
  {cars}
</worldbody>
</mujoco>"""

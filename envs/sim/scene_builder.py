"""Random MuJoCo scenes: primitive objects on a textured floor under a gradient sky.

``build_scene(rng)`` draws a scene description (objects, floor, sky, lights) and
renders it as an MJCF string. The camera named ``"cam"`` is a fixed world camera
whose pose the caller overwrites every frame (``model.cam_pos`` / ``cam_quat`` /
``cam_fovy``), so the rendered pose is exactly the one written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("box", "sphere", "cylinder", "capsule")

# Named base colours so captions can say "a red box"; each draw jitters the rgb a little.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "orange": (0.95, 0.50, 0.08),
    "yellow": (0.95, 0.85, 0.15),
    "green": (0.15, 0.70, 0.20),
    "teal": (0.10, 0.60, 0.60),
    "blue": (0.15, 0.30, 0.90),
    "purple": (0.50, 0.20, 0.75),
    "pink": (0.95, 0.45, 0.70),
    "white": (0.92, 0.92, 0.92),
    "black": (0.08, 0.08, 0.08),
    "brown": (0.50, 0.30, 0.12),
}
FLOOR_PALETTE: dict[str, tuple[float, float, float]] = {
    "grey": (0.50, 0.50, 0.50),
    "beige": (0.80, 0.72, 0.55),
    "dark": (0.18, 0.18, 0.20),
    "wooden": (0.55, 0.36, 0.20),
    "blue": (0.30, 0.38, 0.55),
    "green": (0.30, 0.50, 0.30),
}
# Builtin texture patterns and the words a caption uses for them ("" = plain colour).
PATTERNS: dict[str, str] = {"plain": "", "checker": "checkered", "gradient": "shaded", "noise": "speckled"}
SCENE_RADIUS = 1.5
"""Objects lie inside this disk (metres) around the origin, which is the scene centre."""


@dataclass(frozen=True)
class SceneObject:
    """One primitive resting on the floor.

    Attributes:
        shape: one of ``SHAPES``.
        colour: palette name of its main colour.
        pattern: key of ``PATTERNS``.
        pos: (3,) world position of its centre, metres.
        size: MuJoCo geom ``size`` (half-extents for a box, radius [, half-length] otherwise).
        yaw: rotation about the world z axis, radians.
    """

    shape: str
    colour: str
    pattern: str
    pos: tuple[float, float, float]
    size: tuple[float, ...]
    yaw: float

    @property
    def phrase(self) -> str:
        """Caption words, e.g. ``"a red checkered box"``."""
        words = [self.colour, PATTERNS[self.pattern], self.shape]
        text = " ".join(w for w in words if w)
        return f"{'an' if text[0] in 'aeiou' else 'a'} {text}"


@dataclass(frozen=True)
class Scene:
    """A drawn scene and its MJCF text."""

    objects: tuple[SceneObject, ...]
    floor_colour: str
    floor_pattern: str
    xml: str

    def describe(self) -> str:
        """Noun phrase for captions, e.g. ``"a red box and a blue sphere on a grey checkered floor"``."""
        names = [o.phrase for o in self.objects]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        floor = " ".join(w for w in (self.floor_colour, PATTERNS[self.floor_pattern], "floor") if w)
        return f"{listed} on a {floor}"


def _rgb(rng: np.random.Generator, base: tuple[float, float, float], jitter: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(base) + rng.uniform(-jitter, jitter, 3), 0.0, 1.0)


def _fmt(values: np.ndarray | tuple[float, ...]) -> str:
    return " ".join(f"{float(v):.4f}" for v in values)


def _texture_xml(name: str, kind: str, pattern: str, rgb: np.ndarray, rng: np.random.Generator) -> str:
    """A builtin texture in ``pattern``; its second colour is a darker or lighter shade of ``rgb``."""
    other = np.clip(rgb * rng.uniform(0.35, 0.7) if rgb.mean() > 0.4 else rgb + rng.uniform(0.25, 0.5), 0, 1)
    size = 64 if kind == "2d" else 32
    common = f'name="{name}" type="{kind}" width="{size}" height="{size}"'
    if pattern == "noise":
        # MuJoCo has no noise builtin; a flat texture with random marks gives a speckle.
        return (
            f'<texture {common} builtin="flat" rgb1="{_fmt(rgb)}" mark="random" '
            f'random="{rng.uniform(0.05, 0.3):.3f}" markrgb="{_fmt(other)}"/>'
        )
    builtin = "flat" if pattern == "plain" else pattern
    return f'<texture {common} builtin="{builtin}" rgb1="{_fmt(rgb)}" rgb2="{_fmt(other)}"/>'


def _draw_size(shape: str, rng: np.random.Generator) -> tuple[tuple[float, ...], float]:
    """Geom ``size`` and the height of the object's centre above the floor."""
    if shape == "box":
        half = rng.uniform(0.1, 0.4, 3)
        return tuple(half), float(half[2])
    radius = float(rng.uniform(0.1, 0.35))
    if shape == "sphere":
        return (radius,), radius
    half_len = float(rng.uniform(0.1, 0.4))
    # A capsule's caps add its radius on top of the cylinder part.
    return (radius, half_len), half_len + (radius if shape == "capsule" else 0.0)


def _draw_objects(rng: np.random.Generator, num_objects: int) -> list[SceneObject]:
    objects: list[SceneObject] = []
    footprints: list[tuple[np.ndarray, float]] = []
    for _ in range(num_objects):
        shape = str(rng.choice(SHAPES))
        size, height = _draw_size(shape, rng)
        reach = float(np.linalg.norm(size[:2])) if shape == "box" else size[0]
        # Rejection sampling keeps objects apart; after 50 misses the object is skipped.
        for _attempt in range(50):
            xy = rng.uniform(-SCENE_RADIUS, SCENE_RADIUS, 2)
            if np.linalg.norm(xy) > SCENE_RADIUS:
                continue
            if all(np.linalg.norm(xy - c) > reach + r + 0.05 for c, r in footprints):
                break
        else:
            continue
        footprints.append((xy, reach))
        objects.append(
            SceneObject(
                shape=shape,
                colour=str(rng.choice(list(PALETTE))),
                pattern=str(rng.choice(list(PATTERNS), p=[0.4, 0.2, 0.2, 0.2])),
                pos=(float(xy[0]), float(xy[1]), height),
                size=size,
                yaw=float(rng.uniform(0, np.pi)),
            )
        )
    return objects


def _object_xml(i: int, obj: SceneObject, rng: np.random.Generator) -> tuple[str, str]:
    """(asset xml, worldbody xml) of one object."""
    rgb = _rgb(rng, PALETTE[obj.colour])
    spec = f'rgba="{_fmt(rgb)} 1"'
    asset = ""
    if obj.pattern != "plain":
        asset = _texture_xml(f"tex{i}", "cube", obj.pattern, rgb, rng) + (
            f'<material name="mat{i}" texture="tex{i}" specular="{rng.uniform(0, 0.5):.3f}"/>'
        )
        spec = f'material="mat{i}"'
    quat = (np.cos(obj.yaw / 2), 0.0, 0.0, np.sin(obj.yaw / 2))
    body = (
        f'<geom name="obj{i}" type="{obj.shape}" size="{_fmt(obj.size)}" pos="{_fmt(obj.pos)}" '
        f'quat="{_fmt(quat)}" {spec}/>'
    )
    return asset, body


def build_scene(rng: np.random.Generator, *, min_objects: int = 3, max_objects: int = 7) -> Scene:
    """Draw a random scene from ``rng``.

    Args:
        rng: the only source of randomness, so one seed gives one scene.
        min_objects, max_objects: inclusive range of the number of objects asked for
            (a crowded draw may place fewer).

    Returns:
        The scene; ``scene.xml`` loads with ``mujoco.MjModel.from_xml_string`` and has
        one camera ``"cam"`` and geoms ``"floor"``, ``"obj0"``, ``"obj1"``, ...
    """
    objects = _draw_objects(rng, int(rng.integers(min_objects, max_objects + 1)))
    floor_colour = str(rng.choice(list(FLOOR_PALETTE)))
    floor_pattern = str(rng.choice(list(PATTERNS), p=[0.2, 0.4, 0.2, 0.2]))
    floor_rgb = _rgb(rng, FLOOR_PALETTE[floor_colour])
    sky_top = rng.uniform(0.3, 0.9, 3)
    assets = [
        _texture_xml("floortex", "2d", floor_pattern, floor_rgb, rng),
        f'<material name="floormat" texture="floortex" texrepeat="{_fmt(rng.uniform(2, 10, 1).repeat(2))}"/>',
        f'<texture name="sky" type="skybox" builtin="gradient" rgb1="{_fmt(sky_top)}" '
        f'rgb2="{_fmt(sky_top * rng.uniform(0.1, 0.5))}" width="64" height="64"/>',
    ]
    # A coarse render grid (third size) and no reflectance keep software GL fast (about 3x each);
    # directional lights shade a plane uniformly, so the coarse grid loses nothing.
    bodies = ['<geom name="floor" type="plane" size="12 12 2" material="floormat"/>']
    for i, obj in enumerate(objects):
        asset, body = _object_xml(i, obj, rng)
        assets.append(asset)
        bodies.append(body)
    for _ in range(int(rng.integers(1, 4))):
        direction = np.array([*rng.uniform(-1, 1, 2), -rng.uniform(0.5, 1.5)])
        pos = -3 * direction / np.linalg.norm(direction)
        diffuse = rng.uniform(0.3, 0.7) * _rgb(rng, (1.0, 1.0, 1.0), 0.1)
        bodies.append(
            f'<light directional="true" pos="{_fmt(pos)}" dir="{_fmt(direction)}" diffuse="{_fmt(diffuse)}" '
            'castshadow="false"/>'
        )
    ambient = rng.uniform(0.15, 0.4)
    # Initial camera pose is a placeholder: the simulator writes the real one each frame.
    bodies.append('<camera name="cam" mode="fixed" pos="0 -5 2" xyaxes="1 0 0 0 0.4 1" fovy="45"/>')
    xml = f"""<mujoco model="orbit_scene">
  <visual>
    <quality shadowsize="0"/>
    <headlight ambient="{ambient:.3f} {ambient:.3f} {ambient:.3f}" diffuse="0.25 0.25 0.25" specular="0 0 0"/>
    <map znear="0.01" zfar="60"/>
  </visual>
  <asset>
    {chr(10).join(a for a in assets if a)}
  </asset>
  <worldbody>
    {chr(10).join(bodies)}
  </worldbody>
</mujoco>
"""
    return Scene(objects=tuple(objects), floor_colour=floor_colour, floor_pattern=floor_pattern, xml=xml)

"""Camera state, its velocity actions, and smooth random paths of one motion type.

Camera model (all angles in the world frame, z up):
    ``pos`` (3,) metres; ``yaw`` heading about +z (0 looks along +x, +90 deg along +y);
    ``pitch`` elevation of the viewing direction (+ looks up); ``fovy`` vertical field
    of view in degrees (MuJoCo's ``cam_fovy``).

Action ``a`` in [-1, 1]^5, one velocity per axis, each scaled by ``MAX_RATE``:
    ``a[0]`` orbit: rotate the camera about the vertical axis through the scene centre,
    heading turned by the same angle; + moves the camera to its right (``orbit_right``).
    ``a[1]`` dolly: move along the viewing direction; + forward (``dolly_in``).
    ``a[2]`` pan: yaw in place; + turns right (``pan_right``, yaw decreases).
    ``a[3]`` tilt: pitch in place; + looks up (``tilt_up``).
    ``a[4]`` zoom: scale ``fovy`` by ``exp(-a[4] * MAX_RATE[4])``; + narrows (``zoom_in``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTION_NAMES = ("orbit", "dolly", "pan", "tilt", "zoom")
MAX_RATE = np.array([4.0, 0.1, 3.0, 2.0, 0.03])
"""Per-step magnitude of a unit action: degrees, metres, degrees, degrees, log-fovy."""
MOTIONS = (
    "orbit_left",
    "orbit_right",
    "dolly_in",
    "dolly_out",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "static",
)
MOTION_PHRASES = {
    "orbit_left": "orbits to the left around them",
    "orbit_right": "orbits to the right around them",
    "dolly_in": "dollies in towards them",
    "dolly_out": "dollies out away from them",
    "pan_left": "pans to the left",
    "pan_right": "pans to the right",
    "tilt_up": "tilts up",
    "tilt_down": "tilts down",
    "zoom_in": "zooms in",
    "zoom_out": "zooms out",
    "static": "holds still",
}
# Axis and sign of each labelled motion in the action vector.
_MOTION_AXIS = {
    "orbit_left": (0, -1.0),
    "orbit_right": (0, 1.0),
    "dolly_in": (1, 1.0),
    "dolly_out": (1, -1.0),
    "pan_left": (2, -1.0),
    "pan_right": (2, 1.0),
    "tilt_up": (3, 1.0),
    "tilt_down": (3, -1.0),
    "zoom_in": (4, 1.0),
    "zoom_out": (4, -1.0),
}
PITCH_LIMITS = (-75.0, 60.0)
FOVY_LIMITS = (15.0, 100.0)
MIN_HEIGHT = 0.3
"""The camera never dollies below this height, so it stays above the floor."""


@dataclass(frozen=True)
class CameraState:
    """Pose and field of view of the free camera (see module docstring)."""

    pos: tuple[float, float, float]
    yaw: float
    pitch: float
    fovy: float


def rotation_opencv(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation (3, 3) in the OpenCV convention.

    Columns are the camera's x (right), y (down) and z (viewing direction) in world
    coordinates; angles in degrees.
    """
    y, p = np.radians(yaw), np.radians(pitch)
    forward = np.array([np.cos(p) * np.cos(y), np.cos(p) * np.sin(y), np.sin(p)])
    right = np.array([np.sin(y), -np.cos(y), 0.0])
    up = np.cross(right, forward)
    return np.stack([right, -up, forward], axis=1)


def opencv_from_mujoco(rotation: np.ndarray) -> np.ndarray:
    """Swap a camera rotation (3, 3) between MuJoCo (y up, looks along -z) and OpenCV axes.

    The map flips the y and z columns, so it is its own inverse.
    """
    return rotation * np.array([1.0, -1.0, -1.0])


def intrinsics_matrix(fovy: float, width: int, height: int) -> np.ndarray:
    """Pinhole matrix K (3, 3) that reproduces MuJoCo's projection exactly.

    MuJoCo spans the image height with ``fovy`` and keeps pixels square, so
    ``fx = fy = (height / 2) / tan(fovy / 2)``. Pixel centres sit at integer
    coordinates (column ``u``, row ``v`` from the top-left pixel), so the optical
    axis lands on ``((width - 1) / 2, (height - 1) / 2)``.
    """
    f = (height / 2) / np.tan(np.radians(fovy) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def apply_action(state: CameraState, action: np.ndarray, centre: np.ndarray) -> CameraState:
    """Advance the camera by one step of ``action`` (5,), clipped to [-1, 1].

    Args:
        centre: (3,) point the orbit turns around (only its x, y matter).
    """
    orbit, dolly, pan, tilt, zoom = np.clip(action, -1.0, 1.0) * MAX_RATE
    pos = np.asarray(state.pos, dtype=np.float64)
    # Orbit: rotating counter-clockwise (seen from above) moves the camera to its right.
    angle = np.radians(orbit)
    c, s = np.cos(angle), np.sin(angle)
    offset = pos[:2] - centre[:2]
    pos[:2] = centre[:2] + np.array([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1]])
    yaw = state.yaw + orbit - pan
    forward = rotation_opencv(yaw, state.pitch)[:, 2]
    moved = pos + dolly * forward
    if moved[2] >= MIN_HEIGHT:
        pos = moved
    return CameraState(
        pos=(float(pos[0]), float(pos[1]), float(pos[2])),
        yaw=float((yaw + 180.0) % 360.0 - 180.0),
        pitch=float(np.clip(state.pitch + tilt, *PITCH_LIMITS)),
        fovy=float(np.clip(state.fovy * np.exp(-zoom), *FOVY_LIMITS)),
    )


def initial_state(rng: np.random.Generator, centre: np.ndarray) -> CameraState:
    """A camera 3-5 m from ``centre`` (3,), looking roughly at it."""
    azimuth = rng.uniform(-np.pi, np.pi)
    distance = rng.uniform(3.0, 5.0)
    pos = np.array([*(centre[:2] + distance * np.array([np.cos(azimuth), np.sin(azimuth)])), 0.0])
    pos[2] = rng.uniform(1.2, 2.8)
    # Aim near, not exactly at, the centre so paths do not all share the same framing.
    target = centre + rng.uniform(-0.3, 0.3, 3)
    delta = target - pos
    return CameraState(
        pos=(float(pos[0]), float(pos[1]), float(pos[2])),
        yaw=float(np.degrees(np.arctan2(delta[1], delta[0]))),
        pitch=float(np.degrees(np.arctan2(delta[2], np.linalg.norm(delta[:2])))),
        fovy=float(rng.uniform(35.0, 60.0)),
    )


def _speed_profile(num_steps: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth positive weights (num_steps,) with mean 1: a few slow random sinusoids."""
    t = np.linspace(0.0, 1.0, num_steps)
    wobble = sum(
        rng.uniform(0.0, 0.2) * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    weights = 1.0 + wobble
    return weights / weights.mean()


def motion_actions(motion: str, num_steps: int, rng: np.random.Generator, state: CameraState) -> np.ndarray:
    """A smooth action sequence (num_steps, 5) float32 that performs ``motion``.

    Only the motion's axis moves, always with the labelled sign, so the label holds
    for every step. Unbounded motions (orbit, pan) draw a mean speed; bounded ones
    (dolly, tilt, zoom) draw a total change so long shots stay inside the limits.

    Args:
        motion: one of ``MOTIONS``.
        state: the starting camera, which sets the dolly distance scale.
    """
    if motion not in MOTIONS:
        raise ValueError(f"motion {motion!r} is not one of {MOTIONS}.")
    actions = np.zeros((num_steps, len(ACTION_NAMES)), dtype=np.float32)
    if motion == "static" or num_steps == 0:
        return actions
    axis, sign = _MOTION_AXIS[motion]
    if axis == 0:
        mean_rate = rng.uniform(0.8, 2.5)
    elif axis == 2:
        mean_rate = rng.uniform(0.4, 1.2)
    else:
        total = {
            1: rng.uniform(0.25, 0.5) * float(np.linalg.norm(state.pos)),
            3: rng.uniform(10.0, 30.0),
            4: np.log(rng.uniform(1.4, 2.2)),
        }[axis]
        mean_rate = total / num_steps
    actions[:, axis] = np.clip(sign * mean_rate * _speed_profile(num_steps, rng) / MAX_RATE[axis], -1.0, 1.0)
    return actions

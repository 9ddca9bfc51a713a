"""Camera paths and drives for the Generate tab: the poses a camera or driving world model follows.

A camera path is one motion of ``envs.sim.camera_paths.MOTIONS`` at a constant speed: its
per-step action applied to the start camera by ``apply_action`` gives each frame's
camera-to-world pose (OpenCV axes) and intrinsics. A drive is steer and throttle per frame,
integrated into ego poses (x, y, yaw) as ``DrivingWorldModelEnv`` steps
(``envs.driving_world_env.ego_trajectory``, the simulators' kinematic bicycle model). The
ground-truth simulators replay the same actions, so the page can show what the model should have
drawn. Simulator functions here must run on the
``Simulators`` thread (MuJoCo's EGL context belongs to one thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.driving_world_env import simulator_start
from envs.sim.camera_paths import (
    CameraState,
    apply_action,
    intrinsics_matrix,
    motion_actions,
    rotation_opencv,
)
from envs.sim.driving import DrivingSimEnv
from envs.sim.orbit import SCENE_CENTRE, OrbitSimEnv

DRIVES = ("constant", "lane change left", "lane change right")
# Where an uploaded image is assumed to be taken from: 4 m from the orbit centre, looking at it
# (the middle of the orbit simulator's training cameras). Poses are then made relative to it.
UPLOAD_DISTANCE_M, UPLOAD_HEIGHT_M = 4.0, 1.5


def camera_actions(motion: str, speed: float, horizon: int) -> np.ndarray:
    """``motion``'s action (horizon, 5) at a constant ``speed`` in (0, 1] of its axis' top rate."""
    if not 0 < speed <= 1:
        raise ValueError(f"camera speed must be in (0, 1], got {speed}")
    # motion_actions moves only the motion's axis, with its sign: its direction is the unit action.
    state = CameraState(pos=(UPLOAD_DISTANCE_M, 0.0, UPLOAD_HEIGHT_M), yaw=180.0, pitch=0.0, fovy=45.0)
    direction = np.sign(motion_actions(motion, 1, np.random.default_rng(0), state)[0])  # (5,)
    return np.repeat((direction * speed)[None], horizon, axis=0).astype(np.float32)


def camera_to_world(state: CameraState) -> np.ndarray:
    """The (4, 4) camera-to-world pose (OpenCV axes) of ``state``."""
    pose = np.eye(4)
    pose[:3, :3] = rotation_opencv(state.yaw, state.pitch)
    pose[:3, 3] = state.pos
    return pose


def camera_path(
    start: CameraState, actions: np.ndarray, size: tuple[int, int], *, context_frames: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Poses (K + T, 4, 4) and intrinsics (K + T, 3, 3) of ``K`` still context frames at ``start``,
    then one frame after each of the T ``actions`` (T, 5). ``size`` is the frames' (H, W)."""
    states = [start] * context_frames
    for action in actions:
        states.append(apply_action(states[-1], action, SCENE_CENTRE))
    h, w = size
    poses = np.stack([camera_to_world(s) for s in states])
    intrinsics = np.stack([intrinsics_matrix(s.fovy, w, h) for s in states])
    return poses, intrinsics


def upload_start(intrinsics: np.ndarray, height: int) -> CameraState:
    """A start camera for an uploaded image, with the field of view of ``intrinsics`` (3, 3).

    Only poses relative to the first frame reach the model (see ``relative_to_first``); this
    camera sets the orbit radius and the dolly direction.
    """
    fovy = float(np.degrees(2 * np.arctan(height / 2 / intrinsics[1, 1])))
    pitch = float(np.degrees(np.arctan2(SCENE_CENTRE[2] - UPLOAD_HEIGHT_M, UPLOAD_DISTANCE_M)))
    pos = (float(SCENE_CENTRE[0] - UPLOAD_DISTANCE_M), float(SCENE_CENTRE[1]), UPLOAD_HEIGHT_M)
    return CameraState(pos=pos, yaw=0.0, pitch=pitch, fovy=fovy)


def relative_to_first(poses: np.ndarray) -> np.ndarray:
    """Poses (T, 4, 4) in the frame of the first, which becomes the identity."""
    return np.linalg.inv(poses[0]) @ poses


@dataclass
class OrbitRollout:
    """The orbit simulator along a camera path: context, true frames and the start camera."""

    context: np.ndarray  # uint8 (K, H, W, 3)
    true: np.ndarray  # uint8 (T, H, W, 3): frame t after action t
    start: CameraState


def orbit_rollout(seed: int, size: tuple[int, int], context_frames: int, actions: np.ndarray) -> OrbitRollout:
    """Reset an orbit scene with ``seed``, hold the camera for the context, then follow ``actions``."""
    env = OrbitSimEnv(height=size[0], width=size[1])
    try:
        frame, _ = env.reset(seed=seed)
        assert env.state is not None
        start = env.state
        context = np.stack([frame] * context_frames)  # nothing moves while the camera holds still
        true = [env.step(action)[0] for action in actions]
    finally:
        env.close()
    return OrbitRollout(context, np.stack(true), start)


def drive_actions(drive: str, steer: float, throttle: float, horizon: int) -> np.ndarray:
    """(steer, throttle) per frame (horizon, 2).

    ``constant`` holds both; a lane change steers one sine period of amplitude ``|steer|``
    (into the next lane, then straight again; + is left), the throttle held.
    """
    if drive not in DRIVES:
        raise ValueError(f"drive must be one of {DRIVES}, got {drive!r}")
    if not (-1 <= steer <= 1 and -1 <= throttle <= 1):
        raise ValueError(f"steer and throttle must be in [-1, 1], got {steer}, {throttle}")
    if drive == "constant":
        steering = np.full(horizon, steer)
    else:
        if steer == 0:
            raise ValueError("a lane change needs a steer amount: move the steer slider off 0")
        sign = 1.0 if drive == "lane change left" else -1.0
        steering = sign * abs(steer) * np.sin(2 * np.pi * (np.arange(horizon) + 0.5) / horizon)
    return np.stack([steering, np.full(horizon, throttle)], axis=1).astype(np.float32)


@dataclass
class DrivingRollout:
    """The driving simulator on one drive: the context views and poses, and the true views after."""

    context: dict[str, np.ndarray]  # view -> uint8 (K, h, h, 3)
    poses: np.ndarray  # (K, 3) ego poses of the context frames
    speed: float  # m/s at the last context frame
    true: dict[str, np.ndarray]  # view -> uint8 (T, h, h, 3): frame t after action t


def driving_rollout(seed: int, height: int, context_frames: int, actions: np.ndarray) -> DrivingRollout:
    """Reset a road with ``seed``, cruise for the context frames (``simulator_start``, as
    ``DrivingWorldModelEnv`` starts), then drive ``actions`` (T, 2). Collisions do not stop it:
    the page shows what happens."""
    env = DrivingSimEnv(size=height)
    try:
        context, poses, speed = simulator_start(env, seed, context_frames)
        after = [env.step(action)[-1]["views"] for action in actions]
        true = {v: np.stack([views[v] for views in after]) for v in context}
    finally:
        env.close()
    return DrivingRollout(context, poses, speed, true)

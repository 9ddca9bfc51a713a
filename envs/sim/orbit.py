"""Camera-motion scenes: random primitives filmed by a camera on labelled paths.

Conventions (other modules rely on them):

* ``camera`` arrays are camera-to-world (4, 4) float32 in the OpenCV convention:
  camera x right, y down, z along the viewing direction. They are read back from
  MuJoCo (``data.cam_xpos`` / ``cam_xmat``) after the pose is written, so they are the
  pose the renderer used.
* Intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, with
  ``fx = fy = (H / 2) / tan(fovy / 2)``, ``cx = (W - 1) / 2``, ``cy = (H - 1) / 2``:
  a world point ``p`` with ``[X, Y, Z] = inv(c2w) @ [p, 1]`` lands on pixel column
  ``u = fx X / Z + cx`` and row ``v = fy Y / Z + cy``, pixel centres at integers,
  row 0 the top of the frame.
* Actions are camera velocities, see ``envs.sim.camera_paths`` (orbit, dolly, pan,
  tilt, zoom).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.error import ResetNeeded

from envs.actions import finite_actions
from envs.sim.camera_paths import (
    ACTION_NAMES,
    MOTION_PHRASES,
    MOTIONS,
    CameraState,
    apply_action,
    initial_state,
    intrinsics_matrix,
    motion_actions,
    opencv_from_mujoco,
    rotation_opencv,
)
from envs.sim.episode import Episode
from envs.sim.offscreen import OffscreenRenderer
from envs.sim.scene_builder import Scene, build_scene

logger = logging.getLogger(__name__)

FPS = 24.0
SCENE_CENTRE = np.array([0.0, 0.0, 0.2])
"""Orbit axis and aiming point: the middle of the object disk, a little above the floor."""


class OrbitSimEnv(gym.Env[np.ndarray, np.ndarray]):
    """A random scene of primitives filmed by a camera the agent moves.

    ## Description
    Every ``reset`` builds a new MuJoCo scene (3-7 boxes, spheres, cylinders and
    capsules with random colours and builtin textures, a textured floor, a gradient
    sky, random lights) and places the camera 3-5 m from the scene centre,
    looking at it. Nothing in the scene moves except the camera.

    ## Action Space
    ``Box(-1, 1, (5,), float32)``: velocities (orbit, dolly, pan, tilt, zoom), scaled
    per step by ``camera_paths.MAX_RATE``; + means orbit right, dolly in, pan right,
    tilt up, zoom in.

    ## Observation Space
    ``Box(0, 255, (height, width, 3), uint8)``: the rendered frame.

    ## Rewards
    Always 0: this is a data generator, not a task.

    ## Episode End
    Never terminates; the caller truncates. ``info`` carries ``camera`` (4, 4)
    camera-to-world (OpenCV axes) and ``intrinsics`` (3, 3) of the returned frame.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        render_mode: str | None = "rgb_array",
        *,
        height: int = 64,
        width: int | None = None,
        min_objects: int = 3,
        max_objects: int = 7,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None.")
        if not 1 <= min_objects <= max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}.")
        self.render_mode = render_mode
        self.height = height
        self.width = width or height
        self.min_objects = min_objects
        self.max_objects = max_objects
        self.observation_space = gym.spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(ACTION_NAMES),), np.float32)
        self.scene: Scene | None = None
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self.state: CameraState | None = None
        self._renderer: OffscreenRenderer | None = None
        self._frame: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Build a new scene and camera from ``self.np_random``; ``options`` is unused."""
        super().reset(seed=seed)
        self.scene = build_scene(self.np_random, min_objects=self.min_objects, max_objects=self.max_objects)
        self.model = mujoco.MjModel.from_xml_string(self.scene.xml)
        self.data = mujoco.MjData(self.model)
        if self._renderer is None:
            self._renderer = OffscreenRenderer(self.height, self.width)
        self._renderer.set_model(self.model)
        self.state = initial_state(self.np_random, SCENE_CENTRE)
        return self._observe()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise ResetNeeded("OrbitSimEnv: call reset() before step()")
        action = finite_actions(action, self.action_space)
        self.state = apply_action(self.state, action.astype(np.float64), SCENE_CENTRE)
        obs, info = self._observe()
        return obs, 0.0, False, False, info

    def render(self) -> np.ndarray | None:
        """The last observed frame (H, W, 3) uint8, or None without ``rgb_array``."""
        if self.render_mode != "rgb_array":
            return None
        return self._frame

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Write the camera into the model, render, and read the exact pose back."""
        assert self.model is not None and self.data is not None and self._renderer is not None
        assert self.state is not None
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(
            quat, opencv_from_mujoco(rotation_opencv(self.state.yaw, self.state.pitch)).ravel()
        )
        self.model.cam_pos[0] = self.state.pos
        self.model.cam_quat[0] = quat
        self.model.cam_fovy[0] = self.state.fovy
        mujoco.mj_forward(self.model, self.data)
        self._frame = self._renderer.render(self.data, camera=0)
        c2w = np.eye(4)
        c2w[:3, :3] = opencv_from_mujoco(self.data.cam_xmat[0].reshape(3, 3))
        c2w[:3, 3] = self.data.cam_xpos[0]
        info = {
            "camera": c2w.astype(np.float32),
            "intrinsics": intrinsics_matrix(self.state.fovy, self.width, self.height).astype(np.float32),
        }
        return self._frame.copy(), info


def _intrinsics_meta(k: np.ndarray, width: int, height: int) -> dict[str, float]:
    return {
        "fx": float(k[0, 0]),
        "fy": float(k[1, 1]),
        "cx": float(k[0, 2]),
        "cy": float(k[1, 2]),
        "width": width,
        "height": height,
    }


def generate_episodes(
    num_episodes: int,
    *,
    size: int = 64,
    seed: int = 0,
    frames_per_episode: int = 48,
    motions: tuple[str, ...] | None = None,
    width: int | None = None,
) -> Iterator[Episode]:
    """Yield episodes, each a new scene filmed along one labelled camera motion.

    The path is an action sequence fed through ``OrbitSimEnv``, so ``actions`` replays it.

    Args:
        size: frame height (and width unless ``width`` is given), pixels.
        seed: run seed; episode ``i`` depends only on ``(seed, i)``.
        motions: labels to draw from (default all of ``camera_paths.MOTIONS``).

    Yields:
        ``Episode`` with ``source="orbit"``, ``frames["main"]`` (T, H, W, 3) uint8 and arrays
        ``camera`` (T, 4, 4) camera-to-world (OpenCV axes), ``intrinsics`` (T, 3, 3) (zoom
        changes them per frame), ``actions`` (T-1, 5) float32. ``meta`` has ``intrinsics``
        (frame 0, as ``fx, fy, cx, cy, width, height``), ``motion``, ``caption``,
        ``num_objects``, ``objects``, ``action_names``, ``seed`` and ``episode_index``.
    """
    if num_episodes < 0:
        raise ValueError(f"num_episodes must be >= 0, got {num_episodes}.")
    if frames_per_episode < 1:
        raise ValueError(f"frames_per_episode must be >= 1, got {frames_per_episode}.")
    motions = motions or MOTIONS
    unknown = set(motions) - set(MOTIONS)
    if unknown:
        raise ValueError(f"unknown motions {sorted(unknown)}; choose from {MOTIONS}.")
    env = OrbitSimEnv(height=size, width=width)
    try:
        for i in range(num_episodes):
            rng = np.random.default_rng([seed, i])
            motion = str(rng.choice(motions))
            frame, info = env.reset(seed=int(rng.integers(2**31)))
            assert env.scene is not None and env.state is not None
            actions = motion_actions(motion, frames_per_episode - 1, rng, env.state)
            frames, cameras, intrinsics = [frame], [info["camera"]], [info["intrinsics"]]
            for action in actions:
                frame, _, _, _, info = env.step(action)
                frames.append(frame)
                cameras.append(info["camera"])
                intrinsics.append(info["intrinsics"])
            caption = f"{env.scene.describe()}, filmed as the camera {MOTION_PHRASES[motion]}."
            yield Episode(
                source="orbit",
                episode_id=f"orbit-s{seed}-e{i:06d}",
                fps=FPS,
                frames={"main": np.stack(frames)},
                arrays={"camera": np.stack(cameras), "intrinsics": np.stack(intrinsics), "actions": actions},
                meta={
                    "intrinsics": _intrinsics_meta(intrinsics[0], env.width, env.height),
                    "motion": motion,
                    "caption": caption[0].upper() + caption[1:],
                    "num_objects": len(env.scene.objects),
                    "objects": [
                        {"shape": o.shape, "colour": o.colour, "pattern": o.pattern, "pos": list(o.pos)}
                        for o in env.scene.objects
                    ],
                    "action_names": list(ACTION_NAMES),
                    "seed": seed,
                    "episode_index": i,
                },
            )
            logger.debug("orbit episode %d: %s, %d objects", i, motion, len(env.scene.objects))
    finally:
        env.close()

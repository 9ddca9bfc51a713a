"""Fetch manipulation ground truth: a rendering Gymnasium env and an episode generator.

``FetchSimEnv`` wraps gymnasium-robotics' MuJoCo FetchPush-v4 / FetchPickAndPlace-v4 with a fixed
camera that frames the table's work area (gripper, black block and red goal marker) at small
square resolutions, and shadows off (a large share of MuJoCo's offscreen render time).
``generate_episodes`` drives it with a seeded mix of scripted policies (``envs.sim.fetch_policies``)
and yields ``Episode`` objects for recording as action-conditioned training clips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium_robotics.envs.fetch.pick_and_place import MujocoFetchPickAndPlaceEnv
from gymnasium_robotics.envs.fetch.push import MujocoFetchPushEnv

from envs.actions import finite_actions
from envs.sim.episode import Episode
from envs.sim.fetch_coverage import block_moved, block_moved_off_goal, reached_goal
from envs.sim.fetch_policies import (
    AnglePush,
    FetchPolicy,
    NearBlockRandomPolicy,
    PickAndPlaceExpert,
    PushExpert,
    SmoothRandomPolicy,
)

logger = logging.getLogger(__name__)

TASKS: dict[str, type[gym.Env]] = {"push": MujocoFetchPushEnv, "pickandplace": MujocoFetchPickAndPlaceEnv}
# New kinds go at the end: a mix draws its kind by index, and the default mix's episodes must not
# change when kinds it does not use are added.
POLICIES = (
    "expert",
    "noisy_expert",
    "random",
    "mildly_noisy_expert",
    "very_noisy_expert",
    "angle_push",
    "random_near_block",
)
# Half the episodes are near-clean demonstrations, the rest widen the state and action coverage a
# world model needs (failed pushes, missed grasps, arbitrary arm motion).
DEFAULT_POLICY_MIX: Mapping[str, float] = {"expert": 0.5, "noisy_expert": 0.25, "random": 0.25}
# Contact for a world model to learn from (DINO-WM, arXiv 2411.04983, Sec. 4.4: coverage, not
# frame quality, made its model plannable): experts at four noise levels (their near misses and
# recoveries), pushes from every angle, and random motion that starts at the block. Random from the
# start pose, which seldom reaches the block, keeps a small share for the arm's free motion.
COVERAGE_POLICY_MIX: Mapping[str, float] = {
    "expert": 0.1,
    "mildly_noisy_expert": 0.15,
    "noisy_expert": 0.15,
    "very_noisy_expert": 0.1,
    "angle_push": 0.25,
    "random_near_block": 0.2,
    "random": 0.05,
}
POLICY_MIXES: dict[str, Mapping[str, float]] = {
    "default": DEFAULT_POLICY_MIX,
    "coverage": COVERAGE_POLICY_MIX,
}
"""Named mixes for ``generate_episodes(policy_mix=...)`` and ``worldfm simulate fetch --policy-mix``."""
# Stationary std of the AR(1) action noise added to each expert kind.
EXPERT_NOISE = {"expert": 0.05, "mildly_noisy_expert": 0.2, "noisy_expert": 0.4, "very_noisy_expert": 0.8}
MIN_SIZE = 16
OBS_MODES = ("state", "pixels")
"""``FetchSimEnv`` observations: Fetch's state dict, or the rendered frame a ``WorldModelEnv`` returns."""
# MuJoCo free cameras looking across the table from its far side (+y), tilted down: the arm comes
# in from the top left, so block and goal are rarely hidden behind it, and the 30 x 30 cm area
# where blocks and goals spawn fills the frame. A narrow field of view from further away keeps the
# elbow, which swings toward the camera when the arm reaches to +y, from swelling across the
# frame. Pick-and-place, seen from lower, also frames the air above the table, where half its
# goals float (up to 45 cm up) with the gripper above them.
DEFAULT_CAMERAS: dict[str, Mapping[str, Any]] = {
    "push": {
        "fovy": 20.0,
        "distance": 1.7,
        "azimuth": 270.0,
        "elevation": -45.0,
        "lookat": (1.33, 0.75, 0.45),
    },
    "pickandplace": {
        "fovy": 20.0,
        "distance": 2.15,
        "azimuth": 270.0,
        "elevation": -30.0,
        "lookat": (1.34, 0.745, 0.64),
    },
}
CAPTIONS = {
    ("push", "expert"): "A Fetch robot arm pushes a black block across a white table toward a red target.",
    ("pickandplace", "expert"): "A Fetch robot arm picks up a black block and places it at a red target.",
    (
        "push",
        "random",
    ): "A Fetch robot arm moves around a white table next to a black block and a red target.",
    ("pickandplace", "random"): (
        "A Fetch robot arm opens and closes its gripper as it moves around a black block and a red target."
    ),
}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"Unknown Fetch task {task!r}; task must be one of {sorted(TASKS)}.")


# The MuJoCo data arrays a Fetch step depends on (with data.time); the mocap target is the arm's.
PHYSICS_FIELDS = ("qpos", "qvel", "act", "ctrl", "mocap_pos", "mocap_quat")


class FetchState(NamedTuple):
    """What ``FetchSimEnv.get_state`` copies: MuJoCo's ``PHYSICS_FIELDS`` (in that order), its
    time, the goal and the episode's step count."""

    physics: tuple[np.ndarray, ...]
    time: float
    goal: np.ndarray
    steps: int


class FetchSimEnv(gym.Env[dict[str, np.ndarray] | np.ndarray, np.ndarray]):
    """Fetch push / pick-and-place with a fixed work-area camera and square renders.

    ## Description
    A 7-DoF Fetch arm, position-controlled through a mocap target, must bring a 5 cm black block to
    a goal shown as a red sphere (gymnasium-robotics FetchPush-v4 / FetchPickAndPlace-v4). In push
    the fingers are blocked shut; in pick-and-place half the goals float up to 45 cm above the table.

    ## Spaces
    - Action: ``Box(-1, 1, (4,), float32)``: gripper displacement ``0.05 * (dx, dy, dz)`` metres per
      step and finger command (> 0 opens; ignored in push).
    - Observation, ``obs_mode="state"`` (default): the Fetch dict ``{"observation": (25,),
      "achieved_goal": (3,), "desired_goal": (3,)}``, float64, kept whole so scripted policies can
      use it.
    - Observation, ``obs_mode="pixels"``: ``Box(0, 255, (size, size, 3), uint8)``, the rendered
      frame: the observation (and action) space of the learned ``worldfm/<Task>-WM-v0`` at the
      model's frame size, so a policy trained in the model runs here unchanged. The state dict is
      then ``info["state"]``, privileged, for evaluation and scripted experts only.
    - ``render()``: ``uint8 (size, size, 3)``.

    ## Rewards
    Fetch's sparse reward: 0 when the block is within 5 cm of the goal, else -1.
    ``info["is_success"]`` (also returned by ``reset``) is 1.0 on success, else 0.0.

    ## Episode End
    Never terminates (Fetch has no terminal state); truncates after ``max_episode_steps`` steps
    when that is not ``None``.

    One step is 20 MuJoCo substeps of 2 ms, so ``dt = 0.04`` s and frames play back at 25 fps.

    Args:
        task: ``"push"`` or ``"pickandplace"``.
        size: side of the square render in pixels, at least 16.
        render_mode: only ``"rgb_array"``.
        max_episode_steps: truncation horizon; ``None`` never truncates.
        camera: MuJoCo free-camera settings (``distance``, ``azimuth``, ``elevation``, ``lookat``)
            and vertical field of view ``fovy`` in degrees (default 45); ``None`` uses the task's
            entry in ``DEFAULT_CAMERAS``.
        obs_mode: ``"state"`` or ``"pixels"`` (see Spaces).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        task: str = "push",
        *,
        size: int = 64,
        render_mode: str = "rgb_array",
        max_episode_steps: int | None = 50,
        camera: Mapping[str, Any] | None = None,
        obs_mode: str = "state",
    ) -> None:
        _check_task(task)
        if obs_mode not in OBS_MODES:
            raise ValueError(f"FetchSimEnv obs_mode must be one of {list(OBS_MODES)}, got {obs_mode!r}.")
        if size < MIN_SIZE:
            raise ValueError(f"FetchSimEnv size must be at least {MIN_SIZE} pixels, got {size}.")
        if render_mode not in self.metadata["render_modes"]:
            allowed = self.metadata["render_modes"]
            raise ValueError(f"FetchSimEnv render_mode must be one of {allowed}, got {render_mode!r}.")
        cam = dict(DEFAULT_CAMERAS[task] if camera is None else camera)
        # fovy belongs to the model, the rest to the free camera; Gymnasium's renderer assigns array
        # settings in place and scalars by value.
        fovy = float(cam.pop("fovy", 45.0))
        cam = {k: np.asarray(v, float) if np.ndim(v) else float(v) for k, v in cam.items()}
        self.task = task
        self.size = size
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.obs_mode = obs_mode
        self._env = TASKS[task](
            reward_type="sparse", render_mode="rgb_array", width=size, height=size, default_camera_config=cam
        )
        # Read when the GL context is first made (at the first render), so this must come before it.
        self._env.model.vis.quality.shadowsize = 0
        self._env.model.vis.global_.fovy = fovy
        # The mocap target carries metre-long translucent crosshair geoms; in frames they would leak
        # the controller's target (not the arm) as thin lines across the table.
        model = self._env.model
        mocap_bodies = np.flatnonzero(model.body_mocapid >= 0)
        model.geom_rgba[np.isin(model.geom_bodyid, mocap_bodies), 3] = 0.0
        if obs_mode == "pixels":
            self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        else:
            self.observation_space = self._env.observation_space
        self.action_space = self._env.action_space
        self.dt = float(self._env.dt)
        self._steps = 0
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        # Share one generator with the inner env, so every draw (block and goal placement) comes
        # from self.np_random and a seed fixes the whole episode.
        self._env.np_random = self.np_random
        obs, _ = self._env.reset()
        self._steps = 0
        self._started = True
        return self._observe(obs, {"is_success": self._is_success(obs)})

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._started:
            raise ResetNeeded("FetchSimEnv: call reset() before step()")
        # MuJoCo only warns on a NaN control and carries on with a corrupted state.
        action = finite_actions(action, self.action_space)
        obs, reward, terminated, _, info = self._env.step(action)
        self._steps += 1
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        obs, info = self._observe(obs, info)
        return obs, float(reward), bool(terminated), truncated, info

    def _observe(
        self, state: dict[str, np.ndarray], info: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, dict[str, Any]]:
        """The observation of ``obs_mode`` and the info; in pixel mode the state moves to the info."""
        if self.obs_mode == "state":
            return state, info
        return self.render(), {**info, "state": state}

    def render(self) -> np.ndarray:
        """The current frame, ``uint8 (size, size, 3)``."""
        # Gymnasium's offscreen viewer makes its GL context current only when it is created, so a
        # renderer made (or freed) since on this thread, e.g. the driving simulator's, would get
        # this frame: black, or another scene. Each render claims its own context first.
        viewer = getattr(self._env, "mujoco_renderer", None)
        viewer = viewer and viewer._viewers.get("rgb_array")
        if viewer is not None:
            viewer.make_context_current()
        return np.ascontiguousarray(self._env.render(), dtype=np.uint8)

    def get_state(self) -> FetchState:
        """A copy of everything the next steps depend on: the physics (joints, mocap target,
        controls), the goal and the step count. ``set_state`` returns here, so a planner can try
        action sequences from the current state (an upper bound for planning in a learned model)."""
        if not self._started:
            raise ResetNeeded("FetchSimEnv: call reset() before get_state()")
        inner = self._env.unwrapped
        data = inner.data
        physics = tuple(getattr(data, name).copy() for name in PHYSICS_FIELDS)
        return FetchState(physics, float(data.time), inner.goal.copy(), self._steps)

    def set_state(self, state: FetchState) -> None:
        """Return to a state ``get_state`` gave (of this env or one built alike)."""
        inner = self._env.unwrapped
        data = inner.data
        for name, value in zip(PHYSICS_FIELDS, state.physics, strict=True):
            getattr(data, name)[:] = value
        data.time = state.time
        inner.goal = state.goal.copy()
        self._steps, self._started = state.steps, True
        mujoco.mj_forward(inner.model, data)

    def close(self) -> None:
        self._env.close()

    def _is_success(self, obs: dict[str, np.ndarray]) -> float:
        # Fetch's own test (fetch_env._is_success), for the reset observation it does not score.
        distance = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"])
        return float(distance < self._env.distance_threshold)


def push_progress(gripper_pos: np.ndarray, object_pos: np.ndarray, goal_pos: np.ndarray) -> np.ndarray:
    """Shaped progress of a push or pick at each frame, in metres: higher is better, 0 when solved.

    ``-(|block - goal| + 0.5 |gripper - block|)`` for (T, 3) world positions. Fetch's own reward is
    sparse (-1 until the block is within 5 cm of the goal): a planner with a short horizon sees no
    difference between any two plans until then. This dense signal rewards reaching the block and
    then moving it goalwards, the usual shaping of Fetch tasks.
    """
    to_goal = np.linalg.norm(object_pos - goal_pos, axis=-1)
    to_block = np.linalg.norm(gripper_pos - object_pos, axis=-1)
    return -(to_goal + 0.5 * to_block)


def make_policy(task: str, kind: str, rng: np.random.Generator) -> FetchPolicy:
    """The scripted policy ``kind`` (one of ``POLICIES``) for ``task``, drawing noise from ``rng``."""
    _check_task(task)
    if kind == "random":
        return SmoothRandomPolicy(rng)
    if kind == "angle_push":
        return AnglePush(rng)
    if kind == "random_near_block":
        return NearBlockRandomPolicy(rng)
    if kind not in EXPERT_NOISE:
        raise ValueError(f"Unknown Fetch policy {kind!r}; policy must be one of {list(POLICIES)}.")
    expert = PushExpert if task == "push" else PickAndPlaceExpert
    return expert(rng, noise=EXPERT_NOISE[kind])


def resolve_policy_mix(policy_mix: Mapping[str, float] | str) -> Mapping[str, float]:
    """A mix of policy weights, given as one or by its name in ``POLICY_MIXES``."""
    if isinstance(policy_mix, str):
        if policy_mix not in POLICY_MIXES:
            raise ValueError(
                f"Unknown policy mix {policy_mix!r}; policy_mix must be one of {list(POLICY_MIXES)}."
            )
        return POLICY_MIXES[policy_mix]
    return policy_mix


def _mix_probabilities(policy_mix: Mapping[str, float]) -> np.ndarray:
    unknown = set(policy_mix) - set(POLICIES)
    if unknown:
        raise ValueError(
            f"policy_mix has unknown policies {sorted(unknown)}; use keys from {list(POLICIES)}."
        )
    weights = np.array([float(policy_mix.get(k, 0.0)) for k in POLICIES])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"policy_mix weights must be >= 0 with a positive sum, got {dict(policy_mix)}.")
    return weights / weights.sum()


def generate_episodes(
    num_episodes: int,
    *,
    size: int = 64,
    seed: int = 0,
    task: str = "push",
    frames_per_episode: int = 50,
    policy_mix: Mapping[str, float] | str = DEFAULT_POLICY_MIX,
) -> Iterator[Episode]:
    """Roll out scripted policies in ``FetchSimEnv`` and yield the rendered episodes.

    Episode ``i`` depends only on ``(seed, i)``: its policy kind, the policy's noise and the env's
    reset are all drawn from ``np.random.default_rng([seed, i])``, so a run can be resumed or split
    across workers by episode index.

    Args:
        num_episodes: how many episodes to yield.
        size: square frame side in pixels.
        seed: run seed.
        task: ``"push"`` or ``"pickandplace"``.
        frames_per_episode: T; frame 0 is rendered after reset, frame t after the t-th step.
        policy_mix: relative weight of each policy kind in ``POLICIES`` (normalised here), or the
            name of one in ``POLICY_MIXES`` (``"coverage"``: contact from many policies and angles).

    Yields:
        ``Episode`` with ``source="fetch"``, ``fps=25`` (``1 / env.dt``), ``frames["main"]``
        uint8 (T, size, size, 3) and ``arrays``: ``actions`` (T-1, 4) float32 (row t, clipped to
        [-1, 1], acts between frame t and t+1), ``rewards`` (T-1,) float32, ``success`` (T,) bool
        (block within 5 cm of the goal at frame t), ``gripper_pos``, ``object_pos``, ``goal_pos``
        (T, 3) float32 world positions in metres and ``progress`` (T,) float32, ``push_progress`` of
        those positions: the dense label a reward head learns (``worldfm train reward --progress``),
        recorded here so training never needs the simulator. The positions, aligned with the frames,
        are privileged: labels for heads and evaluation, never a model input at inference.
        ``meta`` has ``task``, ``policy``, ``action_noise``, ``success`` (at the last frame),
        ``block_moved``, ``block_moved_off_goal`` and ``reached_goal`` (``envs.sim.fetch_coverage``),
        ``caption``, ``seed`` (run seed), ``episode_index`` and ``reset_seed``.
    """
    _check_task(task)
    if num_episodes < 0:
        raise ValueError(f"num_episodes must be >= 0, got {num_episodes}.")
    if frames_per_episode < 2:
        raise ValueError(f"frames_per_episode must be at least 2 (one action), got {frames_per_episode}.")
    probs = _mix_probabilities(resolve_policy_mix(policy_mix))
    env = FetchSimEnv(task, size=size, max_episode_steps=None)
    try:
        for i in range(num_episodes):
            rng = np.random.default_rng([seed, i])
            kind = POLICIES[int(rng.choice(len(POLICIES), p=probs))]
            policy = make_policy(task, kind, rng)
            episode, reset_seed = _rollout(env, policy, rng, frames_per_episode)
            # Only the experts go for the real goal; the captions say so.
            caption = CAPTIONS[(task, "expert" if kind in EXPERT_NOISE else "random")]
            episode_id = f"fetch-{task}-s{seed}-e{i:06d}"
            logger.debug("%s: policy=%s success=%s", episode_id, kind, bool(episode["success"][-1]))
            yield Episode(
                source="fetch",
                episode_id=episode_id,
                fps=1.0 / env.dt,
                frames={"main": episode.pop("frames")},
                arrays=episode,
                meta={
                    "task": task,
                    "policy": kind,
                    "action_noise": EXPERT_NOISE.get(kind),
                    **coverage_meta(episode),
                    "caption": caption,
                    "seed": seed,
                    "episode_index": i,
                    "reset_seed": reset_seed,
                },
            )
    finally:
        env.close()


def _reset_unsolved(env: FetchSimEnv, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict, int]:
    """Reset with seeds drawn from ``rng`` until the block does not already sit on the goal.

    About 7% of Fetch push resets start solved; an expert then stands still for the whole episode,
    which teaches a world model nothing. Returns the observation, info and the seed that was used.
    """
    while True:
        reset_seed = int(rng.integers(2**31 - 1))
        obs, info = env.reset(seed=reset_seed)
        if not info["is_success"]:
            return obs, info, reset_seed


def _rollout(
    env: FetchSimEnv, policy: FetchPolicy, rng: np.random.Generator, num_frames: int
) -> tuple[dict[str, np.ndarray], int]:
    """Run one episode of ``num_frames`` frames from an unsolved reset drawn from ``rng``.

    Returns the arrays ``generate_episodes`` documents (``frames`` (T, H, W, 3) uint8 included)
    and the reset seed.
    """
    obs, info, reset_seed = _reset_unsolved(env, rng)
    policy.reset()
    frames, actions, rewards, success, states = [env.render()], [], [], [info["is_success"]], [obs]
    for _ in range(num_frames - 1):
        # Record the clipped action: that is what Fetch applies.
        action = np.clip(policy(obs), -1.0, 1.0).astype(np.float32)
        obs, reward, _, _, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        success.append(info["is_success"])
        states.append(obs)
        frames.append(env.render())
    return episode_arrays(frames, states, actions, rewards, success), reset_seed


def episode_arrays(
    frames: Sequence[np.ndarray],
    states: Sequence[Mapping[str, np.ndarray]],
    actions: Sequence[np.ndarray],
    rewards: Sequence[float],
    success: Sequence[float | bool],
) -> dict[str, np.ndarray]:
    """The arrays ``generate_episodes`` records, from what one episode of T frames saw.

    ``frames[t]`` is rendered in the Fetch ``states[t]`` (the state dict an env in ``"state"``
    mode returns), ``success[t]`` is its ``is_success``; ``actions[t]`` and ``rewards[t]`` are those
    of the step from frame t to frame t+1. Any controller's episode (a scripted policy's, a
    planner's) becomes the same clip arrays this way.
    """
    if not len(frames) == len(states) == len(success) == len(actions) + 1 == len(rewards) + 1:
        raise ValueError(
            f"an episode of {len(frames)} frames needs as many states and success flags and one action "
            f"and reward fewer; got {len(states)}, {len(success)}, {len(actions)} and {len(rewards)}"
        )
    positions = {
        "gripper_pos": np.stack([s["observation"][0:3] for s in states]).astype(np.float32),
        "object_pos": np.stack([s["achieved_goal"] for s in states]).astype(np.float32),
        "goal_pos": np.stack([s["desired_goal"] for s in states]).astype(np.float32),
    }
    return {
        "actions": np.stack(actions).astype(np.float32),
        "rewards": np.asarray(rewards, dtype=np.float32),
        "success": np.asarray(success, dtype=bool),
        **positions,
        # From the stored float32 positions, so the label is exactly what they give.
        "progress": push_progress(**positions).astype(np.float32),
        "frames": np.stack(frames),
    }


def coverage_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, bool]:
    """An episode's ``success`` (at its last frame) and coverage flags (``envs.sim.fetch_coverage``),
    from its ``episode_arrays``: what its sample's json and the manifest's statistics report."""
    return {
        "success": bool(arrays["success"][-1]),
        "block_moved": block_moved(arrays["object_pos"]),
        "block_moved_off_goal": block_moved_off_goal(arrays["object_pos"], arrays["goal_pos"]),
        "reached_goal": reached_goal(arrays["success"]),
    }

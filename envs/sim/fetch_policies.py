"""Scripted policies for the Fetch simulator: goal-directed experts, a smooth random policy, and the
contact-seeking policies of the coverage mix (pushes from random angles, random motion at the block).

All policies read the Fetch dict observation and return an action in ``Box(-1, 1, (4,))``:
``(dx, dy, dz, gripper)``, where Fetch moves the mocap target by ``0.05 * (dx, dy, dz)`` metres a
step and ``gripper > 0`` opens the fingers (ignored in push, whose gripper is blocked shut).

``obs["observation"]`` (25,) is laid out as: grip_pos (0:3), object_pos (3:6), object_rel_pos (6:9),
finger widths (9:11), object rotation, object / gripper velocities. ``obs["desired_goal"]`` (3,) is
the target of the object's centre.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

ACTION_DIM = 4
# Fetch scales position actions by this many metres per step (fetch_env._set_action).
MAX_STEP_M = 0.05
# Height the experts travel at above the block's centre, so they do not sweep it away.
CLEARANCE_M = 0.06
# Axis-aligned box (x, y, z in metres) over the table's work area, inside the default cameras'
# view; the random policy's waypoints stay in it.
WORKSPACE_LOW = np.array([1.15, 0.55, 0.42])
WORKSPACE_HIGH = np.array([1.55, 0.95, 0.65])


class FetchPolicy(Protocol):
    """A closed-loop policy: ``reset()`` at the start of an episode, then one call per step."""

    def reset(self) -> None: ...

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Return the next action, float32 (4,) in [-1, 1]."""
        ...


class SmoothNoise:
    """AR(1) (discretised Ornstein-Uhlenbeck) noise: ``n_t = rho n_{t-1} + sqrt(1 - rho^2) sigma eps``.

    Its stationary standard deviation is ``sigma`` whatever ``rho``; a ``rho`` near 1 gives slowly
    drifting noise that reads as deliberate motion rather than per-frame jitter.
    """

    def __init__(self, rng: np.random.Generator, sigma: float, rho: float, dim: int = ACTION_DIM) -> None:
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"SmoothNoise rho must be in [0, 1), got {rho}.")
        self.rng, self.sigma, self.rho, self.dim = rng, sigma, rho, dim
        self.reset()

    def reset(self) -> None:
        # Start from the stationary distribution so the first steps are not special.
        self.state = self.sigma * self.rng.standard_normal(self.dim)

    def __call__(self) -> np.ndarray:
        eps = self.rng.standard_normal(self.dim)
        self.state = self.rho * self.state + np.sqrt(1.0 - self.rho**2) * self.sigma * eps
        return self.state


def _move_toward(grip: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Position action (3,) that moves ``grip`` toward ``target``, saturating at one full step."""
    return np.clip((target - grip) / MAX_STEP_M, -1.0, 1.0)


def fetch_positions(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gripper position (3,), object position (3,) and goal (3,) of a Fetch state observation."""
    o = obs["observation"]
    return o[0:3], o[3:6], obs["desired_goal"]


def _unpack(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``fetch_positions`` and the total finger opening (m)."""
    o = obs["observation"]
    return (*fetch_positions(obs), float(o[9] + o[10]))


def _finish(pos: np.ndarray, gripper: float, noise: SmoothNoise | None) -> np.ndarray:
    action = np.append(pos, gripper)
    if noise is not None:
        action = action + noise()
    return np.clip(action, -1.0, 1.0).astype(np.float32)


class NoisyExpert:
    """What the scripted experts share: their actions get stationary AR(1) noise (``SmoothNoise``).

    Args:
        rng: source of the action noise.
        noise: stationary std of the added AR(1) action noise; 0 for the clean expert.
    """

    def __init__(self, rng: np.random.Generator, noise: float = 0.0) -> None:
        self.noise = SmoothNoise(rng, noise, rho=0.5) if noise > 0 else None

    def reset(self) -> None:
        if self.noise is not None:
            self.noise.reset()


class PushExpert(NoisyExpert):
    """Push the block to the goal: get behind it (relative to the goal), descend, push along the line.

    Stateless (each action depends only on the observation), so after a perturbation (noise, the
    block turning) it re-plans: if it is no longer behind the block it lifts and re-approaches.

    Takes ``NoisyExpert``'s arguments.
    """

    # Where the gripper lines up before pushing: this far behind the block's centre.
    BEHIND_M = 0.06
    # The block counts as placed (and the expert backs off) this close to the goal; Fetch's own
    # success threshold is 5 cm, aiming tighter leaves room for the block to slide on.
    DONE_M = 0.015
    # Where the gripper waits once the block is placed, relative to the block: above it and toward
    # the robot (-x), out of the camera's line of sight to the block.
    REST_OFFSET_M = np.array([-0.08, 0.0, CLEARANCE_M])

    def __init__(self, rng: np.random.Generator, noise: float = 0.0) -> None:
        super().__init__(rng, noise)
        # Whether the last action pushed in contact (read by policies built on this one).
        self.pushing = False

    def reset(self) -> None:
        super().reset()
        self.pushing = False

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        grip, obj, goal, _ = _unpack(obs)
        self.pushing = False
        to_goal = goal[:2] - obj[:2]
        dist = float(np.linalg.norm(to_goal))
        rel = grip[:2] - obj[:2]
        lifted = grip[2] >= obj[2] + CLEARANCE_M / 2
        if dist < self.DONE_M:
            # Back off up and toward the robot and hold there (under feedback, so action noise does
            # not random-walk the arm): the placed block stays in view.
            target = obj + self.REST_OFFSET_M if lifted else np.append(grip[:2], obj[2] + CLEARANCE_M)
            return _finish(_move_toward(grip, target), 0.0, self.noise)
        d = to_goal / dist
        along = float(rel @ d)
        perp = rel - along * d
        low = grip[2] < obj[2] + 0.02
        self.pushing = along < -0.025 and np.linalg.norm(perp) < 0.02 and low
        if self.pushing:
            # In contact (or nearly): move the gripper by the block's remaining error, which needs
            # no model of the finger geometry, and steer back onto the line through the block.
            target_xy = grip[:2] + d * min(dist, MAX_STEP_M) - 0.5 * perp
            target = np.append(target_xy, obj[2])
        else:
            behind = obj[:2] - d * self.BEHIND_M
            if np.linalg.norm(behind - grip[:2]) > 0.02:
                # Travel above the block, going straight up first when low: push starts with the
                # fingers at table height, and a diagonal move would sweep the block away.
                xy = behind if lifted else grip[:2]
                target = np.append(xy, obj[2] + CLEARANCE_M)
            else:
                target = np.append(behind, obj[2])
        return _finish(_move_toward(grip, target), 0.0, self.noise)


class PickAndPlaceExpert(NoisyExpert):
    """Pick the block and carry it to the goal: above it, descend open, close, lift, move, hold.

    Stateless like ``PushExpert``: if the block slips out it goes back to grasping it.

    Takes ``NoisyExpert``'s arguments.
    """

    # Fingers fully closed measure about 0.004 m together; around the 5 cm block they stop near 0.05.
    HOLDING_WIDTH_M = 0.06
    # Carry height above the table top, so the block does not drag on it on the way.
    CARRY_Z_M = 0.5

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        grip, obj, goal, width = _unpack(obs)
        xy_err = float(np.linalg.norm(obj[:2] - grip[:2]))
        z_err = float(grip[2] - obj[2])
        in_hand = xy_err < 0.02 and abs(z_err) < 0.02
        if in_hand and width < self.HOLDING_WIDTH_M:
            if np.linalg.norm(goal[:2] - obj[:2]) > 0.03:
                target = np.append(goal[:2], max(goal[2], self.CARRY_Z_M))
            else:
                target = goal
            # Hold relative to the block's offset in the fingers, so the block (not the gripper) lands.
            return _finish(_move_toward(obj, target), -1.0, self.noise)
        if in_hand:
            return _finish(np.zeros(3), -1.0, self.noise)
        if xy_err > 0.015:
            # Lift before travelling if low, so the open fingers do not knock the block away.
            xy = grip[:2] if z_err < CLEARANCE_M / 2 and xy_err > 0.04 else obj[:2]
            target = np.append(xy, obj[2] + CLEARANCE_M)
        else:
            target = obj
        return _finish(_move_toward(grip, target), 1.0, self.noise)


class SmoothRandomPolicy:
    """Random but smooth, purposeful-looking motion: drift toward random waypoints plus AR(1) noise.

    Waypoints are drawn in the visible work area, ``near_prob`` of them near the block so random episodes
    also show contacts (nudged, toppled or pushed blocks) under non-expert actions; a new one is
    drawn when reached or at random (mean every ``1 / switch_prob`` steps). The noise (``rho`` near
    1) bends the paths and also drives the fingers, which only open and close at random.

    Args:
        rng: source of waypoints and noise.
        sigma: stationary std of the AR(1) noise on each action component.
        rho: step-to-step noise correlation; 0.9 keeps a direction for roughly 10 steps (0.4 s).
        switch_prob: per-step chance of drawing a new waypoint early.
        near_prob: share of waypoints drawn near the block.
        near_std_m: std (x, y, z) in metres of those waypoints around the block's centre.
        near_lift_m: how far above the block's centre they are centred; the default 2 cm has the
            gripper brush the block's top as often as its sides.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        sigma: float = 0.5,
        rho: float = 0.9,
        switch_prob: float = 0.08,
        near_prob: float = 0.5,
        near_std_m: tuple[float, float, float] = (0.04, 0.04, 0.03),
        near_lift_m: float = 0.02,
    ) -> None:
        self.rng, self.switch_prob, self.near_prob = rng, switch_prob, near_prob
        self.near_std_m, self.near_lift_m = near_std_m, near_lift_m
        self.noise = SmoothNoise(rng, sigma, rho)
        self.waypoint: np.ndarray | None = None

    def reset(self) -> None:
        self.noise.reset()
        self.waypoint = None

    def _draw_waypoint(self, obj: np.ndarray) -> np.ndarray:
        if self.rng.random() < self.near_prob:
            near = obj + self.rng.normal(0.0, self.near_std_m) + [0.0, 0.0, self.near_lift_m]
            return np.clip(near, WORKSPACE_LOW, WORKSPACE_HIGH)
        return self.rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        grip, obj, _, _ = _unpack(obs)
        reached = self.waypoint is not None and np.linalg.norm(self.waypoint - grip) < 0.02
        if self.waypoint is None or reached or self.rng.random() < self.switch_prob:
            self.waypoint = self._draw_waypoint(obj)
        # Half-speed pursuit leaves room for the noise to show; as waypoints lie in the work area,
        # it also pulls the gripper back whenever the noise carries it out.
        pos = 0.5 * _move_toward(grip, self.waypoint)
        return _finish(pos, 0.0, self.noise)


class AnglePush:
    """Push the block a few centimetres in random directions, then to the goal: ``PushExpert`` aimed
    at ``random_pushes`` made-up goals in turn, then at the real one.

    The push expert only ever approaches the block from the side opposite the goal; this policy
    shows the block pushed, and the gripper arriving, from every angle, so a world model sees
    contact in all directions rather than along one line per episode, and then the recovery to
    the goal a planner needs after a push went wrong.

    Args:
        rng: source of push directions, distances and action noise.
        noise: stationary std of the added AR(1) action noise.
        distance_m: (low, high) push length in metres, drawn uniformly per push.
        random_pushes: pushes in random directions before the real goal; None never goes for it.
    """

    # Made-up goals stay where the real ones spawn (the 30 x 30 cm area around the table's centre),
    # so pushes stay in the camera's view and on the table.
    GOAL_LOW = np.array([1.19, 0.60])
    GOAL_HIGH = np.array([1.49, 0.90])

    def __init__(
        self,
        rng: np.random.Generator,
        noise: float = 0.1,
        distance_m: tuple[float, float] = (0.05, 0.15),
        random_pushes: int | None = 1,
    ) -> None:
        self.rng, self.distance_m, self.random_pushes = rng, distance_m, random_pushes
        self.expert = PushExpert(rng, noise=noise)
        self.target: np.ndarray | None = None
        self.done_pushes = 0

    def reset(self) -> None:
        self.expert.reset()
        self.target = None
        self.done_pushes = 0

    def _draw_target(self, obj: np.ndarray) -> np.ndarray:
        angle = self.rng.uniform(0.0, 2 * np.pi)
        xy = obj[:2] + self.rng.uniform(*self.distance_m) * np.array([np.cos(angle), np.sin(angle)])
        return np.append(np.clip(xy, self.GOAL_LOW, self.GOAL_HIGH), obj[2])

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        obj = obs["observation"][3:6]
        if self.target is not None and np.linalg.norm(self.target[:2] - obj[:2]) < 2 * PushExpert.DONE_M:
            self.done_pushes += 1
            self.target = None
        if self.random_pushes is not None and self.done_pushes >= self.random_pushes:
            return self.expert(obs)
        if self.target is None:
            self.target = self._draw_target(obj)
        return self.expert({**obs, "desired_goal": self.target})

    @property
    def at_block(self) -> bool:
        """Whether the last action was a push in contact (the expert's pushing branch)."""
        return self.expert.pushing


class NearBlockRandomPolicy:
    """Random behaviour started next to the block: ``AnglePush`` until the gripper touches the block
    from a random side, then ``SmoothRandomPolicy`` with most waypoints at the block's height.

    Random actions from the arm's start pose rarely reach the block in 50 steps; started in contact,
    the same smooth random motion nudges, drags and turns it (the non-expert contacts a model must
    see to predict what an untrained policy does to the block).

    Args:
        rng: source of the approach side and the random motion.
        near_prob: share of random waypoints drawn near the block.
    """

    def __init__(self, rng: np.random.Generator, near_prob: float = 0.9) -> None:
        self.approach = AnglePush(rng, noise=0.0, random_pushes=None)
        # At the block's height, so the motion hits its sides instead of passing over it.
        self.random = SmoothRandomPolicy(
            rng, near_prob=near_prob, near_std_m=(0.05, 0.05, 0.005), near_lift_m=0.0
        )
        self.started = False

    def reset(self) -> None:
        self.approach.reset()
        self.random.reset()
        self.started = False

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if not self.started:
            action = self.approach(obs)
            self.started = self.approach.at_block
            if not self.started:
                return action
        return self.random(obs)

"""How much of the block's dynamics a set of Fetch episodes shows: the share of episodes in which
the block moves, moves off the straight path to its goal, and reaches the goal.

A world model learns what the block does only from episodes where something happens to it; the
share of such episodes, not their number or frame quality, is what limits planning in the model
(DINO-WM, arXiv 2411.04983, Sec. 4.4). ``generate_episodes`` records both flags in each episode's
meta, and ``coverage`` summarises any episodes that carry ``object_pos`` and ``success`` arrays.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from envs.sim.episode import Episode

BLOCK_MOVED_M = 0.02
"""An episode moved the block when its centre got this far (metres) from where it started: well
above the jitter of a block at rest, and under one 5 cm block width."""
OFF_PATH_M = 0.04
"""A block got off the path to its goal when it got this far (metres) from it: clear of the 1 to 3
cm that the scripted expert's goalward pushes drift sideways or slide past the goal."""


def block_moved(object_pos: np.ndarray, threshold_m: float = BLOCK_MOVED_M) -> bool:
    """Whether the block's centre, ``object_pos`` (T, 3) in metres, ever got more than ``threshold_m``
    from its first position."""
    return bool((np.linalg.norm(object_pos - object_pos[0], axis=-1) > threshold_m).any())


def block_moved_off_goal(
    object_pos: np.ndarray, goal_pos: np.ndarray, threshold_m: float = OFF_PATH_M
) -> bool:
    """Whether the block's centre ever got more than ``threshold_m`` off the straight path from its
    start to its goal (on the table, x-y), positions (T, 3) in metres: pushed sideways or away.

    An expert only pushes the block goalward; a model that has seen nothing else cannot predict
    what any other push does, which a planner's other candidate actions need.
    """
    start, goal = object_pos[0, :2], goal_pos[0, :2]
    path = goal - start
    offsets = object_pos[:, :2] - start  # (T, 2)
    length2 = float(path @ path)
    # The nearest point of the start-goal segment to each position.
    along = np.clip(offsets @ path / length2, 0.0, 1.0) if length2 > 0 else np.zeros(len(offsets))
    off_path = np.linalg.norm(offsets - along[:, None] * path, axis=-1)
    return bool((off_path > threshold_m).any())


def reached_goal(success: np.ndarray) -> bool:
    """Whether the block was within Fetch's success distance of the goal at any frame of ``success`` (T,)."""
    return bool(np.asarray(success).any())


def coverage(episodes: Iterable[Episode]) -> dict[str, float]:
    """``episodes`` and the shares of them whose block moved (``block_moved``), moved off the line to
    its goal (``block_moved_off_goal``) and reached the goal at some frame (``reached_goal``)."""
    flags: dict[str, list[bool]] = {"block_moved": [], "block_moved_off_goal": [], "reached_goal": []}
    for episode in episodes:
        a = episode.arrays
        flags["block_moved"].append(block_moved(a["object_pos"]))
        flags["block_moved_off_goal"].append(block_moved_off_goal(a["object_pos"], a["goal_pos"]))
        flags["reached_goal"].append(reached_goal(a["success"]))
    if not flags["block_moved"]:
        raise ValueError("coverage needs at least one episode")
    return {"episodes": len(flags["block_moved"]), **{k: float(np.mean(v)) for k, v in flags.items()}}

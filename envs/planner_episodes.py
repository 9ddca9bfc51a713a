"""A planner's MPC episodes in the Fetch simulator, recorded as training episodes (DAgger's data).

DAgger (Ross et al. 2011, arXiv 1011.0686) and online world modelling (DIAMOND, arXiv 2405.12399;
TD-MPC2, arXiv 2310.16828) train on the states the current controller reaches: a world model
fitted to scripted demonstrations is least accurate exactly where its planner drives the arm.
``planner_episodes`` runs ``envs.planning.mpc_episode``, the same closed loop ``worldfm plan``
evaluates, inside ``RecordEpisodeArrays``, which keeps what the simulator saw; each episode comes
out as the ``Episode`` ``envs.sim.fetch.generate_episodes`` yields for a scripted policy (frames,
actions, rewards, success, privileged positions, progress, coverage flags), with ``policy:
"planner"`` and the DAgger ``round`` in its meta, for ``envs.record.record_episodes``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np

from envs.planning import LatentPlanner, mpc_episode
from envs.sim.episode import Episode
from envs.sim.fetch import CAPTIONS, coverage_meta, episode_arrays
from envs.world_env import SimFactory

__all__ = ["RECORD_STREAM", "RecordEpisodeArrays", "planner_episodes"]

logger = logging.getLogger(__name__)

RECORD_STREAM = 0xDA6
"""last word of the recorded episodes' seed sequences ``[seed, round, i, RECORD_STREAM]``: nonzero, so
they never meet ``evaluate_planner``'s ``[seed, i]`` (numpy pads a short sequence with zeros)"""


class RecordEpisodeArrays(gym.Wrapper):
    """Keeps the frames, Fetch states, actions, rewards and success flags of the current episode.

    Every ``reset`` starts a new record (a redrawn solved start leaves nothing behind); each
    ``render`` adds the frame of the current state, so a loop that renders once after reset and
    once after every step (as ``mpc_episode`` does) records aligned frames and states. The state
    is the observation of a ``"state"``-mode ``FetchSimEnv``, else its ``info["state"]``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.reset_seed: int | None = None
        self._clear()

    def _clear(self) -> None:
        self.frames: list[np.ndarray] = []
        self.states: list[Any] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.success: list[bool] = []

    @staticmethod
    def _state(obs: Any, info: dict[str, Any]) -> Any:
        return info.get("state", obs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._clear()
        self.reset_seed = seed
        self.states.append(self._state(obs, info))
        self.success.append(bool(info.get("is_success")))
        return obs, info

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        # What Fetch applies: the action clipped into its box.
        self.actions.append(np.clip(action, -1.0, 1.0).astype(np.float32))
        self.rewards.append(float(reward))
        self.success.append(bool(info.get("is_success")))
        self.states.append(self._state(obs, info))
        return obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        frame = self.env.render()
        if len(self.frames) >= len(self.states):
            raise ValueError("render the frame of each state once: call reset or step before rendering again")
        self.frames.append(frame)
        return frame

    def arrays(self) -> dict[str, np.ndarray]:
        """The episode so far as ``envs.sim.fetch.episode_arrays`` (frames included)."""
        return episode_arrays(self.frames, self.states, self.actions, self.rewards, self.success)


def planner_episodes(
    planner: LatentPlanner,
    sim_factory: SimFactory,
    *,
    episodes: int,
    steps: int,
    seed: int = 0,
    round_index: int = 0,
    task: str = "push",
) -> Iterator[Episode]:
    """``episodes`` MPC episodes of ``steps`` planned actions in the simulator, as recorded ``Episode`` s.

    Episode i starts from an unsolved state drawn from ``[seed, round_index, i, RECORD_STREAM]``, so
    its start depends only on those and never coincides with ``evaluate_planner``'s starts. It has
    ``context_frames + steps`` frames: the context the planner starts from (the reset frame and
    zero-action steps, recorded as such), then one frame per planned action. ``meta`` is that of
    ``generate_episodes`` with ``policy="planner"``, ``round`` and ``mpc_seconds`` (time spent
    planning) added.
    """
    if episodes < 0 or steps < 1:
        raise ValueError(f"episodes must be >= 0 and steps >= 1, got {episodes} and {steps}")
    sim = RecordEpisodeArrays(sim_factory())
    fps = 1.0 / float(sim.unwrapped.dt)
    try:
        for i in range(episodes):
            rng = np.random.default_rng([seed, round_index, i, RECORD_STREAM])
            result = mpc_episode(planner, sim, rng, steps=steps)
            arrays = sim.arrays()
            episode_id = f"fetch-{task}-planner-r{round_index}-s{seed}-e{i:06d}"
            logger.info("%s: success %s, %.1f s planning", episode_id, result.success, result.seconds)
            episode = Episode(
                source="fetch",
                episode_id=episode_id,
                fps=fps,
                frames={"main": arrays.pop("frames")},
                arrays=arrays,
                meta={
                    "task": task,
                    "policy": "planner",
                    "action_noise": None,
                    **coverage_meta(arrays),
                    # The planner goes for the real goal, as the experts do.
                    "caption": CAPTIONS[(task, "expert")],
                    "seed": seed,
                    "episode_index": i,
                    "reset_seed": sim.reset_seed,
                    "round": round_index,
                    "mpc_seconds": result.seconds,
                },
            )
            yield episode
    finally:
        sim.close()

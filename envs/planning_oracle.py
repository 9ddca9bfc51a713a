"""The latent planner with the real simulator as its model: where a planning failure comes from.

``SimulatorPlanner`` runs ``LatentPlanner``'s search unchanged (the same prior, proposals, MPPI /
CEM update, horizon, action repeat and replanning) but rolls every candidate out in the Fetch
simulator from a copy of its current state (``FetchSimEnv.get_state``) instead of the world model.
Scored by the simulator's own progress (``score="progress"``) it is what the search reaches with a
perfect model and a perfect head; scored by the planner's reward head on the rendered frames
(``"head"``) it is what it reaches with a perfect model and the learned head. Against the planner
in the world model, the two split a shortfall between the search, the head and the dynamics. It
reads the simulator's privileged state, so it is a diagnosis (``benchmarks/control.py --oracle``),
never a controller.
"""

from __future__ import annotations

import numpy as np
import torch

from envs.mpc_updates import sequence_returns
from envs.planning import LatentPlanner
from envs.sim.fetch import FetchSimEnv, push_progress
from envs.sim.fetch_policies import fetch_positions
from worldmodel.heads import frame_latents

SCORES = ("progress", "head")


class SimulatorPlanner(LatentPlanner):
    """``planner``'s search with candidates rolled out in ``sim`` (the simulator the episode runs
    in, which is returned to its state after each plan); see the module docstring."""

    def __init__(self, planner: LatentPlanner, sim: FetchSimEnv, score: str = "progress") -> None:
        if score not in SCORES:
            raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
        # The same search: every setting, prior, reward and generator of ``planner``.
        vars(self).update(vars(planner))
        self.sim, self.score = sim, score

    def returns(self, context: torch.Tensor, sequences: np.ndarray) -> np.ndarray:
        """Returns (P,) of action sequences (P, H, A) played from the simulator's current state."""
        start = self.sim.get_state()
        actions = np.repeat(sequences, self.config.action_repeat, axis=1)  # (P, T, A)
        p, t = actions.shape[:2]
        rewards, terminated = np.zeros((p, t)), np.zeros((p, t), bool)
        frames = []
        try:
            for i, sequence in enumerate(actions):
                self.sim.set_state(start)
                for j, action in enumerate(sequence):
                    obs = self.sim.step(action)[0]
                    if self.score == "progress":
                        rewards[i, j] = float(push_progress(*fetch_positions(obs)))
                    else:
                        frames.append(self.sim.render())
        finally:
            self.sim.set_state(start)
        if self.score == "head":
            latents = frame_latents(self.world, np.stack(frames)).float().cpu().numpy()  # (P * T, C, h, w)
            scored, ended = self.reward(latents)
            rewards = np.asarray(scored, np.float64).reshape(p, t)
            terminated = np.asarray(ended, bool).reshape(p, t)
        return sequence_returns(rewards, terminated, discount=self.config.discount)

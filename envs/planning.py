"""Model-predictive control by the cross-entropy method (CEM) inside a world model.

``CEMPlanner`` is the planner of PlaNet (Hafner et al. 2019, arXiv 1811.04551, Section 3) and
PETS (Chua et al. 2018, arXiv 1805.12114) with a pixel world model: each iteration samples
``population`` action sequences of ``horizon`` steps from a diagonal Gaussian, rolls all of them
out with one batched ``WorldModel.predict``, scores them with the reward function, and refits the
Gaussian to the ``elites`` best. The mean's first action is executed in the real simulator and the
plan is redone from the frame that follows (MPC). The rest of the mean warm-starts the next plan.

``evaluate_planner`` runs CEM against scripted policies from the same start states in the
simulator: the success rate of acting through the model's imagination against random and expert
behaviour (``worldfm plan``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from envs.evaluate import PolicyFactory, simulator_rollout, start_episode
from envs.learned_reward import as_batch_reward_fn
from envs.world_env import RewardFn, SimFactory, draw_seed, world_spaces
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)


def sequence_returns(rewards: np.ndarray, terminated: np.ndarray) -> np.ndarray:
    """Return of each imagined sequence: rewards (P, H), terminated (P, H) bool -> (P,).

    A sequence ends at its first terminated step, which is treated as absorbing: its reward is
    repeated for the rest of the horizon. Reaching success early then scores higher (Fetch pays
    0 there against -1 per unsolved step), instead of being scored on what the model dreams after.
    """
    ended = np.cumsum(terminated, axis=1) > 0  # (P, H): from the first terminated step on
    final = rewards[np.arange(len(rewards)), np.argmax(terminated, axis=1)]  # (P,)
    return np.where(ended, final[:, None], rewards).sum(axis=1)


class CEMPlanner:
    """CEM model-predictive control in ``world``; see the module docstring.

    Args:
        world: an action-conditioned ``WorldModel`` (anything with its ``predict`` signature,
            ``context_frames`` and action space).
        reward_fn: ``reward_fn(prev_obs, action, obs) -> (reward, terminated)``; a
            ``envs.learned_reward.LearnedReward`` scores a whole population in one pass.
        horizon: planned steps; population: sequences per iteration; elites: how many of the best
            the Gaussian is refitted to; iterations: refits per plan.
        sampler_steps: diffusion sampler steps per imagined frame (fewer: faster, blurrier).
        seed: seeds the sampled sequences and the model's noise.
    """

    def __init__(
        self,
        world: WorldModel,
        reward_fn: RewardFn,
        *,
        horizon: int = 8,
        population: int = 64,
        elites: int = 8,
        iterations: int = 3,
        sampler_steps: int = 4,
        seed: int = 0,
    ) -> None:
        for name, value in (("horizon", horizon), ("population", population), ("iterations", iterations)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 1 <= elites <= population:
            raise ValueError(f"elites must be in [1, population={population}], got {elites}")
        _, self.action_space = world_spaces(world)
        self.world = world
        self.reward = as_batch_reward_fn(reward_fn)
        self.horizon, self.population, self.elites = horizon, population, elites
        self.iterations, self.sampler_steps = iterations, sampler_steps
        self.context_frames = world.context_frames
        self.rng = np.random.default_rng(seed)
        low, high = self.action_space.low, self.action_space.high
        self._center = ((low + high) / 2).astype(np.float32)  # (A,)
        # The first Gaussian covers the whole box.
        self._initial_std = np.tile((high - low) / 2, (horizon, 1)).astype(np.float32)  # (H, A)
        self._mean = np.tile(self._center, (horizon, 1))  # (H, A)

    def reset(self) -> None:
        """Forget the warm start (call at the start of an episode)."""
        self._mean = np.tile(self._center, (self.horizon, 1))

    def returns(self, context: np.ndarray, sequences: np.ndarray) -> np.ndarray:
        """Imagined returns (P,) of action sequences (P, horizon, A) from context frames uint8 (K, H, W, 3).

        One ``predict`` call rolls the whole population forward ``horizon`` frames; within it the
        model keeps its own latents between steps rather than re-encoding decoded frames.
        """
        p = len(sequences)
        batch = np.repeat(context[None, -self.context_frames :], p, axis=0)  # (P, K, H, W, 3)
        frames = self.world.predict(
            batch,
            actions=sequences,
            horizon=self.horizon,
            seed=draw_seed(self.rng),
            steps=self.sampler_steps,
        )  # (P, horizon, H, W, 3)
        prev = np.concatenate([batch[:, -1:], frames[:, :-1]], axis=1)  # (P, horizon, H, W, 3)
        flat = (-1, *frames.shape[2:])
        rewards, terminated = self.reward(
            prev.reshape(flat), sequences.reshape(-1, sequences.shape[-1]), frames.reshape(flat)
        )
        shape = (p, self.horizon)
        return sequence_returns(
            np.asarray(rewards, np.float64).reshape(shape), np.asarray(terminated).reshape(shape)
        )

    def plan(self, context: np.ndarray) -> np.ndarray:
        """The planned action sequence (horizon, A): the final Gaussian's mean, from context (K, H, W, 3)."""
        low, high = self.action_space.low, self.action_space.high
        mean, std = self._mean, self._initial_std
        for _ in range(self.iterations):
            noise = self.rng.standard_normal((self.population, *mean.shape))
            sequences = np.clip(mean + std * noise, low, high).astype(np.float32)  # (P, H, A)
            elite = sequences[np.argsort(-self.returns(context, sequences))[: self.elites]]  # (E, H, A)
            mean, std = elite.mean(axis=0), elite.std(axis=0)
        return mean.astype(np.float32)

    def act(self, context: np.ndarray) -> np.ndarray:
        """Plan from context frames uint8 (K, H, W, 3) and return the first action (A,)."""
        plan = self.plan(context)
        # Shifted by one step, this plan is where the next one starts searching.
        self._mean = np.concatenate([plan[1:], self._center[None]])
        return plan[0].copy()


def mpc_episode(
    planner: CEMPlanner, sim: gym.Env, rng: np.random.Generator, *, steps: int
) -> tuple[float, bool]:
    """One MPC episode in the simulator from an unsolved start drawn from ``rng``.

    Returns the episode's return and whether the task is solved at its end.
    """
    context, _, _ = start_episode(sim, rng, planner.context_frames)
    planner.reset()
    total, info = 0.0, {}
    for _ in range(steps):
        _, reward, terminated, _, info = sim.step(planner.act(context))
        total += float(reward)
        context = np.concatenate([context[1:], sim.render()[None]])
        if terminated:
            break
    return total, bool(info.get("is_success"))


def evaluate_planner(
    planner: CEMPlanner,
    sim_factory: SimFactory,
    baselines: Mapping[str, PolicyFactory],
    *,
    episodes: int = 5,
    steps: int = 50,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Success rate and mean return of CEM MPC and of each scripted baseline in the simulator.

    Episode i starts from the same state for every controller. Baseline actions are clipped into
    the model's action box, the only actions CEM can choose. Returns name -> ``{"success_rate",
    "mean_return", "returns", "success"}``, CEM first under ``"cem"``.
    """
    if episodes < 1 or steps < 1:
        raise ValueError(f"episodes and steps must be >= 1, got {episodes} and {steps}")
    runs: dict[str, list[tuple[float, bool]]] = {"cem": [], **{name: [] for name in baselines}}
    sim = sim_factory()
    try:
        for i in range(episodes):
            runs["cem"].append(mpc_episode(planner, sim, np.random.default_rng([seed, i]), steps=steps))
            logger.info("CEM episode %d: return %.2f, success %s", i, *runs["cem"][-1])
            for p, (name, factory) in enumerate(baselines.items()):
                rollout = simulator_rollout(
                    sim,
                    factory(np.random.default_rng([seed, i, p])),
                    np.random.default_rng([seed, i]),
                    context_frames=planner.context_frames,
                    horizon=steps,
                    action_space=planner.action_space,
                )
                runs[name].append((float(rollout.rewards.sum()), rollout.success))
    finally:
        sim.close()
    return {
        name: {
            "success_rate": float(np.mean([s for _, s in results])),
            "mean_return": float(np.mean([r for r, _ in results])),
            "returns": [r for r, _ in results],
            "success": [s for _, s in results],
        }
        for name, results in runs.items()
    }

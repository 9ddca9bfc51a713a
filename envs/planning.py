"""Model-predictive control in a world model's latent space: MPPI or CEM, seeded by a policy prior.

``LatentPlanner`` plans as TD-MPC2 does (Hansen et al. 2024, arXiv 2310.16828), in the latents of
a pixel world model as DINO-WM does (Zhou et al. 2024, arXiv 2411.04983). Each plan encodes the
current real frames once, then for ``iterations`` rounds samples ``population`` action sequences
of ``horizon`` decisions around a warm-started mean, rolls all of them out with ONE batched
``WorldModel.rollout_latents`` call (no pixels are decoded), scores the imagined latents with a
reward function on latents (the learned reward head: reward, success or progress) plus an optional
terminal value, and refits the Gaussian by MPPI or CEM (``envs.mpc_updates``). The first planned
action is executed in the real simulator (held for ``action_repeat`` steps, or ``replan_every``
of them) and the plan is redone from the frames that follow; the rest of the plan warm-starts the
next one.

A **policy prior** proposes ``prior_samples`` of the sequences, perturbed by ``prior_std``. It
sees only what a deployed policy could: either the current real observation (``prior(obs) ->
action (A,)`` or a sequence ``(horizon, A)``; its single action is repeated over the horizon),
or latents, acting inside the imagined rollout (``latent_prior(latents (B, C, h, w)) -> (B, A)``,
imagined step by step once per plan). The simulator's privileged state is never a planner input;
a scripted Fetch expert used as the prior stands in for a learned policy on that observation.

``evaluate_planner`` runs the planner against baselines (random, the expert, the prior alone) from
the same start states in the simulator (``worldfm plan``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from envs.evaluate import PolicyFactory, simulator_rollout, start_episode
from envs.learned_reward import LearnedReward
from envs.mpc_updates import cem_update, mppi_update, sequence_returns
from envs.planner_config import PlannerConfig
from envs.world_env import SimFactory, draw_seed, world_spaces
from worldmodel.heads import RewardHead
from worldmodel.world import WorldModel

__all__ = [
    "LatentPlanner",
    "LatentReward",
    "MPCEpisode",
    "PlannerConfig",
    "evaluate_planner",
    "head_objective",
    "mpc_episode",
    "planner_for",
    "sequence_returns",
]

logger = logging.getLogger(__name__)

LatentReward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``fn(latents float32 (N, C, h, w)) -> (scores (N,), terminated (N,) bool)``: the step into each."""
TerminalValue = Callable[[np.ndarray], np.ndarray]
"""``fn(latents float32 (B, C, h, w)) -> values (B,)``: the value of the last imagined latent."""
ObservationPrior = Callable[[Any], np.ndarray]
"""``prior(obs) -> action (A,) or sequence (horizon, A)`` from the current real observation."""
LatentPrior = Callable[[np.ndarray], np.ndarray]
"""``prior(latents float32 (B, C, h, w)) -> actions (B, A)``, acting inside imagination."""


def head_objective(
    world: WorldModel, head: RewardHead, objective: str = "reward", *, success_threshold: float = 0.5
) -> LatentReward:
    """The ``LatentReward`` of a learned reward head on ``world``'s latents.

    ``objective``: the head's task ``reward``, its ``success`` probability, or its dense
    ``progress`` (heads trained with ``--progress``). A step terminates when the success
    probability passes ``success_threshold``, whatever the objective.
    """
    if objective not in ("reward", "success", "progress"):
        raise ValueError(f"objective must be 'reward', 'success' or 'progress', got {objective!r}")
    learned = LearnedReward(
        world,
        head,
        success_threshold,
        objective="progress" if objective == "progress" else "reward",
        obs_mode="latent",
    )

    def score(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reward, success = learned.score(latents)
        return (success if objective == "success" else reward), success > success_threshold

    return score


def planner_for(
    world: WorldModel,
    head: RewardHead,
    config: PlannerConfig,
    *,
    prior: ObservationPrior | None = None,
    latent_prior: LatentPrior | None = None,
    seed: int = 0,
) -> LatentPlanner:
    """The planner a checkpoint's reward ``head`` serves: ``config``'s search scored by the head's
    ``config.objective`` and, for the task reward only, the head's value (if it has one) as the
    terminal value: the value predicts returns in the task reward's units, and added to success
    probabilities or progress it would mix units. ``worldfm plan``, DAgger, the web app's Plan
    button and ``benchmarks/control.py`` all build their planner here."""
    learned = LearnedReward(world, head, obs_mode="latent")
    value = learned.value if learned.has_value and config.objective == "reward" else None
    return LatentPlanner(
        world,
        head_objective(world, head, config.objective),
        config,
        terminal_value=value,
        prior=prior,
        latent_prior=latent_prior,
        seed=seed,
    )


class LatentPlanner:
    """MPPI / CEM model-predictive control over latent rollouts; see the module docstring.

    Args:
        world: an action-conditioned ``WorldModel`` (anything with ``encode``, ``rollout_latents``,
            ``context_frames`` and ``info.action_space``).
        reward: scores imagined latents (``head_objective`` for a learned head).
        config: the search settings.
        terminal_value: optional value of the last imagined latent, added discounted.
        prior: optional policy on the current real observation; or ``latent_prior``, a batched
            policy on latents (at most one of them).
        seed: seeds the sampled sequences and the model's noise.
    """

    def __init__(
        self,
        world: WorldModel,
        reward: LatentReward,
        config: PlannerConfig | None = None,
        *,
        terminal_value: TerminalValue | None = None,
        prior: ObservationPrior | None = None,
        latent_prior: LatentPrior | None = None,
        seed: int = 0,
    ) -> None:
        if prior is not None and latent_prior is not None:
            raise ValueError("pass one policy prior: prior (on observations) or latent_prior (on latents)")
        self.config = config = config if config is not None else PlannerConfig()
        _, self.action_space = world_spaces(world)
        self.world, self.reward, self.terminal_value = world, reward, terminal_value
        self.prior, self.latent_prior = prior, latent_prior
        self.context_frames = world.context_frames
        self.rng = np.random.default_rng(seed)
        low, high = self.action_space.low, self.action_space.high
        self._center = ((low + high) / 2).astype(np.float32)  # (A,)
        # The first Gaussian of every plan covers the whole box; only its mean is warm-started.
        self._initial_std = np.tile((high - low) / 2, (config.horizon, 1)).astype(np.float32)  # (H, A)
        self.reset()

    def reset(self) -> None:
        """Forget the warm start and the held action, and reset the prior (start of an episode)."""
        self._mean = np.tile(self._center, (self.config.horizon, 1))  # (H, A)
        self._action, self._held = self._center, 0
        reset = getattr(self.prior if self.prior is not None else self.latent_prior, "reset", None)
        if reset is not None:
            reset()

    def _clip(self, actions: np.ndarray) -> np.ndarray:
        return np.clip(actions, self.action_space.low, self.action_space.high).astype(np.float32)

    def _rollout(self, context: torch.Tensor, sequences: np.ndarray) -> torch.Tensor:
        """Imagined latents (P, C, H * repeat, h, w) of sequences (P, H, A) from context (1, C, K, h, w)."""
        actions = np.repeat(sequences, self.config.action_repeat, axis=1)  # (P, H * repeat, A)
        return self.world.rollout_latents(
            context.expand(len(sequences), -1, -1, -1, -1),
            actions,
            seed=draw_seed(self.rng),
            steps=self.config.sampler_steps,
        )

    def returns(self, context: torch.Tensor, sequences: np.ndarray) -> np.ndarray:
        """Imagined returns (P,) of action sequences (P, H, A) from context latents (1, C, K, h, w)."""
        z = self._rollout(context, sequences).permute(0, 2, 1, 3, 4)  # (P, T, C, h, w)
        p, t = z.shape[:2]
        rewards, terminated = self.reward(z.reshape(p * t, *z.shape[2:]).float().cpu().numpy())
        values = None
        if self.terminal_value is not None:
            values = np.asarray(self.terminal_value(z[:, -1].float().cpu().numpy()), np.float64)  # (P,)
        return sequence_returns(
            np.asarray(rewards, np.float64).reshape(p, t),
            np.asarray(terminated, bool).reshape(p, t),
            discount=self.config.discount,
            terminal_values=values,
        )

    def _imagined_prior(self, context: torch.Tensor, n: int) -> np.ndarray:
        """(n, H, A): the latent prior acting in ``n`` imagined rollouts from context (1, C, K, h, w)."""
        k, repeat = self.context_frames, self.config.action_repeat
        z = context.expand(n, -1, -1, -1, -1)  # (n, C, K, h, w)
        steps = []
        for i in range(self.config.horizon):
            action = self._clip(np.asarray(self.latent_prior(z[:, :, -1].float().cpu().numpy())))  # (n, A)
            steps.append(action)
            if i + 1 < self.config.horizon:  # the last action's outcome is scored later, with the rest
                nxt = self.world.rollout_latents(
                    z,
                    np.repeat(action[:, None], repeat, axis=1),
                    seed=draw_seed(self.rng),
                    steps=self.config.sampler_steps,
                )  # (n, C, repeat, h, w)
                z = torch.cat([z, nxt], dim=2)[:, :, -k:]
        return np.stack(steps, axis=1)

    def prior_sequences(self, context: torch.Tensor, obs: Any) -> np.ndarray:
        """The prior's proposals (N, H, A), N = ``prior_samples`` (0 without a prior); the first is
        unperturbed."""
        h, a = self._mean.shape
        n = self.config.prior_samples if self.prior is not None or self.latent_prior is not None else 0
        if n == 0:
            return np.zeros((0, h, a), np.float32)
        if self.prior is not None:
            if obs is None:
                raise ValueError("this planner's prior acts on the real observation: pass obs= to plan / act")
            proposal = np.asarray(self.prior(obs), np.float32)
            if proposal.shape not in ((a,), (h, a)):
                raise ValueError(f"the prior must return ({a},) or ({h}, {a}) actions, got {proposal.shape}")
            base = np.broadcast_to(proposal, (n, h, a))
        else:
            base = self._imagined_prior(context, n)
        noise = self.config.prior_std * self.rng.standard_normal((n, h, a))
        noise[0] = 0.0
        return self._clip(base + noise)

    def plan(self, context: np.ndarray, obs: Any = None) -> np.ndarray:
        """The planned action sequence (H, A), the final Gaussian's mean, from context frames uint8
        (K, H, W, 3) and (for an observation prior) the real observation ``obs``."""
        cfg = self.config
        z = self.world.encode(context[None, -self.context_frames :])  # (1, C, K, h, w)
        prior = self.prior_sequences(z, obs)  # (N, H, A)
        mean, std = self._mean, self._initial_std
        for _ in range(cfg.iterations):
            noise = self.rng.standard_normal((cfg.population - len(prior), *mean.shape))
            sequences = np.concatenate([prior, self._clip(mean + std * noise)])  # (P, H, A)
            returns = self.returns(z, sequences)
            if cfg.method == "mppi":
                mean, std = mppi_update(
                    sequences, returns, elites=cfg.elites, temperature=cfg.temperature, min_std=cfg.min_std
                )
            else:
                mean, std = cem_update(sequences, returns, elites=cfg.elites, min_std=cfg.min_std)
        return mean.astype(np.float32)

    def act(self, context: np.ndarray, obs: Any = None) -> np.ndarray:
        """The next action (A,): a new plan's first action, or the held one under action repeat
        (until ``replan_every`` steps have run)."""
        if self._held == 0:
            plan = self.plan(context, obs)
            every = self.config.replan_every or self.config.action_repeat
            # Where the next plan starts searching: shifted by one decision once a whole decision
            # has run; replanning within a decision, its first decision is still the current one.
            if every == self.config.action_repeat:
                self._mean = np.concatenate([plan[1:], self._center[None]])
            else:
                self._mean = plan.copy()
            self._action, self._held = plan[0], every
        self._held -= 1
        return self._action.copy()


class MPCEpisode(NamedTuple):
    """One MPC episode in the simulator."""

    ret: float  # the simulator's return
    success: bool  # solved at its end
    seconds: float  # spent choosing actions (planning only, not simulating)
    actions: int  # simulator steps taken


def mpc_episode(planner: LatentPlanner, sim: gym.Env, rng: np.random.Generator, *, steps: int) -> MPCEpisode:
    """One MPC episode of at most ``steps`` in the simulator from an unsolved start drawn from ``rng``."""
    context, obs, _ = start_episode(sim, rng, planner.context_frames)
    planner.reset()
    total, seconds, info, taken = 0.0, 0.0, {}, 0
    for _ in range(steps):
        start = time.perf_counter()
        action = planner.act(context, obs)
        seconds += time.perf_counter() - start
        obs, reward, terminated, _, info = sim.step(action)
        total, taken = total + float(reward), taken + 1
        context = np.concatenate([context[1:], sim.render()[None]])
        if terminated:
            break
    return MPCEpisode(total, bool(info.get("is_success")), seconds, taken)


def evaluate_planner(
    planner: LatentPlanner,
    sim_factory: SimFactory,
    baselines: Mapping[str, PolicyFactory],
    *,
    episodes: int = 5,
    steps: int = 50,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Success rate and mean return of the planner's MPC and of each baseline policy in the simulator.

    Episode i starts from the same state for every controller. Baseline actions are clipped into
    the model's action box, the only actions the planner can choose. Returns name ->
    ``{"success_rate", "mean_return", "returns", "success"}``, the planner first under
    ``"planner"`` with ``"seconds_per_action"`` added (its planning time over its simulator steps).
    """
    if episodes < 1 or steps < 1:
        raise ValueError(f"episodes and steps must be >= 1, got {episodes} and {steps}")
    runs: dict[str, list[tuple[float, bool]]] = {"planner": [], **{name: [] for name in baselines}}
    seconds, actions = 0.0, 0
    sim = sim_factory()
    try:
        for i in range(episodes):
            ep = mpc_episode(planner, sim, np.random.default_rng([seed, i]), steps=steps)
            runs["planner"].append((ep.ret, ep.success))
            seconds, actions = seconds + ep.seconds, actions + ep.actions
            logger.info("planner episode %d: return %.2f, success %s, %.1f s", i, *ep[:3])
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
    results = {
        name: {
            "success_rate": float(np.mean([s for _, s in results])),
            "mean_return": float(np.mean([r for r, _ in results])),
            "returns": [r for r, _ in results],
            "success": [s for _, s in results],
        }
        for name, results in runs.items()
    }
    results["planner"]["seconds_per_action"] = seconds / actions
    return results

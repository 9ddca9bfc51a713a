"""``worldfm eval env``: a learned environment against its simulator, on the same actions.

For each policy (on Fetch, ``fetch_policy_ladder``: random and the scripted expert at several
action-noise levels, a ladder of quality) and each of ``episodes`` start states (the same starts
for every policy), the policy acts closed loop on the simulator's true state. Its actions are then
replayed **open loop** in the world model, from the same context frames. Open loop is deliberate:
a policy acting on the model's own frames would take other actions, and the two rollouts could no
longer be compared frame by frame; it also means the model's returns score the simulator's action
sequences, not the policy's behaviour inside the model.

Reported:

- per-step PSNR of the model's frames against the simulator's (one MSE pooled over all episodes
  per step), beside copying the last context frame (a model that predicts nothing);
- per policy, the mean return and the success rate (solved at the last frame) in the simulator
  and in the model, whose rewards come from its reward function (the learned reward head);
- over the policies (``envs.policy_metrics``): Pearson, Spearman and SIMPLER's MMRV of the model's
  success rates and mean returns against the simulator's (does the model rank good and bad
  behaviour like the simulator, and by how much does it misorder them?);
- over all episodes: Spearman of model and simulator returns, and the share of episodes whose
  success the model gets right.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.learned_reward import BatchRewardFn, as_batch_reward_fn
from envs.policy_metrics import RankAgreement, spearman
from envs.rerun_recorder import RerunRecorder
from envs.sim.fetch_policies import FetchPolicy, PickAndPlaceExpert, PushExpert, SmoothRandomPolicy
from envs.world_env import RewardFn, SimFactory, WorldModelEnv, draw_seed, resolve_reward_fn, world_spaces
from worldmodel.metrics import video_psnr
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)

PolicyFactory = Callable[[np.random.Generator], FetchPolicy]
"""Builds a closed-loop policy (``reset()``, ``policy(obs) -> action``) drawing its noise from the rng."""
# Resets that start solved are redrawn (as envs.sim.fetch does); this many in a row is an error.
MAX_SOLVED_RESETS = 100
# Action-noise levels (stationary std of the experts' AR(1) noise; 0 is the clean expert) ranked
# beside random by `worldfm eval env`. In the FetchPush simulator over 30 steps (16 starts) they
# succeed about 94, 88, 50, 25 and 6 % of the time, random 0 %: a spread of quality to rank. 0.05
# (`simulate fetch`'s "expert") is left out: it ties with the clean expert.
EVAL_EXPERT_NOISE = (0.0, 0.2, 0.3, 0.4, 0.8)
EXPERTS = {"push": PushExpert, "pickandplace": PickAndPlaceExpert}


def fetch_policy_ladder(
    task: str, expert_noise: Sequence[float] = EVAL_EXPERT_NOISE
) -> dict[str, PolicyFactory]:
    """Fetch policies of graded quality, worst first: random, then the expert at falling noise levels.

    Built from ``envs.sim.fetch_policies``'s pieces as ``envs.sim.fetch.make_policy`` builds its
    kinds (``random`` is that ``random``). Names: ``random``, ``expert`` (noise 0) and
    ``expert_noise<level>``.
    """
    if task not in EXPERTS:
        raise ValueError(f"task must be one of {list(EXPERTS)}, got {task!r}")
    levels = sorted({float(n) for n in expert_noise}, reverse=True)
    if len(levels) != len(expert_noise) or any(n < 0 for n in levels):
        raise ValueError(f"expert noise levels must be distinct and >= 0, got {list(expert_noise)}")
    expert = EXPERTS[task]
    ladder: dict[str, PolicyFactory] = {"random": SmoothRandomPolicy}
    for noise in levels:
        name = "expert" if noise == 0 else f"expert_noise{noise:g}"
        ladder[name] = lambda rng, noise=noise: expert(rng, noise=noise)
    return ladder


def simulator_start(sim: gym.Env, reset_seed: int, context_frames: int) -> tuple[np.ndarray, Any, bool]:
    """Reset ``sim`` with ``reset_seed`` and render the model's context frames.

    The frames are what ``envs.world_env.simulator_context`` renders (the reset frame, then
    ``context_frames - 1`` zero-action steps), so the same seed starts a ``WorldModelEnv`` alike.
    Returns uint8 ``(context_frames, H, W, 3)``, the observation after the last of those steps
    (what a policy acts on next) and whether the reset state was already solved.
    """
    obs, info = sim.reset(seed=reset_seed)
    solved = bool(info.get("is_success"))
    frames = [sim.render()]
    zero = np.zeros(sim.action_space.shape, sim.action_space.dtype)
    for _ in range(context_frames - 1):
        obs = sim.step(zero)[0]
        frames.append(sim.render())
    return np.stack(frames), obs, solved


def start_episode(sim: gym.Env, rng: np.random.Generator, context_frames: int) -> tuple[np.ndarray, Any, int]:
    """``simulator_start`` from the first reset seed drawn from ``rng`` whose state is not already solved.

    Returns the context frames, the observation a policy acts on next and the reset seed.
    """
    for _ in range(MAX_SOLVED_RESETS):
        reset_seed = draw_seed(rng)
        context, obs, solved = simulator_start(sim, reset_seed, context_frames)
        if not solved:
            return context, obs, reset_seed
    raise ValueError(
        f"{MAX_SOLVED_RESETS} resets in a row started solved; is the simulator's success test wrong?"
    )


@dataclass
class SimRollout:
    """One closed-loop episode in the simulator, after the context frames."""

    reset_seed: int
    context: np.ndarray  # uint8 (K, H, W, 3)
    actions: np.ndarray  # float32 (T, A), as applied: clipped into the model's action box
    frames: np.ndarray  # uint8 (T, H, W, 3): frame t follows action t
    rewards: np.ndarray  # float64 (T,)
    success: bool  # solved at the last frame


def simulator_rollout(
    sim: gym.Env,
    policy: FetchPolicy,
    rng: np.random.Generator,
    *,
    context_frames: int,
    horizon: int,
    action_space: spaces.Box,
) -> SimRollout:
    """Run ``policy`` closed loop on ``sim`` for ``horizon`` steps from an unsolved start drawn from ``rng``.

    Actions are clipped into ``action_space`` (the model's box) so that the model can be given
    exactly the actions the simulator got. Simulators that terminate within ``horizon`` are
    refused: rollouts are compared step by step over a fixed length. Time limits are ignored.
    """
    context, obs, reset_seed = start_episode(sim, rng, context_frames)
    policy.reset()
    actions, frames, rewards = [], [], []
    info: dict[str, Any] = {}
    for t in range(horizon):
        action = np.clip(policy(obs), action_space.low, action_space.high).astype(np.float32)
        obs, reward, terminated, _, info = sim.step(action)
        if terminated:
            raise ValueError(f"the simulator terminated at step {t + 1} of {horizon}; use a shorter horizon")
        actions.append(action)
        frames.append(sim.render())
        rewards.append(float(reward))
    return SimRollout(
        reset_seed,
        context,
        np.stack(actions),
        np.stack(frames),
        np.asarray(rewards),
        bool(info.get("is_success")),
    )


def model_rollouts(
    world: WorldModel,
    contexts: np.ndarray,
    actions: np.ndarray,
    reward_fn: BatchRewardFn,
    *,
    seed: int,
    sampler_steps: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replay ``actions`` open loop in ``world`` from ``contexts``, one batched step at a time.

    Each step is what ``WorldModelVectorEnv.step`` computes: one frame per action, conditioned on
    the last ``context_frames`` frames (predicted ones re-encoded), a model seed drawn from an rng
    seeded with ``seed``, then the reward of each transition.

    Args:
        contexts: uint8 (B, K, H, W, 3); actions: float32 (B, T, A), already in the model's box.

    Returns:
        frames uint8 (B, T, H, W, 3), rewards float64 (B, T), terminated bool (B, T).
    """
    rng = np.random.default_rng(seed)
    context = contexts[:, -world.context_frames :].copy()  # (B, K, H, W, 3)
    frames, rewards, terminated = [], [], []
    for t in range(actions.shape[1]):
        frame = world.predict(
            context,
            actions=actions[:, t : t + 1],
            horizon=1,
            seed=draw_seed(rng),
            steps=sampler_steps,
        )[:, 0]  # (B, H, W, 3)
        reward, done = reward_fn(context[:, -1], actions[:, t], frame)
        context = np.concatenate([context[:, 1:], frame[:, None]], axis=1)
        frames.append(frame)
        rewards.append(np.asarray(reward, np.float64))
        terminated.append(np.asarray(done, bool))
    return np.stack(frames, 1), np.stack(rewards, 1), np.stack(terminated, 1)


@dataclass
class PolicyScores:
    """One policy's episodes, scored in the simulator and in the model."""

    sim_returns: list[float]
    model_returns: list[float]
    sim_success: list[bool]
    model_success: list[bool]

    @property
    def summary(self) -> dict[str, float]:
        return {
            "sim_return": float(np.mean(self.sim_returns)),
            "model_return": float(np.mean(self.model_returns)),
            "sim_success": float(np.mean(self.sim_success)),
            "model_success": float(np.mean(self.model_success)),
        }


@dataclass
class EnvEvaluation:
    """What ``evaluate_env`` measured; see the module docstring."""

    episodes: int
    horizon: int
    psnr_per_step: list[float]
    copy_last_psnr_per_step: list[float]
    policies: dict[str, PolicyScores]
    policy_success: RankAgreement
    """over the policies' success rates (MMRV: a success-rate gap)"""
    policy_return: RankAgreement
    """over the policies' mean returns (MMRV: a return gap)"""
    return_spearman: float
    """over all episodes of all policies"""
    success_agreement: float
    """share of episodes whose success the model gets right"""
    rrd: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``worldfm eval env --json`` writes.

        JSON has no NaN or infinity: undefined correlations and the infinite PSNR of exact frames
        are ``None``.
        """

        def finite(x: float) -> float | None:
            return x if np.isfinite(x) else None

        return {
            "episodes": self.episodes,
            "horizon": self.horizon,
            "policies": {name: {**s.summary, "per_episode": asdict(s)} for name, s in self.policies.items()},
            "over_policies": {
                "success": self.policy_success.as_dict(),
                "return": self.policy_return.as_dict(),
            },
            "return_spearman_over_episodes": finite(self.return_spearman),
            "success_agreement": self.success_agreement,
            "psnr_per_step": [finite(p) for p in self.psnr_per_step],
            "copy_last_psnr_per_step": [finite(p) for p in self.copy_last_psnr_per_step],
            "rrd": None if self.rrd is None else str(self.rrd),
        }


def evaluate_env(
    world: WorldModel,
    sim_factory: SimFactory,
    policies: Mapping[str, PolicyFactory],
    *,
    episodes: int = 10,
    horizon: int = 16,
    seed: int = 0,
    sampler_steps: int | None = None,
    reward_fn: RewardFn | None = None,
    rrd: str | os.PathLike | None = None,
    rrd_policy: str | None = None,
) -> EnvEvaluation:
    """Run each policy ``episodes`` times in the simulator and replay its actions in the model.

    Args:
        world: an action-conditioned ``WorldModel``.
        sim_factory: builds its ground-truth simulator (``render()`` frames of the model's size;
            ``info["is_success"]`` marks solved states).
        policies: name -> factory of a closed-loop policy on the simulator's observations.
        episodes: episodes per policy; episode i starts from the same state for every policy.
        horizon: policy steps per episode (after the context frames).
        seed: fixes starts, policy noise and model noise.
        sampler_steps: diffusion sampler steps per predicted frame.
        reward_fn: the model's reward; default ``resolve_reward_fn`` (the checkpoint's head).
        rrd: write a Rerun recording of one rollout of ``rrd_policy`` (default: the last policy),
            model beside simulator (``RerunRecorder`` with ``paired_env``).
    """
    if episodes < 1 or horizon < 1:
        raise ValueError(f"episodes and horizon must be >= 1, got {episodes} and {horizon}")
    if not policies:
        raise ValueError("policies must name at least one policy")
    _, action_space = world_spaces(world)
    reward_fn = resolve_reward_fn(world, reward_fn)
    names = list(policies)
    runs: list[tuple[str, SimRollout]] = []
    sim = sim_factory()
    try:
        for i in range(episodes):
            for p, name in enumerate(names):
                runs.append(
                    (
                        name,
                        simulator_rollout(
                            sim,
                            policies[name](np.random.default_rng([seed, i, p])),
                            # Seeded by episode alone: every policy starts from the same state.
                            np.random.default_rng([seed, i]),
                            context_frames=world.context_frames,
                            horizon=horizon,
                            action_space=action_space,
                        ),
                    )
                )
    finally:
        sim.close()
    contexts = np.stack([r.context for _, r in runs])  # (B, K, H, W, 3)
    real = np.stack([r.frames for _, r in runs])  # (B, T, H, W, 3)
    frames, rewards, terminated = model_rollouts(
        world,
        contexts,
        np.stack([r.actions for _, r in runs]),
        as_batch_reward_fn(reward_fn),
        seed=seed,
        sampler_steps=sampler_steps,
    )
    scores = {name: PolicyScores([], [], [], []) for name in names}
    for b, (name, run) in enumerate(runs):
        s = scores[name]
        s.sim_returns.append(float(run.rewards.sum()))
        s.model_returns.append(float(rewards[b].sum()))
        s.sim_success.append(run.success)
        # As in the simulator: solved at the last frame.
        s.model_success.append(bool(terminated[b, -1]))
    sim_returns = np.array([r.rewards.sum() for _, r in runs])
    model_returns = rewards.sum(1)
    means = [s.summary for s in scores.values()]

    def over_policies(key: str) -> RankAgreement:
        return RankAgreement.of([m[f"sim_{key}"] for m in means], [m[f"model_{key}"] for m in means])

    result = EnvEvaluation(
        episodes=episodes,
        horizon=horizon,
        psnr_per_step=[video_psnr(real[:, t], frames[:, t]) for t in range(horizon)],
        copy_last_psnr_per_step=[video_psnr(real[:, t], contexts[:, -1]) for t in range(horizon)],
        policies=scores,
        policy_success=over_policies("success"),
        policy_return=over_policies("return"),
        return_spearman=spearman(sim_returns, model_returns),
        success_agreement=float(np.mean(np.array([r.success for _, r in runs]) == terminated[:, -1])),
    )
    if rrd is not None:
        name = rrd_policy or names[-1]
        result.rrd = record_paired_rollout(
            world,
            sim_factory,
            policies[name](np.random.default_rng([seed, episodes])),
            rrd,
            horizon=horizon,
            seed=seed,
            sampler_steps=sampler_steps,
            reward_fn=reward_fn,
        )
    return result


def record_paired_rollout(
    world: WorldModel,
    sim_factory: SimFactory,
    policy: FetchPolicy,
    path: str | os.PathLike,
    *,
    horizon: int,
    seed: int,
    sampler_steps: int | None,
    reward_fn: RewardFn,
) -> Path:
    """Write a Rerun ``.rrd`` of one episode: the model's frames beside the simulator's, on the same actions.

    The ``WorldModelEnv`` draws its start from ``seed``; a separate simulator replays that start so
    the policy can act on the true state, and the recorder's ``paired_env`` follows the same actions.
    """
    env = RerunRecorder(
        WorldModelEnv(world, sim_factory=sim_factory, reward_fn=reward_fn, sampler_steps=sampler_steps),
        path,
        paired_env=sim_factory(),
    )
    driver = sim_factory()
    try:
        _, info = env.reset(seed=seed)
        _, obs, _ = simulator_start(driver, info["sim_reset_seed"], world.context_frames)
        policy.reset()
        for _ in range(horizon):
            action = np.clip(policy(obs), env.action_space.low, env.action_space.high).astype(np.float32)
            obs = driver.step(action)[0]
            env.step(action)
    finally:
        driver.close()
        env.close()
    return Path(path)

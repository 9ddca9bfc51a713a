"""Reward and termination agreement: the same actions, from the same start states, in the simulator
and in its learned twin, summarised side by side.

A policy trained in the model is only worth something if the model rewards and ends episodes as the
simulator does. ``reward_agreement`` starts each episode from one simulator reset (the learned env
gets the same context frames), draws an action sequence in the simulator (uniform random actions, or
the scripted expert reading the simulator's privileged state) and replays it in the learned env,
all episodes of the model batched in one ``WorldModelVectorEnv``. ``agreement_table`` prints the
summary as Markdown.

The expert is closed-loop in the simulator only: the learned env has no state to read, so it gets
the expert's actions open-loop. Whatever differs between the two columns is the model's doing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from envs.sim.fetch import FetchSimEnv
from envs.sim.fetch_policies import PushExpert
from envs.world_env import draw_seed

AGREEMENT_POLICIES = ("random", "expert")


@dataclass(frozen=True)
class EpisodeSummary:
    """One world's episodes under one policy: how long they ran, how they ended, what they paid."""

    world: str
    """"simulator" or "model\""""
    policy: str
    episodes: int
    mean_length: float
    """mean steps until termination or the step limit"""
    termination_rate: float
    """share of episodes that terminated before the step limit"""
    success_rate: float
    """share of episodes with a successful step (reward 0 in Fetch; in the model, its success head:
    the model terminates on it)"""
    first_success: float
    """mean step of the first success, over the episodes that had one (NaN if none did)"""
    reward_min: float
    reward_max: float
    reward_mean: float
    """mean reward per step taken"""


def summarise(
    world: str, policy: str, rewards: np.ndarray, terminated: np.ndarray, success: np.ndarray
) -> EpisodeSummary:
    """Summary of ``(N, T)`` per-step rewards, terminated and success flags of N episodes of at most T
    steps; steps after an episode's first ``terminated`` are not counted (the episode is over)."""
    n, t = rewards.shape
    ended = terminated.any(axis=1)
    lengths = np.where(ended, terminated.argmax(axis=1) + 1, t)  # (N,)
    alive = np.arange(t)[None] < lengths[:, None]  # (N, T)
    taken = rewards[alive]
    succeeded = (success & alive).any(axis=1)  # (N,)
    first = (success & alive).argmax(axis=1) + 1  # (N,)
    return EpisodeSummary(
        world=world,
        policy=policy,
        episodes=n,
        mean_length=float(lengths.mean()),
        termination_rate=float(ended.mean()),
        success_rate=float(succeeded.mean()),
        first_success=float(first[succeeded].mean()) if succeeded.any() else float("nan"),
        # + 0.0: Fetch pays -0.0 on success, which would print as "-0.00".
        reward_min=float(taken.min()) + 0.0,
        reward_max=float(taken.max()) + 0.0,
        reward_mean=float(taken.mean()),
    )


def simulator_episodes(
    sim: FetchSimEnv,
    policy: str,
    seeds: Sequence[int],
    steps: int,
    context_frames: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Run ``policy`` for ``steps`` steps from each simulator reset seed, after the ``context_frames``
    start frames a learned env is given (``envs.world_env.simulator_context``).

    Returns ``context`` uint8 (N, K, H, W, 3), ``actions`` (N, T, 4) float32 and ``rewards``,
    ``terminated``, ``success`` (N, T).
    """
    if policy not in AGREEMENT_POLICIES:
        raise ValueError(f"policy must be one of {list(AGREEMENT_POLICIES)}, got {policy!r}")
    out: dict[str, list] = {k: [] for k in ("context", "actions", "rewards", "terminated", "success")}
    for seed in seeds:
        context, state = _start(sim, seed, context_frames)
        out["context"].append(context)
        act = _policy_fn(policy, sim, rng)
        episode: dict[str, list] = {k: [] for k in ("actions", "rewards", "terminated", "success")}
        for _ in range(steps):
            action = act(state)
            state, reward, terminated, _, info = sim.step(action)
            for key, value in zip(episode, (action, reward, terminated, info["is_success"] > 0), strict=True):
                episode[key].append(value)
        for key, values in episode.items():
            out[key].append(np.asarray(values))
    return {k: np.stack(v) for k, v in out.items()}


def _start(sim: FetchSimEnv, seed: int, context_frames: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``simulator_context``'s frames (reset with ``seed``, then zero actions), and the Fetch state
    after them: where both worlds' episodes start."""
    state, _ = sim.reset(seed=seed)
    frames = [sim.render()]
    for _ in range(context_frames - 1):
        state, *_ = sim.step(np.zeros(sim.action_space.shape, sim.action_space.dtype))
        frames.append(sim.render())
    return np.stack(frames), state


def _policy_fn(
    policy: str, sim: FetchSimEnv, rng: np.random.Generator
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    if policy == "expert":
        return PushExpert(rng)
    space = sim.action_space
    return lambda _: rng.uniform(space.low, space.high).astype(np.float32)


def model_episodes(
    model: gym.vector.VectorEnv, context: np.ndarray, actions: np.ndarray, seed: int | None = None
) -> dict[str, np.ndarray]:
    """Replay ``actions`` (N, T, A) in the learned vector env of N sub-environments, each started
    from ``context`` (N, K, H, W, 3), the model's noise seeded by ``seed``. Returns ``rewards``,
    ``terminated``, ``success`` (N, T); steps after a sub-environment ended are whatever it returned
    then and are ignored by ``summarise``."""
    n, t = actions.shape[:2]
    if model.num_envs != n:
        raise ValueError(f"the model env has {model.num_envs} sub-environments for {n} episodes")
    model.reset(seed=seed, options={"frames": context})
    rewards, terminated = np.zeros((n, t)), np.zeros((n, t), bool)
    success = np.zeros((n, t), bool)
    for step in range(t):
        _, rewards[:, step], terminated[:, step], _, info = model.step(actions[:, step])
        # A learned twin of a never-ending simulator reports its success head in info (as Fetch
        # does); one made to end on success ends exactly when the head says the task is solved.
        success[:, step] = info["is_success"] if "is_success" in info else terminated[:, step]
    return {"rewards": rewards, "terminated": terminated, "success": success}


def reward_agreement(
    model: gym.vector.VectorEnv,
    sim: FetchSimEnv,
    *,
    policies: Sequence[str] = AGREEMENT_POLICIES,
    steps: int = 50,
    seed: int = 0,
) -> list[EpisodeSummary]:
    """Simulator and model summaries, one pair per policy, over ``model.num_envs`` episodes of
    ``steps`` steps from the same start seeds (drawn from ``seed``; every policy uses the same ones).

    ``sim`` (``obs_mode="state"``: the expert reads it) must render frames of the model's size;
    ``model`` is the learned env's vector form (``gym.make_vec(id, n,
    vectorization_mode="vector_entry_point")``).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    unknown = set(policies) - set(AGREEMENT_POLICIES)
    if unknown:
        raise ValueError(f"policies must be from {list(AGREEMENT_POLICIES)}, got {sorted(unknown)}")
    if sim.obs_mode != "state":
        raise ValueError("reward_agreement needs the simulator in obs_mode='state' (the expert reads it)")
    context_frames = model.unwrapped.context_frames
    seeds = [draw_seed(np.random.default_rng([seed, e])) for e in range(model.num_envs)]
    rows = []
    for policy in policies:
        # Each policy's own stream, so a policy's episodes do not depend on which others ran.
        rng = np.random.default_rng([seed, model.num_envs + AGREEMENT_POLICIES.index(policy)])
        real = simulator_episodes(sim, policy, seeds, steps, context_frames, rng)
        imagined = model_episodes(model, real["context"], real["actions"], seed=int(rng.integers(2**31 - 1)))
        rows.append(summarise("simulator", policy, real["rewards"], real["terminated"], real["success"]))
        rows.append(summarise("model", policy, **imagined))
    return rows


def agreement_table(rows: Sequence[EpisodeSummary]) -> str:
    """The summaries as one Markdown table, simulator and model rows of a policy side by side."""
    lines = [
        "| policy | world | episodes | mean length | terminated | success | first success step "
        "| reward min | reward max | reward mean |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.policy} | {r.world} | {r.episodes} | {r.mean_length:.1f} | {r.termination_rate:.0%} | "
            f"{r.success_rate:.0%} | {r.first_success:.1f} | {r.reward_min:.2f} | {r.reward_max:.2f} | "
            f"{r.reward_mean:.2f} |"
        )
    return "\n".join(lines)

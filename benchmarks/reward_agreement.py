"""Reward and termination agreement of a learned env with its simulator, one table.

    python benchmarks/reward_agreement.py [--env worldfm/FetchPush-WM-v0] [--episodes 8] [--steps 50]

Random actions and the scripted push expert, from the same simulator start states, in the simulator
and (the same actions, replayed) in the learned env: mean episode length, termination and success
rates, reward range and mean (``envs.agreement``). The simulator never terminates and pays -1 or 0.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import torch

import envs  # noqa: F401 - registers the ids
from envs.agreement import AGREEMENT_POLICIES, agreement_table, reward_agreement
from envs.registration import checkpoint_simulator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="worldfm/FetchPush-WM-v0", help="a registered learned env id")
    parser.add_argument("--episodes", type=int, default=8, help="episodes per policy (batched in the model)")
    parser.add_argument("--steps", type=int, default=50, help="steps per episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policies", nargs="+", default=list(AGREEMENT_POLICIES), choices=AGREEMENT_POLICIES)
    args = parser.parse_args()

    start = time.perf_counter()
    model = gym.make_vec(args.env, num_envs=args.episodes, vectorization_mode="vector_entry_point")
    simulator = checkpoint_simulator(gym.spec(args.env).kwargs["checkpoint"])
    if simulator is None:
        raise SystemExit(f"{args.env} names no ground-truth simulator to compare with")
    size = model.single_observation_space.shape[0]
    sim = gym.make(simulator["id"], **{**simulator["kwargs"], "size": size}).unwrapped
    try:
        rows = reward_agreement(model, sim, policies=args.policies, steps=args.steps, seed=args.seed)
    finally:
        model.close()
        sim.close()
    print(agreement_table(rows))
    print(
        f"\n{args.env} vs {simulator['id']}, {args.episodes} episodes x {args.steps} steps, "
        f"seed {args.seed}; "
        f"CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}, "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()

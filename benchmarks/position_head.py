"""Does a head that reads positions let latent MPC beat its prior? (issue 24)

The reward head scores progress directly; the planner's 4-step candidates differ by about 0.6 cm
of progress, under a pixel of 64 px frames, and it ranks them at Spearman 0.30. This probe trains
a head on the world model's latent of one frame to the simulator's gripper, block and goal
positions and computes progress from them (``push_progress``), on the planner's own candidates:

1. **data**: from states along noisy-expert trunks in the Fetch simulator (``--data-seed``), the
   planner's candidates as ``LatentPlanner`` proposes them (the prior's action held over
   ``--horizon`` steps plus N(0, ``--prior-std``), the first exact), each rolled out from the
   cloned state (``FetchSimEnv.get_state``); final frames labelled with the positions;
2. **head**: two 3x3 convolutions and an MLP on the flattened latent, MSE on standardised positions;
3. **ranking**: within-state Spearman of its progress against the simulator's on held-out states,
   beside the checkpoint's reward head;
4. **control**: MPC with it in the model (``--episodes`` from ``control.py``'s start states), and
   with ``--oracle`` the same search with the simulator as its model and this head on real frames.

    OMP_NUM_THREADS=1 python benchmarks/position_head.py --wfm checkpoints/fetchpush-wm-dit --oracle

The head is a probe here, not a shipped model; the planner settings are ``control.py``'s options.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli.plan import add_planner_options, build_planner, planner_config  # noqa: E402
from envs.evaluate import start_episode  # noqa: E402
from envs.planning import evaluate_planner  # noqa: E402
from envs.sim.fetch import FetchSimEnv, make_policy, push_progress  # noqa: E402
from envs.sim.fetch_policies import fetch_positions  # noqa: E402
from worldmodel.atomic import atomic_write_bytes  # noqa: E402
from worldmodel.heads import frame_latents  # noqa: E402

CANDIDATES = 16


def candidate_groups(
    sim: FetchSimEnv, groups: int, seed: int, *, horizon: int, repeat: int, prior_std: float, context: int
) -> dict[str, np.ndarray]:
    """``groups`` states, each with ``CANDIDATES`` candidate rollouts: final frames (G, N, H, W, 3),
    the simulator's progress (G, N) and positions (G, N, 9: gripper, block, goal)."""
    rng = np.random.default_rng([seed, 4242])
    finals, progress, positions = [], [], []
    for g in range(groups):
        _, obs, _ = start_episode(sim, rng, context)
        prior = make_policy("push", "noisy_expert", np.random.default_rng([seed, g]))
        for _ in range(int(rng.integers(0, 40))):
            obs = sim.step(np.clip(prior(obs), -1, 1))[0]
        proposal = np.clip(prior(obs), -1, 1).astype(np.float32)
        sequences = proposal + prior_std * rng.standard_normal((CANDIDATES, horizon, proposal.size))
        sequences[0] = proposal
        start = sim.get_state()
        frames, prog, pos = [], [], []
        for sequence in np.repeat(np.clip(sequences, -1, 1), repeat, axis=1):
            sim.set_state(start)
            for action in sequence:
                obs = sim.step(action)[0]
            grip, block, goal = fetch_positions(obs)
            frames.append(sim.render())
            prog.append(float(push_progress(grip, block, goal)))
            pos.append(np.concatenate([grip, block, goal]))
        finals.append(np.stack(frames))
        progress.append(prog)
        positions.append(np.stack(pos))
    return {
        "final": np.stack(finals),
        "progress": np.asarray(progress),
        "positions": np.asarray(positions, np.float32),
    }


class PositionHead(nn.Module):
    """Latent (B, C, h, w) -> standardised positions (B, 9); ``progress`` undoes the scaling."""

    def __init__(self, channels: int, size: tuple[int, int], mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        h, w = size
        self.net = nn.Sequential(
            nn.Conv2d(channels, 64, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(64 * h * w, 256),
            nn.SiLU(),
            nn.Linear(256, 9),
        )
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @torch.no_grad()
    def progress(self, latents: np.ndarray) -> np.ndarray:
        q = (self(torch.as_tensor(np.asarray(latents), dtype=torch.float32)) * self.std + self.mean).numpy()
        return push_progress(q[:, 0:3], q[:, 3:6], q[:, 6:9])


def train_head(latents: torch.Tensor, positions: torch.Tensor, steps: int, seed: int) -> PositionHead:
    torch.manual_seed(seed)
    mean, std = positions.mean(0), positions.std(0) + 1e-6
    head = PositionHead(latents.shape[1], tuple(latents.shape[2:]), mean, std)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    for step in range(steps):
        for group in opt.param_groups:  # cosine from 1e-3 to 1e-4
            group["lr"] = 1e-3 * (0.1 + 0.45 * (1 + np.cos(np.pi * step / steps)))
        index = torch.randint(len(latents), (256,))
        loss = F.mse_loss(head(latents[index]), (positions[index] - mean) / std)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


def within_state_spearman(score, latents: np.ndarray, progress: np.ndarray) -> float:  # noqa: ANN001
    """Mean over states of Spearman(score of the candidates' latents, their true progress)."""
    rhos = [spearmanr(score(z), p).statistic for z, p in zip(latents, progress, strict=True)]
    return float(np.nanmean(rhos))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wfm", required=True, help="a Fetch world-model checkpoint with a reward head")
    parser.add_argument("--groups", type=int, default=3000, help="training states (16 candidates each)")
    parser.add_argument("--heldout-groups", type=int, default=300)
    parser.add_argument(
        "--data-seed", type=int, default=11, help="training / held-out states (never seed 1's)"
    )
    parser.add_argument("--head-steps", type=int, default=4000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="control.py's start states")
    parser.add_argument("--oracle", action="store_true", help="also plan with the simulator as the model")
    parser.add_argument("--json", default=None)
    add_planner_options(parser)
    args = parser.parse_args()
    from app.cli.eval import fetch_world
    from envs.planning_oracle import SimulatorPlanner

    started = time.perf_counter()
    world, sim_factory, policies, reward_fn = fetch_world(args.wfm, "push", objective="progress")
    config = planner_config(args)
    sim = sim_factory()
    data = {
        name: candidate_groups(
            sim,
            n,
            args.data_seed + offset,
            horizon=config.horizon,
            repeat=config.action_repeat,
            prior_std=config.prior_std,
            context=world.context_frames,
        )
        for name, n, offset in (("train", args.groups, 0), ("heldout", args.heldout_groups, 1000))
    }
    latents = {
        name: frame_latents(world, d["final"].reshape(-1, *d["final"].shape[2:])).float()
        for name, d in data.items()
    }
    head = train_head(
        latents["train"], torch.from_numpy(data["train"]["positions"].reshape(-1, 9)), args.head_steps, 0
    )
    held = latents["heldout"].numpy().reshape(args.heldout_groups, CANDIDATES, *latents["heldout"].shape[1:])
    truth = data["heldout"]["progress"]
    from envs.learned_reward import LearnedReward

    reward_head = LearnedReward.from_checkpoint(args.wfm, world, objective="progress", obs_mode="latent")
    report: dict[str, Any] = {
        "groups": args.groups,
        "spread_cm": float(np.median(truth.std(1)) * 100),
        "spearman_position_head": within_state_spearman(head.progress, held, truth),
        "spearman_reward_head": within_state_spearman(lambda z: reward_head.score(z)[0], held, truth),
    }
    print(
        f"within-state Spearman on {args.heldout_groups} held-out states (candidates "
        f"{report['spread_cm']:.1f} cm apart): position head {report['spearman_position_head']:.3f}, "
        f"reward head {report['spearman_reward_head']:.3f}",
        flush=True,
    )

    def position_reward(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return head.progress(z), np.zeros(len(z), bool)

    planners = {
        "model": build_planner(world, reward_fn, config, task="push", prior="noisy_expert", seed=args.seed)
    }
    if args.oracle:
        base = build_planner(world, reward_fn, config, task="push", prior="noisy_expert", seed=args.seed)
        planners["simulator"] = SimulatorPlanner(base, sim, "head")
    baselines = {"prior": policies["noisy_expert"]}
    for name, planner in planners.items():
        planner.reward = position_reward
        results = evaluate_planner(
            planner, lambda: sim, baselines, episodes=args.episodes, steps=args.steps, seed=args.seed
        )
        report[name] = results
        print(
            f"MPC with the position head, {name} as its model: {results['planner']['success_rate']:.0%} "
            f"({results['planner']['seconds_per_action']:.2f} s per action); prior alone "
            f"{results['prior']['success_rate']:.0%}",
            flush=True,
        )
    report["seconds"] = time.perf_counter() - started
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report, indent=1, default=float).encode())


if __name__ == "__main__":
    main()

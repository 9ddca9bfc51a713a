"""``worldfm plan``: CEM model-predictive control in a Fetch world model, against scripted policies."""

from __future__ import annotations

import argparse
import time

from app.cli.common import UserError, summary
from app.cli.eval import fetch_world

LABELS = {"cem": "CEM MPC in the world model", "random": "random (scripted)", "expert": "expert (scripted)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser(
        "plan",
        help="CEM model-predictive control in a Fetch world model, vs scripted random and expert",
        description="Plan action sequences in the world model by the cross-entropy method, execute the "
        "first action in the Fetch simulator, replan; report success against scripted policies.",
        epilog="examples:\n  worldfm plan --wfm runs/fetch-wm --episodes 10\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("--wfm", required=True, help="Fetch world-model checkpoint with a reward head")
    plan.add_argument("--task", choices=["push", "pickandplace"], default="push")
    plan.add_argument("--episodes", type=int, default=5)
    plan.add_argument("--steps", type=int, default=50, help="simulator steps per episode")
    plan.add_argument("--horizon", type=int, default=8, help="planned steps")
    plan.add_argument("--population", type=int, default=64)
    plan.add_argument("--elites", type=int, default=8)
    plan.add_argument("--iterations", type=int, default=3)
    plan.add_argument("--sampler-steps", type=int, default=4)
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument(
        "--objective",
        choices=["reward", "progress"],
        default="reward",
        help="what CEM maximises: the reward head's task reward, or its dense progress (heads trained with "
        "--progress)",
    )
    plan.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from envs.planning import CEMPlanner, evaluate_planner

    world, sim_factory, policies, reward_fn = fetch_world(args.wfm, args.task, args.objective)
    if reward_fn is None:
        raise UserError(f"{args.wfm} has no reward head to plan with; train one with `worldfm train reward`")
    try:
        planner = CEMPlanner(
            world,
            reward_fn,
            horizon=args.horizon,
            population=args.population,
            elites=args.elites,
            iterations=args.iterations,
            sampler_steps=args.sampler_steps,
            seed=args.seed,
        )
        start = time.perf_counter()
        results = evaluate_planner(
            planner,
            sim_factory,
            {name: policies[name] for name in ("random", "expert")},
            episodes=args.episodes,
            steps=args.steps,
            seed=args.seed,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    summary(
        f"| {args.episodes} Fetch {args.task} episodes x {args.steps} steps | success rate | mean return |"
    )
    summary("|---|---:|---:|")
    for name, m in results.items():
        summary(f"| {LABELS[name]} | {m['success_rate']:.0%} | {m['mean_return']:.2f} |")
    summary(f"planned in {time.perf_counter() - start:.0f} s")
    return 0

"""``worldfm plan``: latent MPC (MPPI / CEM) in a Fetch world model, against random, the expert and
the policy prior alone, from the same start states."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from app.cli.common import UserError, summary
from app.cli.eval import fetch_world
from app.cli.options import add_options

if TYPE_CHECKING:  # the planner modules import torch: loaded only when the command runs
    from collections.abc import Callable

    import numpy as np

    from envs.learned_reward import LearnedReward
    from envs.planner_config import PlannerConfig
    from envs.planning import LatentPlanner
    from worldmodel.world import WorldModel

# Planner settings on the command line: the fields of envs.planner_config.PlannerConfig.
PLANNER_OPTIONS = (
    "method",
    "horizon",
    "population",
    "elites",
    "iterations",
    "temperature",
    "min_std",
    "prior_samples",
    "prior_std",
    "action_repeat",
    "replan_every",
    "discount",
    "objective",
    "sampler_steps",
)
PRIORS = ("noisy_expert", "none")
LABELS = {
    "planner": "MPC in the world model",
    "random": "random (scripted)",
    "expert": "expert (scripted)",
    "prior": "policy prior alone",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser(
        "plan",
        help="latent MPC (MPPI / CEM) in a Fetch world model, vs random, the expert and its prior alone",
        description="Plan action sequences in the world model's latents (MPPI or CEM, seeded by a "
        "policy prior, scored by the checkpoint's reward head), execute the first action in the Fetch "
        "simulator, replan; report success against random, the expert and the prior alone.",
        epilog="examples:\n"
        "  worldfm plan --wfm checkpoints/fetchpush-wm-dit --episodes 6 --steps 30 --json plan.json\n"
        "  worldfm plan --wfm runs/fetch-wm --method cem --horizon 5 --save-planner\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        options=add_options_to,
    )
    plan.set_defaults(func=cmd_plan)


def add_options_to(plan: argparse.ArgumentParser) -> None:
    plan.add_argument("--wfm", required=True, help="Fetch world-model checkpoint with a reward head")
    plan.add_argument("--task", choices=["push", "pickandplace"], default="push")
    plan.add_argument("--episodes", type=int, default=5)
    plan.add_argument("--steps", type=int, default=50, help="simulator steps per episode")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument(
        "--prior",
        choices=PRIORS,
        default="noisy_expert",
        help="policy prior proposing part of the population from the current observation: the "
        "scripted noisy expert (a stand-in for a learned policy), or none",
    )
    plan.add_argument(
        "--prior-policy",
        default=None,
        metavar="PATH",
        help="a learned policy on the model's latents (`worldfm train bc`) as the prior instead of "
        "--prior: it acts inside each imagined rollout, and runs alone in the simulator as the "
        "'policy prior alone' row",
    )
    plan.add_argument("--json", default=None, help="also write the results to this json file")
    plan.add_argument(
        "--save-planner",
        action="store_true",
        help="store the planner settings used as the checkpoint's default (config.json's 'planner' section)",
    )
    add_planner_options(plan)


def add_planner_options(parser: argparse.ArgumentParser) -> None:
    """The ``PlannerConfig`` fields as options that override the checkpoint's saved settings
    (``planner_config``); ``worldfm plan`` and ``benchmarks/control.py`` take them."""
    from envs.planner_config import PlannerConfig

    defaults = PlannerConfig()
    group = parser.add_argument_group(
        "planner settings",
        "default: the checkpoint's saved 'planner' section, else "
        + ", ".join(f"{name}={getattr(defaults, name)}" for name in PLANNER_OPTIONS),
    )
    add_options(group, PlannerConfig, PLANNER_OPTIONS, defaults=dict.fromkeys(PLANNER_OPTIONS))


def planner_config(args: argparse.Namespace) -> PlannerConfig:
    """The checkpoint's saved planner settings with the options given on the command line."""
    from envs.planner_config import load_planner_config

    given = {name: getattr(args, name) for name in PLANNER_OPTIONS if getattr(args, name) is not None}
    return load_planner_config(args.wfm).replace(**given)


def build_planner(
    world: WorldModel,
    reward_fn: LearnedReward,
    config: PlannerConfig,
    *,
    task: str,
    prior: str,
    seed: int,
    latent_prior: Callable[[np.ndarray], np.ndarray] | None = None,
) -> LatentPlanner:
    """The MPC planner ``worldfm plan`` runs: ``config``'s search scored by the reward head, seeded by
    the scripted ``prior`` (one of ``PRIORS``) or a learned ``latent_prior`` (which wins) and, for
    the task reward, the head's value as the terminal value. Raises ``ValueError`` for settings
    the head cannot serve."""
    import numpy as np

    from envs.planning import planner_for
    from envs.sim.fetch import make_policy

    if latent_prior is not None:
        return planner_for(world, reward_fn.head, config, latent_prior=latent_prior, seed=seed)
    policy = None
    if prior != "none":
        policy = make_policy(task, prior, np.random.default_rng([seed, 1]))
    return planner_for(world, reward_fn.head, config, prior=policy, seed=seed)


def cmd_plan(args: argparse.Namespace) -> int:
    from envs.planner_config import save_planner_config
    from envs.planning import evaluate_planner

    world, sim_factory, policies, reward_fn = fetch_world(args.wfm, args.task)
    if reward_fn is None:
        raise UserError(f"{args.wfm} has no reward head to plan with; train one with `worldfm train reward`")
    try:
        config = planner_config(args)
        baselines = {"random": policies["random"], "expert": policies["expert"]}
        latent_prior = None
        if args.prior_policy is not None:
            from envs.latent_policy import LatentPolicyController, load_latent_policy

            learned = load_latent_policy(args.prior_policy, world)
            latent_prior = learned.act
            # The learned prior alone sees what it sees inside the planner: the simulator's frames,
            # encoded. One simulator serves the planner and every baseline, so it renders them.
            sim = sim_factory()
            sim_factory = lambda: sim  # noqa: E731
            baselines["prior"] = lambda rng: LatentPolicyController(learned, world, render=sim.render)
        elif args.prior != "none":
            baselines["prior"] = policies[args.prior]
        planner = build_planner(
            world,
            reward_fn,
            config,
            task=args.task,
            prior=args.prior,
            seed=args.seed,
            latent_prior=latent_prior,
        )
        results = evaluate_planner(
            planner, sim_factory, baselines, episodes=args.episodes, steps=args.steps, seed=args.seed
        )
    except ValueError as e:  # CheckpointError (a policy for another model's latents) included
        raise UserError(str(e)) from None
    spa = results["planner"]["seconds_per_action"]
    summary(
        f"| {args.episodes} Fetch {args.task} episodes x {args.steps} steps | success rate | mean return |"
    )
    summary("|---|---:|---:|")
    for name, m in results.items():
        label = f"{config.method.upper()} {LABELS[name]}" if name == "planner" else LABELS[name]
        summary(f"| {label} | {m['success_rate']:.0%} | {m['mean_return']:.2f} |")
    value_note = ", the head's value as terminal value" if planner.terminal_value is not None else ""
    summary(f"planning: {spa:.2f} s per action{value_note}")
    if args.save_planner:
        save_planner_config(args.wfm, config)
        summary(f"planner settings stored as the default of {args.wfm}")
    if args.json:
        write_report(args, config, results, terminal_value=planner.terminal_value is not None)
        summary(f"results: {args.json}")
    return 0


def write_report(
    args: argparse.Namespace, config: PlannerConfig, results: dict[str, Any], *, terminal_value: bool
) -> None:
    """The ``--json`` report: the planner's success rate and planning time beside the baselines'."""
    import json

    from worldmodel.atomic import atomic_write_bytes

    def rate(name: str) -> float | None:
        return results[name]["success_rate"] if name in results else None

    report = {
        "wfm": args.wfm,
        "task": args.task,
        "seed": args.seed,
        "episodes": args.episodes,
        "steps": args.steps,
        "prior": args.prior if args.prior_policy is None else f"policy:{args.prior_policy}",
        "planner": dataclasses.asdict(config),
        "terminal_value": terminal_value,
        "success_rate": rate("planner"),
        "seconds_per_action": results["planner"]["seconds_per_action"],
        "random_success_rate": rate("random"),
        "expert_success_rate": rate("expert"),
        "prior_success_rate": rate("prior"),
        "results": results,
    }
    atomic_write_bytes(args.json, json.dumps(report, indent=1).encode())

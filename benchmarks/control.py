"""Control in the learned world, one table: what is planned, learned and ranked in a Fetch world
model, measured in the real simulator from held-out start states (issue 24's benchmark).

    python benchmarks/control.py --wfm checkpoints/fetchpush-wm-dit            # 50 x 50, the targets
    python benchmarks/control.py --wfm checkpoints/fetchpush-wm-dit --episodes 6 --steps 30 --quick

Rows, each beside its baseline from the same start states in one run:

- **MPC in the learned model** (``envs.planning.LatentPlanner`` with the checkpoint's saved planner
  settings, else ``PlannerConfig``'s defaults, and any of ``worldfm plan``'s planner options given
  here; the scripted noisy expert as its policy prior):
  FetchPush success in the simulator against the prior run alone, random and the expert;
  targets ≥ 50 % and ≥ 15 points above the prior alone;
- **where a shortfall comes from** (``--oracle progress head``, ``envs.planning_oracle``): the
  same search with the simulator as its model, scored by the simulator's progress (perfect model
  and head) or by the reward head on the real frames (perfect model, the learned head);
- **planning time** per simulator action (target ≤ 1 s on 2 CPU cores);
- **policy evaluation** (``envs.evaluate.evaluate_env`` over the 6-policy ladder): Pearson and
  SIMPLER's MMRV of the model's success rates against the simulator's (targets ≥ 0.9, ≤ 0.05);
- **learned-env speed**: the latent vector env at 64 envs and the pixel env at 16, against the
  Fetch simulator's step + render in the same run (targets ≥ 5x and ≥ 1x).

Start states are drawn from ``--seed`` (default 1; the shipped model was trained on episodes of
``simulate fetch --seed 100``, whose resets it never sees here). The header names the CPU and the
machine's load, since every time on a shared 2-core machine moves with it. ``--json`` writes
every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark scripts

from env_speed import cpu_name, fetch_rate, learned_env_rate  # noqa: E402

from app.cli.plan import PRIORS, add_planner_options  # noqa: E402
from envs.evaluate import EVAL_EXPERT_NOISE, evaluate_env, fetch_policy_ladder  # noqa: E402
from envs.planning import evaluate_planner  # noqa: E402
from worldmodel.atomic import atomic_write_bytes  # noqa: E402

TARGETS = {
    "mpc_success": 0.5,
    "mpc_over_prior": 0.15,
    "seconds_per_action": 1.0,
    "policy_pearson": 0.9,
    "policy_mmrv": 0.05,
    "latent_env_speedup": 5.0,
    "pixel_env_speedup": 1.0,
}


def mpc_rows(args: argparse.Namespace) -> dict[str, Any]:
    from app.cli.eval import fetch_world
    from app.cli.plan import build_planner, planner_config

    world, sim_factory, policies, reward_fn = fetch_world(args.wfm, "push")
    if reward_fn is None:
        raise SystemExit(f"{args.wfm} has no reward head: train one with `worldfm train reward`")
    config = planner_config(args)
    planner = build_planner(world, reward_fn, config, task="push", prior=args.prior, seed=args.seed)
    baselines = {"random": policies["random"], "expert": policies["expert"], "prior": policies[args.prior]}
    results = evaluate_planner(
        planner, sim_factory, baselines, episodes=args.episodes, steps=args.steps, seed=args.seed
    )
    value = planner.terminal_value is not None
    return {"planner_config": dataclasses.asdict(config), "terminal_value": value, **results}


def oracle_rows(args: argparse.Namespace) -> dict[str, Any]:
    """Success of the same search with the simulator as its model, per score in ``args.oracle``."""
    from app.cli.eval import fetch_world
    from app.cli.plan import build_planner, planner_config
    from envs.planning_oracle import SimulatorPlanner

    world, sim_factory, _, reward_fn = fetch_world(args.wfm, "push")
    config = planner_config(args)
    sim = sim_factory()
    out = {}
    for score in args.oracle:
        base = build_planner(world, reward_fn, config, task="push", prior=args.prior, seed=args.seed)
        planner = SimulatorPlanner(base, sim, score)
        results = evaluate_planner(
            planner, lambda: sim, {}, episodes=args.episodes, steps=args.steps, seed=args.seed
        )
        out[score] = results["planner"]
    return out


def policy_eval_rows(wfm: str, episodes: int, steps: int, seed: int) -> dict[str, Any]:
    from app.cli.eval import fetch_world

    world, sim_factory, _, reward_fn = fetch_world(wfm, "push")
    r = evaluate_env(
        world,
        sim_factory,
        fetch_policy_ladder("push", EVAL_EXPERT_NOISE),
        episodes=episodes,
        horizon=steps,
        seed=seed,
        reward_fn=reward_fn,
    )
    return r.as_dict()


def speed_rows(wfm: str, steps: int) -> dict[str, float]:
    from worldmodel.world import WorldModel

    world = WorldModel.from_pretrained(wfm)
    fetch = fetch_rate("push", world.frame_size[0], 100)
    latent = learned_env_rate(world, 64, world.default_steps, steps, "latent")
    pixels = learned_env_rate(world, 16, world.default_steps, steps, "pixels")
    return {"fetch_steps_per_s": fetch, "latent64_steps_per_s": latent, "pixels16_steps_per_s": pixels}


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wfm", required=True, help="a Fetch world-model checkpoint with a reward head")
    parser.add_argument("--episodes", type=int, default=50, help="simulator episodes per controller")
    parser.add_argument("--steps", type=int, default=50, help="simulator steps per episode")
    parser.add_argument(
        "--eval-episodes", type=int, default=None, help="policy-evaluation episodes (default: --episodes)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="start states (held out from training's seed 100)"
    )
    parser.add_argument(
        "--prior", choices=PRIORS[:-1], default="noisy_expert", help="the planner's policy prior"
    )
    parser.add_argument(
        "--oracle",
        nargs="*",
        default=[],
        choices=["progress", "head"],
        help="also run the search with the simulator as its model (upper bounds; see envs.planning_oracle)",
    )
    parser.add_argument("--speed-steps", type=int, default=10, help="timed step() calls per env-speed row")
    parser.add_argument("--skip", nargs="*", default=[], choices=["mpc", "policy_eval", "speed"])
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    add_planner_options(parser)
    args = parser.parse_args()

    load = os.getloadavg()[0]
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads, load average {load:.1f} at start\n")
    report: dict[str, Any] = {
        "wfm": args.wfm,
        "episodes": args.episodes,
        "steps": args.steps,
        "seed": args.seed,
    }
    rows: list[tuple[str, str, str, str]] = []
    started = time.perf_counter()
    if "mpc" not in args.skip:
        m = report["mpc"] = mpc_rows(args)
        ours, prior = m["planner"]["success_rate"], m["prior"]["success_rate"]
        rows.append(
            (
                "MPC in the model, FetchPush success in the simulator",
                f"{ours:.0%} (prior alone {prior:.0%}, random {m['random']['success_rate']:.0%}, "
                f"expert {m['expert']['success_rate']:.0%})",
                f">= 50 % and >= prior + 15 points ({prior + TARGETS['mpc_over_prior']:.0%})",
                _mark(ours >= TARGETS["mpc_success"] and ours >= prior + TARGETS["mpc_over_prior"]),
            )
        )
        spa = m["planner"]["seconds_per_action"]
        rows.append(("planning time per action", f"{spa:.2f} s", "<= 1 s", _mark(spa <= 1.0)))
    if args.oracle:
        o = report["oracle"] = oracle_rows(args)
        labels = {"progress": "the simulator's progress", "head": "the reward head on real frames"}
        for score, result in o.items():
            rows.append(
                (
                    f"the same search with the simulator as its model, scored by {labels[score]}",
                    f"{result['success_rate']:.0%}",
                    "(upper bound, diagnosis)",
                    "",
                )
            )
    if "policy_eval" not in args.skip:
        e = report["policy_eval"] = policy_eval_rows(
            args.wfm, args.eval_episodes or args.episodes, args.steps, args.seed
        )
        success = e["over_policies"]["success"]
        rows.append(
            (
                f"policy evaluation over {len(e['policies'])} policies (success rate)",
                f"Pearson {success['pearson'] or float('nan'):.2f}, MMRV {success['mmrv'] or 0:.2f}",
                ">= 0.9, <= 0.05",
                _mark(
                    (success["pearson"] or 0) >= TARGETS["policy_pearson"]
                    and (success["mmrv"] if success["mmrv"] is not None else 1) <= TARGETS["policy_mmrv"]
                ),
            )
        )
    if "speed" not in args.skip:
        s = report["speed"] = speed_rows(args.wfm, args.speed_steps)
        latent, pixels = (
            s[k] / s["fetch_steps_per_s"] for k in ("latent64_steps_per_s", "pixels16_steps_per_s")
        )
        rows.append(
            (
                "latent vector env (64 envs) vs the Fetch simulator",
                f"{s['latent64_steps_per_s']:.0f} vs {s['fetch_steps_per_s']:.0f} steps/s: {latent:.2f}x",
                ">= 5x",
                _mark(latent >= TARGETS["latent_env_speedup"]),
            )
        )
        rows.append(
            (
                "pixel vector env (16 envs) vs the Fetch simulator",
                f"{s['pixels16_steps_per_s']:.0f} steps/s: {pixels:.2f}x",
                ">= 1x",
                _mark(pixels >= TARGETS["pixel_env_speedup"]),
            )
        )
    report["seconds"] = time.perf_counter() - started
    report["load_average_end"] = os.getloadavg()[0]
    print(f"| {args.episodes} episodes x {args.steps} steps, start seed {args.seed} | ours | target | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{report['seconds']:.0f} s; load average {load:.1f} at start, "
        f"{report['load_average_end']:.1f} at end"
    )
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report, indent=1, default=float).encode())
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()

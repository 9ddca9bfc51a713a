"""``worldfm train dagger``: close the loop between the planner and the world model it plans in.

DAgger (Ross et al. 2011, arXiv 1011.0686) as online world modelling (DIAMOND, arXiv 2405.12399):
a model trained on scripted demonstrations is least accurate where its own planner drives the arm,
so each round adds the planner's episodes to the data and fits the model to them. Round r:

1. plan ``episodes_per_round`` episodes in the Fetch simulator with round r-1's checkpoint (round
   0's is ``--wfm``), recorded as shards (``envs.planner_episodes``) in ``OUT/round-r/data``;
2. fine-tune the world model from round r-1's on ``--data`` plus every round's episodes so far,
   ``finetune_steps`` steps, into ``OUT/round-r/model`` (``training.train_wfm``, resumable);
3. retrain the reward head there on the same data, with the previous head's settings;
4. evaluate the new checkpoint's planner from held-out start states (``eval_seed``) against the
   prior alone, the scripted expert and random (``envs.planning.evaluate_planner``), and append the
   round's row to ``OUT/rounds.json`` (rewritten atomically).

Row 0 evaluates ``--wfm`` itself. A rerun skips every round with a row and, inside an unfinished
round, every step whose output is complete; ``--rounds`` can grow between runs, other settings not.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cli.common import UserError, summary
from app.cli.eval import fetch_world
from app.cli.options import add_options
from app.cli.plan import LABELS, PRIORS, add_planner_options, build_planner, planner_config
from app.recipe.steps import newer, trained
from envs.planner_config import PlannerConfig

ROUNDS_FILE = "rounds.json"
"""the run's record in ``out`` (``app.recipe.steps.dagger_finished`` reads it as a recipe's done check)"""
TASKS = ("push", "pickandplace")


@dataclass
class DaggerArgs:
    """One DAgger run; defaults are a small run on the shipped 64 px Fetch push model."""

    wfm: str = ""
    """the action-conditioned Fetch world model to start from, with a reward head"""
    data: list[str] = field(default_factory=list)
    """the shard folder(s) it was trained on; every round fine-tunes on these plus the planner's episodes"""
    out: str = "runs/dagger"
    """folder of round-<r>/{data,model} and rounds.json"""
    task: str = field(default="push", metadata={"choices": TASKS})
    """the Fetch task"""
    rounds: int = 3
    """plan / record / fine-tune rounds after the start model's evaluation"""
    episodes_per_round: int = 8
    """planner episodes recorded in the simulator per round"""
    steps: int = 50
    """planned simulator steps per episode, recorded and evaluated"""
    eval_episodes: int = 8
    """held-out start states the planner is evaluated from after each round"""
    eval_seed: int = 1000
    """seed of those start states; the recorded episodes' starts never coincide with them
    (``envs.planner_episodes.RECORD_STREAM``)"""
    seed: int = 0
    """seed of the recorded episodes' starts, the planner's sampling and the trainings"""
    prior: str = field(default="noisy_expert", metadata={"choices": PRIORS})
    """the planner's policy prior, as for ``worldfm plan``"""
    finetune_steps: int = 500
    """world-model fine-tuning steps per round (from the previous round's weights)"""
    batch_size: int = 16
    """clips per fine-tuning step"""
    lr: float = 3e-4
    """peak fine-tuning learning rate (cosine to lr / 10)"""
    ema_decay: float = 0.99
    """EMA of the fine-tuned weights; a short fine-tune needs a short average (0.999 would still be
    mostly the starting weights after a few hundred steps)"""
    head_steps: int | None = None
    """reward-head training steps (default: the previous head's)"""
    head_imagined_horizon: int | None = None
    """reward-head imagined rollout length (default: the previous head's; 0 trains on real frames only)"""
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    """the planner's search settings (on the command line: the --wfm checkpoint's saved ones, else
    ``PlannerConfig``'s, with single fields overridden); stored in each round's model. Unset
    ``sampler_steps`` become the --wfm checkpoint's default for every round"""

    def __post_init__(self) -> None:
        if not self.wfm:
            raise ValueError("wfm must name a Fetch world-model checkpoint with a reward head (--wfm)")
        if not self.data:
            raise ValueError("data must name the shard folder(s) the world model was trained on (--data)")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {list(PRIORS)}, got {self.prior!r}")
        for name in (
            "rounds",
            "episodes_per_round",
            "steps",
            "eval_episodes",
            "finetune_steps",
            "batch_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if self.head_steps is not None and self.head_steps < 1:
            raise ValueError(f"head_steps must be >= 1, got {self.head_steps}")
        if self.head_imagined_horizon is not None and self.head_imagined_horizon < 0:
            raise ValueError(f"head_imagined_horizon must be >= 0, got {self.head_imagined_horizon}")
        self.data = [str(d) for d in self.data]

    def settings(self) -> dict[str, Any]:
        """What a rerun must repeat to continue this run (all but ``rounds`` and ``out``), as json has it."""
        kept = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("rounds", "out")}
        return json.loads(json.dumps(kept))


RUN = (
    "wfm",
    "data",
    "out",
    "task",
    "rounds",
    "episodes_per_round",
    "steps",
    "eval_episodes",
    "eval_seed",
    "seed",
    "prior",
    "finetune_steps",
    "batch_size",
    "lr",
    "ema_decay",
    "head_steps",
    "head_imagined_horizon",
)


def add_options_to(parser: argparse.ArgumentParser) -> None:
    add_options(parser, DaggerArgs, RUN, required=("wfm", "data"), flags={"ema_decay": "--ema"})
    add_planner_options(parser)


def cmd_dagger(args: argparse.Namespace) -> int:
    try:
        run = DaggerArgs(**{name: getattr(args, name) for name in RUN}, planner=planner_config(args))
    except ValueError as e:
        raise UserError(str(e)) from None
    rows = run_dagger(run)
    summary(
        f"| round | planner episodes in the data | {LABELS['planner']} | {LABELS['prior']} | s per action |"
    )
    summary("|---:|---:|---:|---:|---:|")
    for row in rows:
        prior = row["baselines"].get("prior")
        summary(
            f"| {row['round']} | {row['planner_episodes']} | {row['success_rate']:.0%} | "
            + (f"{prior:.0%}" if prior is not None else "n/a")
            + f" | {row['seconds_per_action']:.2f} |"
        )
    summary(f"rounds: {Path(run.out) / ROUNDS_FILE}")
    return 0


# --- the loop --------------------------------------------------------------------------------


def run_dagger(args: DaggerArgs) -> list[dict[str, Any]]:
    """Run (or continue) the rounds of ``args``; returns every row of ``rounds.json``, round 0 first."""
    from worldmodel.atomic import atomic_write_text

    args = pin_sampler_steps(args)
    out = Path(args.out)
    log = _read_log(out, args)
    rows: list[dict[str, Any]] = log["rounds"]

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        rows.sort(key=lambda r: r["round"])
        atomic_write_text(out / ROUNDS_FILE, json.dumps(log, indent=1))
        summary(_round_line(row))

    done = {row["round"] for row in rows}
    if 0 not in done:
        start = time.perf_counter()
        record(
            {
                "round": 0,
                "model": args.wfm,
                "planner_episodes": 0,
                **_evaluate(args, args.wfm),
                "seconds": time.perf_counter() - start,
            }
        )
    for r in range(1, args.rounds + 1):
        if r in done:
            summary(f"round {r}: finished before ({out / ROUNDS_FILE}), skipped")
            continue
        start = time.perf_counter()
        previous = args.wfm if r == 1 else str(out / f"round-{r - 1}" / "model")
        data = _record(args, previous, r)
        shards = [*args.data, *(str(out / f"round-{i}" / "data") for i in range(1, r + 1))]
        model = _finetune(args, previous, shards, r)
        head = _train_head(args, previous, model, shards)
        record(
            {
                "round": r,
                "model": str(model),
                "planner_episodes": r * args.episodes_per_round,
                "recorded_success_rate": data["stats"].get("success_rate"),
                "recorded_block_moved_rate": data["stats"].get("block_moved_rate"),
                "wfm": _last_eval(model),
                "head": head,
                **_evaluate(args, str(model)),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def pin_sampler_steps(args: DaggerArgs) -> DaggerArgs:
    """``args`` with unset planner ``sampler_steps`` set to the ``--wfm`` checkpoint's default.

    A fine-tune writes no sampler default (its checkpoint would fall back to 8 steps, 8 times the
    planning time of a 1-step default): every round plans with the start checkpoint's, so rounds
    differ in their weights alone.
    """
    from worldmodel import hub

    if args.planner.sampler_steps is not None:
        return args
    steps = hub.read_info(args.wfm).sampler_steps
    return dataclasses.replace(args, planner=args.planner.replace(sampler_steps=steps))


def _read_log(out: Path, args: DaggerArgs) -> dict[str, Any]:
    """``rounds.json`` of ``out`` (a new one if absent); one of a run with other settings is an error."""
    path = out / ROUNDS_FILE
    if not path.exists():
        return {"settings": args.settings(), "rounds": []}
    try:
        log = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"{path} is not valid json ({e}); move it away to start the run over") from None
    if log.get("settings") != args.settings():
        changed = sorted(
            k
            for k in set(log.get("settings", {})) | set(args.settings())
            if log.get("settings", {}).get(k) != args.settings().get(k)
        )
        raise UserError(
            f"{out} holds a DAgger run with other settings ({', '.join(changed)}); "
            "rerun with the same options (only --rounds may change) or pass another --out"
        )
    return log


def _record(args: DaggerArgs, previous: str, r: int) -> dict[str, Any]:
    """Round ``r``'s planner episodes with ``previous``'s checkpoint in ``OUT/round-r/data``; its manifest."""
    import numpy as np

    from envs.planner_episodes import planner_episodes
    from envs.record import record_episodes

    folder = Path(args.out) / f"round-{r}" / "data"
    manifest = folder / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    world, sim_factory, _, reward_fn = _fetch_world(previous, args.task)
    seed = int(np.random.SeedSequence([args.seed, r]).generate_state(1)[0])
    planner = _planner(args, world, reward_fn, seed)
    episodes = planner_episodes(
        planner,
        sim_factory,
        episodes=args.episodes_per_round,
        steps=args.steps,
        seed=args.seed,
        round_index=r,
    )
    run_info = {
        "command": "train dagger",
        "round": r,
        "wfm": previous,
        "planner": dataclasses.asdict(args.planner),
    }
    return record_episodes(episodes, folder, total=args.episodes_per_round, run_info=run_info, progress=False)


def _finetune(args: DaggerArgs, previous: str, shards: list[str], r: int) -> Path:
    """Round ``r``'s world model: ``previous`` fine-tuned on ``shards`` (skipped once finished)."""
    from envs.planner_config import save_planner_config
    from training.posttrain_settings import posttrain_settings
    from training.runs import command_run
    from training.train_wfm import WFMTrainArgs, train_wfm

    model = Path(args.out) / f"round-{r}" / "model"
    if not trained(model, args.finetune_steps):
        steps = args.finetune_steps
        try:
            settings = posttrain_settings(
                posttrain=True, task=None, init_from=previous, given={}, residual=False
            )
            run = WFMTrainArgs(
                data=shards,
                out=str(model),
                init_from=previous,
                train=command_run(
                    steps=steps,
                    batch_size=args.batch_size,
                    lr=args.lr,
                    min_lr=args.lr / 10,
                    warmup_steps=min(100, steps),
                    ema_decay=args.ema_decay,
                    eval_every=steps,
                    save_every=min(250, steps),
                    log_every=min(25, steps),
                    seed=args.seed,
                    out_dir=str(model),
                ),
                **settings,
            )
            train_wfm(run)
        except ValueError as e:
            raise UserError(str(e)) from None
    save_planner_config(model, args.planner)
    return model


def _train_head(args: DaggerArgs, previous: str, model: Path, shards: list[str]) -> dict[str, float]:
    """The reward head of ``model``, retrained on ``shards`` with ``previous``'s head settings; its
    held-out metrics (the head is not retrained when it is newer than the model's weights)."""
    from training.train_reward import RewardTrainArgs, train_reward
    from worldmodel import hub
    from worldmodel.heads import REWARD_HEAD_DIR

    head = model / REWARD_HEAD_DIR
    if not newer(head / "config.json", model / "model.safetensors"):
        before = hub.read_config(Path(previous) / REWARD_HEAD_DIR)
        config = before["config"]
        defaults = RewardTrainArgs(wfm=str(model), data=shards)
        horizon = args.head_imagined_horizon
        try:
            train_reward(
                dataclasses.replace(
                    defaults,
                    hidden=config["hidden"],
                    arch=config.get("arch", defaults.arch),
                    progress=bool(config.get("progress")),
                    value=bool(config.get("value")),
                    gamma=config.get("gamma", defaults.gamma),
                    steps=args.head_steps or int(before.get("steps", defaults.steps)),
                    imagined_horizon=horizon
                    if horizon is not None
                    else int(before.get("imagined_horizon", 0)),
                    seed=args.seed,
                )
            )
        except ValueError as e:
            raise UserError(str(e)) from None
    return _held_out(hub.read_config(head).get("metrics", {}))


def _evaluate(args: DaggerArgs, ckpt: str) -> dict[str, Any]:
    """The planner of ``ckpt`` from the held-out starts, beside the prior alone, the expert and random."""
    from envs.planning import evaluate_planner

    world, sim_factory, policies, reward_fn = _fetch_world(ckpt, args.task)
    planner = _planner(args, world, reward_fn, args.eval_seed)
    baselines = {"random": policies["random"], "expert": policies["expert"]}
    if args.prior != "none":
        baselines["prior"] = policies[args.prior]
    try:
        results = evaluate_planner(
            planner,
            sim_factory,
            baselines,
            episodes=args.eval_episodes,
            steps=args.steps,
            seed=args.eval_seed,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    planner_results = results.pop("planner")
    return {
        "success_rate": planner_results["success_rate"],
        "mean_return": planner_results["mean_return"],
        "seconds_per_action": planner_results["seconds_per_action"],
        "baselines": {name: m["success_rate"] for name, m in results.items()},
    }


def _fetch_world(ckpt: str, task: str):  # noqa: ANN202 - app.cli.eval.fetch_world's tuple
    world, sim_factory, policies, reward_fn = fetch_world(ckpt, task)
    if reward_fn is None:
        raise UserError(f"{ckpt} has no reward head to plan with; train one with `worldfm train reward`")
    return world, sim_factory, policies, reward_fn


def _planner(args: DaggerArgs, world: Any, reward_fn: Any, seed: int) -> Any:  # noqa: ANN401 - torch-free signature
    try:
        return build_planner(world, reward_fn, args.planner, task=args.task, prior=args.prior, seed=seed)
    except ValueError as e:
        raise UserError(str(e)) from None


def _held_out(metrics: dict[str, float]) -> dict[str, float | None]:
    """The ``eval/`` metrics, an undefined one (a correlation of constants) as None: json has no NaN."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in metrics.items() if k.startswith("eval/")}


def _last_eval(model: Path) -> dict[str, float | None]:
    """The last held-out metrics in the run's ``logs/metrics.csv`` (the fine-tune's, resumed or not)."""
    path = model / "logs" / "metrics.csv"
    latest: dict[str, float] = {}
    if path.exists():
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                latest |= {
                    k: float(v) for k, v in row.items() if k.startswith("eval/") and v not in ("", None)
                }
    return _held_out(latest)


def _round_line(row: dict[str, Any]) -> str:
    """One line per round: what was added and what the planner then scores."""
    baselines = ", ".join(f"{LABELS[name]} {rate:.0%}" for name, rate in row["baselines"].items())
    added = ""
    if row["round"] > 0:
        recorded = row.get("recorded_success_rate")
        mse, copy = row["wfm"].get("eval/latent_mse"), row["wfm"].get("eval/copy_last_latent_mse")
        added = (
            f"{row['planner_episodes']} planner episodes in the data"
            + (f" (this round's solved {recorded:.0%})" if recorded is not None else "")
            + (f", held-out latent MSE {mse:.4f} (copy-last {copy:.4f})" if mse is not None else "")
            + "; "
        )
    return (
        f"round {row['round']}: {added}planner success {row['success_rate']:.0%} "
        f"({baselines}), {row['seconds_per_action']:.2f} s per action, {row['seconds']:.0f} s"
    )

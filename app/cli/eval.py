"""``worldfm eval``: tokenizers, world models (rollouts, and against the simulator), shot splitters.

The evaluations are library functions (``training.eval_tokenizer``, ``training.eval_wfm``,
``envs.evaluate``, ``curation.shot_eval``); this module parses, prints their tables and names the
command that reproduces a model card.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from app.cli.common import UserError, summary

logger = logging.getLogger("worldfm")
RAW = argparse.RawDescriptionHelpFormatter
TOKENIZER_EXAMPLES = """examples:
  worldfm eval tokenizer --ckpt checkpoints/tokenizer-ci8x8-fetch64 --data data/fetch
  worldfm eval tokenizer --ckpt runs/tok --data data/fetch --clips 32 --video-out recon.mp4
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser("eval", help="evaluate models").add_subparsers(dest="model", required=True)
    etok = evaluate.add_parser(
        "tokenizer",
        help="PSNR / SSIM / compression of a tokenizer vs bilinear resizing",
        epilog=TOKENIZER_EXAMPLES,
        formatter_class=RAW,
    )
    etok.add_argument("--ckpt", required=True)
    etok.add_argument("--data", nargs="+", required=True)
    etok.add_argument("--split", choices=["heldout", "train", "all"], default="heldout")
    etok.add_argument("--clips", type=int, default=16)
    etok.add_argument("--frames", type=int, default=None)
    etok.add_argument("--size", type=int, default=None)
    etok.add_argument("--seed", type=int, default=0)
    etok.add_argument("--video-out", default=None, help="write original | reconstruction | bilinear mp4")
    etok.add_argument("--card", action="store_true", help="write MODEL_CARD.md into the checkpoint")
    etok.set_defaults(func=cmd_eval_tokenizer)

    ewfm = evaluate.add_parser(
        "wfm",
        help="rollout PSNR / SSIM of a world model vs copying the last frame; with each input (actions, "
        "trajectory, camera, caption) its own, another episode's and none",
        epilog="examples:\n  worldfm eval wfm --ckpt runs/fetch-wm --horizon 16 --video-out rollouts.mp4\n",
        formatter_class=RAW,
    )
    ewfm.add_argument("--ckpt", required=True)
    ewfm.add_argument(
        "--data", nargs="+", default=None, help="shards (default: the checkpoint's training data)"
    )
    ewfm.add_argument("--clips", type=int, default=16)
    ewfm.add_argument("--horizon", type=int, default=16)
    ewfm.add_argument(
        "--frame-stride",
        type=int,
        default=1,
        help="predict every n-th source frame (camera / driving models: larger motions per step)",
    )
    ewfm.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=None,
        help="sampler steps per frame (default: the checkpoint's); several values compare them, and "
        "with --card the best becomes the checkpoint's default",
    )
    ewfm.add_argument(
        "--precision",
        nargs="+",
        choices=["fp32", "bf16"],
        default=None,
        help="inference precision (default: chosen for this machine); with fp32 bf16 and --card, the "
        "checkpoint records bf16's PSNR cost, and machines that run bf16 natively use it when the cost "
        "is under worldmodel.precision.BF16_TOLERANCE_DB (0.1 dB)",
    )
    ewfm.add_argument("--seed", type=int, default=0)
    ewfm.add_argument("--video-out", default=None, help="write true | predicted | copy-last mp4")
    ewfm.add_argument("--card", action="store_true", help="write MODEL_CARD.md into the checkpoint")
    ewfm.set_defaults(func=cmd_eval_wfm)

    eenv = evaluate.add_parser(
        "env",
        help="a Fetch world model vs the simulator on the same actions: PSNR, returns, policy ranking",
        description="Random and the scripted expert at several action-noise levels act closed loop in "
        "the Fetch simulator; their actions are replayed open loop in the world model from the same "
        "frames. Reports each policy's success and return in both, and how well the model ranks the "
        "policies: Pearson, Spearman and MMRV (SIMPLER's mean maximum rank violation) over policies.",
        epilog="examples:\n  worldfm eval env --wfm runs/fetch-wm --episodes 10 --rrd paired.rrd\n"
        "  worldfm eval env --wfm checkpoints/fetchpush-wm-dit --episodes 8 --horizon 30 --json env.json\n",
        formatter_class=RAW,
    )
    eenv.add_argument("--wfm", required=True, help="Fetch world-model checkpoint (with a reward head)")
    eenv.add_argument("--task", choices=["push", "pickandplace"], default="push")
    eenv.add_argument("--episodes", type=int, default=10, help="episodes per policy")
    eenv.add_argument("--horizon", type=int, default=16, help="policy steps per episode")
    eenv.add_argument(
        "--expert-noise",
        type=float,
        nargs="+",
        default=None,
        metavar="STD",
        help="action-noise levels of the scripted experts ranked beside random (0: the clean expert; "
        "default: envs.evaluate.EVAL_EXPERT_NOISE, 0 0.2 0.3 0.4 0.8)",
    )
    eenv.add_argument("--sampler-steps", type=int, default=None, help="default: the checkpoint's")
    eenv.add_argument("--seed", type=int, default=0)
    eenv.add_argument("--rrd", default=None, help="write a Rerun recording of one paired rollout")
    eenv.add_argument("--json", default=None, help="also write the results to this json file")
    eenv.set_defaults(func=cmd_eval_env)

    eshots = evaluate.add_parser(
        "shots",
        help="shot-transition precision / recall / F1 and frames/s of the splitters on labelled footage",
        description="Match each splitter's transitions to labels.json (worldfm simulate raw): hard cuts "
        "within --tolerance frames, gradual transitions by overlap.",
        epilog="examples:\n  worldfm eval shots --labels data/raw/labels.json\n"
        "  worldfm eval shots --labels data/raw/labels.json --splitter cascade transnetv2 pyscenedetect\n",
        formatter_class=RAW,
    )
    eshots.add_argument("--labels", required=True, help="labels.json of the footage")
    eshots.add_argument(
        "--videos", default=None, help="folder of the labelled videos (default: beside labels)"
    )
    eshots.add_argument(
        "--splitter",
        nargs="+",
        choices=["cascade", "transnetv2", "pyscenedetect"],
        default=["cascade"],
        help="splitters to score",
    )
    eshots.add_argument("--tolerance", type=int, default=2, help="frames a hard cut may be off by")
    eshots.add_argument("--json", default=None, help="also write the scores to this json file")
    eshots.set_defaults(func=cmd_eval_shots)


# --- tokenizer ------------------------------------------------------------------------------


def cmd_eval_tokenizer(args: argparse.Namespace) -> int:
    from training.eval_tokenizer import evaluate_tokenizer

    result = evaluate_tokenizer(
        args.ckpt,
        args.data,
        split=args.split,
        clips=args.clips,
        frames=args.frames,
        size=args.size,
        seed=args.seed,
        video_out=args.video_out,
    )
    summary(f"| metric | {Path(args.ckpt).name} | bilinear (same values) |")
    summary("|---|---:|---:|")
    summary(f"| PSNR (dB) | {result['psnr']:.2f} | {result['bilinear_psnr']:.2f} |")
    summary(f"| SSIM | {result['ssim']:.4f} | {result['bilinear_ssim']:.4f} |")
    summary(
        f"compression ratio {result['compression_ratio']:.1f}x, {result['tokens_per_frame']:.1f} tokens/frame"
        + (f" x {result['bits_per_token']:.1f} bits" if "bits_per_token" in result else "")
        + f", {result['clips']} {args.split} clips of {result['frames']} frames at {result['size']}px"
        + (f"; side-by-side video: {result['video']}" if "video" in result else "")
    )
    if args.card:
        from training.model_card import tokenizer_card, write_card

        command = (
            f"worldfm eval tokenizer --ckpt {args.ckpt} --data {' '.join(args.data)} --clips {args.clips}"
        )
        card = tokenizer_card(args.ckpt, result, data=args.data, eval_command=command)
        summary(f"model card: {write_card(args.ckpt, card)}")
    return 0


# --- world model: rollouts, a steps x precision sweep, the card -----------------------------


def _print_rollouts(r: dict[str, Any]) -> None:
    from training.model_card import conditioning_rows, following_table

    summary(
        f"| {r['clips']} held-out rollouts of {r['horizon']} frames, {r['steps']} sampler steps, "
        f"{r['precision']} | world model | copy last frame |"
    )
    summary("|---|---:|---:|")
    summary(f"| PSNR (dB) | {r['psnr']:.2f} | {r['copy_last_psnr']:.2f} |")
    summary(f"| SSIM | {r['ssim']:.4f} | {r['copy_last_ssim']:.4f} |")
    summary(f"| latent MSE | {r['latent_mse']:.4f} | {r['copy_last_latent_mse']:.4f} |")
    if "shuffled_actions_psnr" in r:
        summary(f"| PSNR with shuffled actions (dB) | {r['shuffled_actions_psnr']:.2f} | |")
    for row in conditioning_rows(r):
        summary(row)
    following = following_table(r)
    if following:
        summary("")
    for row in following:
        summary(row)
    summary(
        f"tokenizer reconstruction ceiling: {r['tokenizer_psnr']:.2f} dB; per-step PSNR "
        f"{r['psnr_per_step']}" + (f"; side-by-side video: {r['video']}" if "video" in r else "")
    )


def eval_wfm_command(args: argparse.Namespace) -> str:
    """The command that reproduces this evaluation, for the model card."""
    return (
        f"worldfm eval wfm --ckpt {args.ckpt} --clips {args.clips} --horizon {args.horizon} "
        + (f"--steps {' '.join(str(s) for s in args.steps)} " if args.steps else "")
        + (f"--precision {' '.join(args.precision)} " if args.precision else "")
        + f"--seed {args.seed}"
        + (f" --frame-stride {args.frame_stride}" if args.frame_stride > 1 else "")
        + (f" --data {' '.join(args.data)}" if args.data else "")
    )


def cmd_eval_wfm(args: argparse.Namespace) -> int:
    from training.eval_wfm import pick_sweep_defaults, record_sweep, sweep_wfm

    results = sweep_wfm(
        args.ckpt,
        args.data,
        steps=args.steps,
        precisions=args.precision,
        on_result=_print_rollouts,
        clips=args.clips,
        horizon=args.horizon,
        seed=args.seed,
        video_out=args.video_out,
        frame_stride=args.frame_stride,
    )
    best, cost = pick_sweep_defaults(results)
    if len(results) > 1:
        summary(
            f"best: {best['steps']} sampler steps ({best['psnr']:.2f} dB in {best['precision']})"
            + (f"; bf16 costs {cost:.3f} dB there" if cost is not None else "")
        )
    if args.card:
        steps_swept = bool(args.steps) and len(args.steps) > 1
        card = record_sweep(args.ckpt, results, steps_swept=steps_swept, eval_command=eval_wfm_command(args))
        summary(f"model card: {card}")
    return 0


# --- world model against the simulator ------------------------------------------------------


def fetch_world(ckpt: str, task: str, objective: str = "reward"):  # noqa: ANN201 - (world, sim, policies, reward fn)
    """A Fetch world model, its simulator at the model's size, the scripted policies, its reward head
    (scoring ``objective``: the task reward or dense progress)."""
    from functools import partial

    from envs.learned_reward import LearnedReward, has_reward_head
    from envs.sim.fetch import FetchSimEnv, make_policy
    from envs.sim.fetch_policies import ACTION_DIM
    from worldmodel.world import WorldModel

    world = WorldModel.from_pretrained(ckpt)
    if world.action_dim != ACTION_DIM or not world.frame_size or world.frame_size[0] != world.frame_size[1]:
        raise UserError(
            f"{ckpt} is not a Fetch world model: it needs {ACTION_DIM}-d actions and square frames "
            f"(it has {world.action_dim}-d actions, frame size {world.frame_size}); "
            "post-train one with `worldfm train posttrain --task robot` on `worldfm simulate fetch` shards"
        )
    sim_factory = partial(FetchSimEnv, task, size=world.frame_size[0], max_episode_steps=None)
    policies = {kind: partial(make_policy, task, kind) for kind in ("random", "noisy_expert", "expert")}
    if not has_reward_head(ckpt):
        return world, sim_factory, policies, None
    try:
        reward_fn = LearnedReward.from_checkpoint(ckpt, world, objective=objective)
    except ValueError as e:
        raise UserError(str(e)) from None
    return world, sim_factory, policies, reward_fn


def _agreement_cell(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"  # undefined: one side constant


def cmd_eval_env(args: argparse.Namespace) -> int:
    from envs.evaluate import EVAL_EXPERT_NOISE, evaluate_env, fetch_policy_ladder

    world, sim_factory, _, reward_fn = fetch_world(args.wfm, args.task)
    if reward_fn is None:
        logger.warning(
            "%s has no reward head: model returns are 0 (train one: worldfm train reward)", args.wfm
        )
    try:
        policies = fetch_policy_ladder(args.task, args.expert_noise or EVAL_EXPERT_NOISE)
        r = evaluate_env(
            world,
            sim_factory,
            policies,
            episodes=args.episodes,
            horizon=args.horizon,
            seed=args.seed,
            sampler_steps=args.sampler_steps,
            reward_fn=reward_fn,
            rrd=args.rrd,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    summary(
        f"| {r.episodes} episodes x {r.horizon} steps "
        "| sim return | model return | sim success | model success |"
    )
    summary("|---|---:|---:|---:|---:|")
    for name, scores in r.policies.items():
        m = scores.summary
        summary(
            f"| {name} | {m['sim_return']:.2f} | {m['model_return']:.2f} | "
            f"{m['sim_success']:.0%} | {m['model_success']:.0%} |"
        )
    summary("")
    summary(f"| model vs simulator over {len(r.policies)} policies | Pearson | Spearman | MMRV |")
    summary("|---|---:|---:|---:|")
    for label, a in (("success rate", r.policy_success), ("mean return", r.policy_return)):
        cells = " | ".join(_agreement_cell(x) for x in (a.pearson, a.spearman, a.mmrv))
        summary(f"| {label} | {cells} |")
    summary(
        f"over single episodes: return Spearman {_agreement_cell(r.return_spearman)}, "
        f"success agreement {r.success_agreement:.0%}"
    )
    summary("per-step PSNR (dB), model: " + " ".join(f"{p:.1f}" for p in r.psnr_per_step))
    summary("per-step PSNR (dB), copy last frame: " + " ".join(f"{p:.1f}" for p in r.copy_last_psnr_per_step))
    if r.rrd is not None:
        summary(f"paired rollout recording: {r.rrd} (open it with `rerun {r.rrd}`)")
    if args.json:
        import json

        from worldmodel.atomic import atomic_write_bytes

        report = {"wfm": args.wfm, "task": args.task, "seed": args.seed, **r.as_dict()}
        atomic_write_bytes(args.json, json.dumps(report, indent=1).encode())
        summary(f"results: {args.json}")
    return 0


# --- shot splitters -------------------------------------------------------------------------


def cmd_eval_shots(args: argparse.Namespace) -> int:
    from curation.shot_eval import evaluate, load_labels, run_splitter
    from curation.splitters import make_splitter

    try:
        labels = load_labels(args.labels)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    video_dir = Path(args.videos) if args.videos else Path(args.labels).parent
    rows = []
    for name in args.splitter:
        try:
            run = run_splitter(make_splitter(name), labels, video_dir)
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
        scores = evaluate(labels, run.predictions, tolerance=args.tolerance)
        rows.append((name, scores, run))
    kinds = sorted({k for _, s, _ in rows for k in s.labelled})
    header = f"{'splitter':<14} {'precision':>9} {'recall':>7} {'F1':>6} " + " ".join(
        f"{'R ' + k:>10}" for k in kinds
    )
    labelled = rows[0][1].labelled
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(labelled.items()))
    total = sum(labelled.values())
    print(f"{len(labels)} videos, {rows[0][2].frames} frames, {total} transitions ({by_type})")
    print(header + f" {'frames/s':>9}")
    for name, scores, run in rows:
        o = scores.overall
        recalls = " ".join(f"{scores.recall_of(k):>10.3f}" for k in kinds)
        fps = run.frames_per_second
        print(f"{name:<14} {o.precision:>9.3f} {o.recall:>7.3f} {o.f1:>6.3f} {recalls} {fps:>9.0f}")
    if args.json:
        import json

        from worldmodel.atomic import atomic_write_bytes

        report = {
            name: {**s.as_dict(), "frames_per_second": round(r.frames_per_second, 1)} for name, s, r in rows
        }
        atomic_write_bytes(args.json, json.dumps(report, indent=1).encode())
    return 0

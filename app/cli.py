"""The ``worldfm`` command line: one subcommand per stage (ARCHITECTURE.md).

Only working stages are listed. Heavy imports happen inside each command so that
``worldfm --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from worldmodel.shipped import SHIPPED_CHECKPOINTS as DEFAULT_CHECKPOINTS

if TYPE_CHECKING:
    from training.trainer import TrainConfig

logger = logging.getLogger("worldfm")

SIMULATE_EXAMPLES = """examples:
  worldfm simulate fetch --episodes 20 --out data/fetch
  worldfm simulate fetch --task pickandplace --episodes 50 --size 128 --seed 1 --out data/pick
  worldfm simulate orbit --episodes 20 --out data/orbit
  worldfm simulate driving --episodes 20 --out data/driving
  worldfm simulate driving --backend carla --host 127.0.0.1 --port 2000 --out data/carla
  worldfm simulate raw --episodes 4 --out data/raw      # raw footage + labels.json, not shards
"""

DEMO_EXAMPLES = """examples:
  worldfm demo                                   # the web app on http://127.0.0.1:7860
  worldfm demo --host 0.0.0.0 --port 8080 --checkpoints runs/
  worldfm demo --offline --out /tmp/demo --episodes 4   # no server: shards, preview.mp4, episode.rrd
"""


class UserError(Exception):
    """A problem with the user's input or environment; printed without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from curation.sample import SampleError
    from curation.shards import ShardError
    from curation.video_io import VideoError
    from worldmodel.hub import CheckpointError

    errors: list[type[BaseException]] = [UserError, VideoError, ShardError, SampleError, CheckpointError]
    try:
        from envs.sim.carla_backend import CarlaConnectionError

        errors.append(CarlaConnectionError)
    except ImportError:
        pass
    return tuple(errors)


def _summary(message: str) -> None:
    # Under `accelerate launch` every process runs the command: one summary, from the main one.
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)


def _simulate_episodes(args: argparse.Namespace):  # noqa: ANN202 - an iterator of Episode
    common = {"size": args.size, "seed": args.seed, "frames_per_episode": args.frames}
    if args.source == "fetch":
        from envs.sim.fetch import generate_episodes

        return generate_episodes(args.episodes, task=args.task, **common)
    if args.source == "orbit":
        from envs.sim.orbit import generate_episodes

        return generate_episodes(args.episodes, **common)
    if args.source == "driving":
        from envs.sim.driving import generate_episodes

        return generate_episodes(
            args.episodes,
            backend=args.backend,
            host=args.host,
            port=args.port,
            timeout=args.timeout,
            **common,
        )
    raise UserError(f"unknown source {args.source!r}")


def cmd_simulate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {args.episodes}")
    if args.size < 16:
        raise UserError(f"--size must be >= 16 pixels, got {args.size}")
    out = Path(args.out)
    if args.source == "raw" and args.labelled_clips:
        from envs.sim.raw_clips import write_labelled_clips

        labels = write_labelled_clips(
            out, args.episodes, seed=args.seed, size=args.size, frames=args.frames or 48
        )
        _summary(f"wrote {args.episodes} labelled clips and {labels} in {time.perf_counter() - start:.1f} s")
        return 0
    if args.source == "raw":
        from envs.sim.raw import write_raw_footage

        labels = write_raw_footage(
            out,
            args.episodes,
            seed=args.seed,
            size=args.size,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            long_fraction=args.long_fraction,
        )
        _summary(f"wrote {args.episodes} raw videos and {labels} in {time.perf_counter() - start:.1f} s")
        return 0

    from envs.record import record_episodes

    if args.frames is None:
        args.frames = {"fetch": 50, "orbit": 48, "driving": 48}[args.source]
    run_info = {k: v for k, v in vars(args).items() if k != "func"}
    manifest = record_episodes(
        _simulate_episodes(args), out, total=args.episodes, overwrite=args.overwrite, run_info=run_info
    )
    stats = manifest["stats"]
    extra = f", scripted success {stats['success_rate']:.0%}" if "success_rate" in stats else ""
    _summary(
        f"wrote {manifest['num_samples']} {args.source} episodes ({stats['frames']} frames) in "
        f"{len(manifest['shards'])} shard(s) to {out} in {time.perf_counter() - start:.1f} s{extra}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.offline:
        return serve_web_app(args)
    from app.preview import run_demo

    start = time.perf_counter()
    paths = run_demo(Path(args.out), episodes=args.episodes, size=args.size, seed=args.seed)
    _summary(f"demo done in {time.perf_counter() - start:.1f} s:")
    for name, path in paths.items():
        _summary(f"  {name:8s} {path}")
    return 0


def serve_web_app(args: argparse.Namespace) -> int:
    from app.web.app import WebApp
    from app.web.config import WebConfig

    try:
        config = WebConfig(
            host=args.host,
            port=args.port,
            checkpoints=Path(args.checkpoints),
            out=Path(args.out) / "web",
            max_file_size_mb=args.max_file_size_mb,
            concurrency=args.concurrency,
            max_frames=args.max_frames,
            rerun_port=args.rerun_port,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    if not config.checkpoints.is_dir():
        raise UserError(f"--checkpoints {config.checkpoints} is not a folder")
    app = WebApp(config)
    _summary(f"worldfm web app on http://{config.host}:{config.port} (Ctrl+C stops it)")
    try:
        app.launch(block=True)
    finally:
        app.close()
    return 0


TRAIN_EXAMPLES = """examples:
  worldfm train tokenizer --config CV4x8x8-tiny --data data/fetch --out runs/tok --steps 200
  worldfm train tokenizer --config CI8x8-small --data data/fetch data/orbit --out runs/ci8 --steps 20000 \\
      --batch-size 16 --perceptual-weights vgg19.safetensors
"""

EVAL_EXAMPLES = """examples:
  worldfm eval tokenizer --ckpt checkpoints/tokenizer-ci8x8-fetch64 --data data/fetch
  worldfm eval tokenizer --ckpt runs/tok --data data/fetch --clips 32 --video-out recon.mp4
"""


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from training.train_tokenizer import TokenizerTrainArgs, train_tokenizer
    from worldmodel.tokenizer.losses import TokenizerLossConfig

    try:
        run = TokenizerTrainArgs(
            config=args.config,
            data=args.data,
            out=args.out,
            size=args.size,
            frames=args.frames,
            image_fraction=args.image_fraction,
            perceptual_weights=args.perceptual_weights,
            init_from=args.init_from,
            freeze_encoder=args.freeze_encoder,
            loss=TokenizerLossConfig(
                l1=args.l1,
                mse=args.mse,
                perceptual=args.perceptual,
                ssim=args.ssim,
                flow=args.flow,
                gram=args.gram,
                stage2_step=args.stage2_step if args.stage2_step is not None else int(0.7 * args.steps),
            ),
            train=_train_config(args),
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    start = time.perf_counter()
    metrics = train_tokenizer(run)
    psnr = metrics.get("eval/psnr")
    _summary(
        f"trained {args.config} for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"loss {metrics.get('losses/total', float('nan')):.4g}"
        + (f", held-out PSNR {psnr:.2f} dB" if psnr is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


WFM_EXAMPLES = """examples:
  worldfm train diffusion --tokenizer checkpoints/tokenizer-ci8x8-fetch64 --data data/fetch --out runs/wfm
  worldfm train posttrain --task robot --tokenizer checkpoints/tokenizer-ci8x8-fetch64 --data data/fetch \\
      --from runs/wfm --out runs/fetch-wm --dit DiT-XS --steps 4000 --batch-size 16
  worldfm train posttrain --task camera --from checkpoints/fetchpush-wm-dit --data data/orbit \\
      --context-frames 1 --out runs/camera-wm          # Plücker-ray camera control
  worldfm train posttrain --task driving --from checkpoints/fetchpush-wm-dit --data data/driving \\
      --out runs/driving-wm                             # left|front|right canvas + ego trajectory
  worldfm train posttrain --from checkpoints/fetchpush-wm-dit --data MY_SHARDS --lora-rank 8 \\
      --out runs/my-wm                                  # fine-tune on your own shards (LoRA, merged)
"""

# What each post-training task conditions on (WFMTrainArgs fields).
POSTTRAIN_TASKS = {
    "robot": {"actions": True},
    "camera": {"camera": True},
    "driving": {"trajectory": True, "views": ("left", "front", "right")},
}


def _posttrain_settings(args: argparse.Namespace) -> dict:
    """The run's task flags and the settings left unset on the command line, taken from ``--from``.

    Fine-tuning on one's own shards needs only ``--from`` and ``--data``: the task, tokenizer,
    DiT size, context, frame size and noise levels are the pre-trained model's unless given.
    """
    from worldmodel import hub

    base: dict = {}
    if args.init_from:
        try:
            payload = hub.read_config(args.init_from)
        except hub.CheckpointError as e:
            raise UserError(str(e)) from None
        world = payload.get("world_model") or {}
        if payload.get("kind") != "diffusion" or not world:
            raise UserError(f"--from {args.init_from} is not a diffusion world-model checkpoint")
        dit = payload["config"]["dit"]
        from worldmodel.diffusion.configuration_dit import DIT_MODELS

        preset = next(
            (
                n
                for n, c in DIT_MODELS.items()
                if (c.hidden, c.depth, c.heads) == (dit["hidden"], dit["depth"], dit["heads"])
            ),
            None,
        )
        tokenizer = Path(world["tokenizer"])
        base = {
            "task": world.get("task") or payload.get("posttrained_for"),
            "tokenizer": str(tokenizer if tokenizer.is_absolute() else Path(args.init_from) / tokenizer),
            "dit": preset,
            "context_frames": world.get("context_frames"),
            "size": (world.get("frame_size") or [None])[0],
            "residual": bool(world.get("residual_scale")),
            **{name: payload["config"].get(name) for name in ("p_mean", "p_std", "sigma_max")},
        }
    task = args.task or base.get("task")
    if args.model == "posttrain" and task not in POSTTRAIN_TASKS and not args.init_from:
        raise UserError(f"pass --task ({', '.join(POSTTRAIN_TASKS)}) or --from a checkpoint to fine-tune")
    if args.task is not None and args.task not in POSTTRAIN_TASKS:
        raise UserError(f"--task {args.task} is not built; available: {', '.join(POSTTRAIN_TASKS)}")
    settings = {"task": task if task in POSTTRAIN_TASKS else None, **POSTTRAIN_TASKS.get(task, {})}
    defaults = (("tokenizer", None), ("dit", "DiT-XS"), ("context_frames", 2), ("size", 64))
    defaults += (("p_mean", -1.2), ("p_std", 1.2), ("sigma_max", 80.0))
    for name, default in defaults:
        value = getattr(args, name)
        inherited = base.get(name)
        settings[name] = value if value is not None else (inherited if inherited is not None else default)
    if settings["tokenizer"] is None:
        raise UserError(
            "pass --tokenizer (an image tokenizer checkpoint), or --from a world model that names one"
        )
    settings["residual"] = args.residual or base.get("residual", False)
    return settings


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from training.trainer import TrainConfig

    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup_steps=min(args.warmup, args.steps),
        ema_decay=args.ema,
        mixed_precision="bf16" if args.bf16 else "no",
        eval_every=args.eval_every,
        save_every=args.save_every,
        log_every=min(args.log_every, args.steps),
        seed=args.seed,
        out_dir=args.out,
    )


def cmd_train_wfm(args: argparse.Namespace) -> int:
    from training.train_wfm import WFMTrainArgs, train_wfm

    if args.model == "diffusion":
        args.task = args.init_from = None
        args.lora_rank, args.lora_alpha = 0, None
    settings = _posttrain_settings(args)
    try:
        run = WFMTrainArgs(
            data=args.data,
            out=args.out,
            init_from=args.init_from,
            text=args.text,
            lora_rank=args.lora_rank,
            max_frame_stride=getattr(args, "max_frame_stride", 1),
            lora_alpha=args.lora_alpha,
            train=_train_config(args),
            **settings,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    start = time.perf_counter()
    try:
        metrics = train_wfm(run)
    except ValueError as e:  # data that does not fit the task: named by the message, no traceback
        raise UserError(str(e)) from None
    mse, copy = metrics.get("eval/latent_mse"), metrics.get("eval/copy_last_latent_mse")
    _summary(
        f"trained {run.dit} for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"loss {metrics.get('losses/total', float('nan')):.4g}"
        + (f", held-out latent MSE {mse:.4f} (copy-last {copy:.4f})" if mse is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


def cmd_train_ar(args: argparse.Namespace) -> int:
    from training.train_ar import ARTrainArgs, train_ar

    try:
        run = ARTrainArgs(
            tokenizer=args.tokenizer,
            data=args.data,
            out=args.out,
            gpt=args.gpt,
            context_frames=args.context_frames,
            actions=args.actions,
            text=args.text,
            task="robot" if args.actions else None,
            size=args.size,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            train=_train_config(args),
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    start = time.perf_counter()
    metrics = train_ar(run)
    mse, copy = metrics.get("eval/latent_mse"), metrics.get("eval/copy_last_latent_mse")
    _summary(
        f"trained {args.gpt} for {args.steps} steps in {time.perf_counter() - start:.0f} s"
        + (f": held-out latent MSE {mse:.4f} (copy-last {copy:.4f})" if mse is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


def pick_sweep_defaults(results: dict[tuple[int, str], dict]) -> tuple[dict, float | None]:
    """The best result of a steps x precision sweep and bf16's PSNR cost at its step count.

    Steps are picked on fp32 where it was measured (the precision every machine can run), so the
    card's headline does not depend on whether the evaluating machine had bf16 units.
    """
    fp32 = [r for r in results.values() if r["precision"] == "fp32"] or list(results.values())
    best = max(fp32, key=lambda r: r["psnr"])
    pair = results.get((best["steps"], "fp32")), results.get((best["steps"], "bf16"))
    cost = pair[0]["psnr"] - pair[1]["psnr"] if pair[0] and pair[1] else None
    return best, cost


def cmd_eval_wfm(args: argparse.Namespace) -> int:
    from training.eval_wfm import evaluate_wfm
    from training.model_card import conditioning_rows

    results = {}
    for precision in args.precision or [None]:
        for steps in args.steps or [None]:
            r = evaluate_wfm(
                args.ckpt,
                args.data,
                clips=args.clips,
                horizon=args.horizon,
                steps=steps,
                seed=args.seed,
                video_out=args.video_out,
                precision=precision,
                frame_stride=args.frame_stride,
            )
            results[r["steps"], r["precision"]] = r
            _summary(
                f"| {r['clips']} held-out rollouts of {r['horizon']} frames, {r['steps']} sampler steps, "
                f"{r['precision']} | world model | copy last frame |"
            )
            _summary("|---|---:|---:|")
            _summary(f"| PSNR (dB) | {r['psnr']:.2f} | {r['copy_last_psnr']:.2f} |")
            _summary(f"| SSIM | {r['ssim']:.4f} | {r['copy_last_ssim']:.4f} |")
            _summary(f"| latent MSE | {r['latent_mse']:.4f} | {r['copy_last_latent_mse']:.4f} |")
            if "shuffled_actions_psnr" in r:
                _summary(f"| PSNR with shuffled actions (dB) | {r['shuffled_actions_psnr']:.2f} | |")
            for row in conditioning_rows(r):
                _summary(row)
            _summary(
                f"tokenizer reconstruction ceiling: {r['tokenizer_psnr']:.2f} dB; per-step PSNR "
                f"{r['psnr_per_step']}" + (f"; side-by-side video: {r['video']}" if "video" in r else "")
            )
    best, cost = pick_sweep_defaults(results)
    if len(results) > 1:
        _summary(
            f"best: {best['steps']} sampler steps ({best['psnr']:.2f} dB in {best['precision']})"
            + (f"; bf16 costs {cost:.3f} dB there" if cost is not None else "")
        )
    if args.card:
        from training.model_card import wfm_card, write_card
        from worldmodel import hub

        # The checkpoint's defaults from now on (WorldModel.predict, the envs). Precision is not one:
        # bf16's speed depends on the machine, so the card records its cost and each machine
        # chooses at load time (worldmodel.precision.choose_precision).
        defaults: dict = {}
        if args.steps and len(args.steps) > 1:
            defaults["sampler_steps"] = best["steps"]
        if cost is not None:
            defaults["bf16_cost_db"] = round(cost, 3)
        if defaults:
            hub.update_section(args.ckpt, "world_model", defaults, remove=("precision",))
        steps = " ".join(str(s) for s in args.steps) if args.steps else None
        command = (
            f"worldfm eval wfm --ckpt {args.ckpt} --clips {args.clips} --horizon {args.horizon} "
            + (f"--steps {steps} " if steps else "")
            + (f"--precision {' '.join(args.precision)} " if args.precision else "")
            + f"--seed {args.seed}"
            + (f" --frame-stride {args.frame_stride}" if args.frame_stride > 1 else "")
            + (f" --data {' '.join(args.data)}" if args.data else "")
        )
        card = wfm_card(args.ckpt, best, eval_command=command, sweep=list(results.values()))
        _summary(f"model card: {write_card(args.ckpt, card)}")
    return 0


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
    _summary(f"| metric | {Path(args.ckpt).name} | bilinear (same values) |")
    _summary("|---|---:|---:|")
    _summary(f"| PSNR (dB) | {result['psnr']:.2f} | {result['bilinear_psnr']:.2f} |")
    _summary(f"| SSIM | {result['ssim']:.4f} | {result['bilinear_ssim']:.4f} |")
    _summary(
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
        _summary(f"model card: {write_card(args.ckpt, card)}")
    return 0


def cmd_train_reward(args: argparse.Namespace) -> int:
    from training.train_reward import RewardTrainArgs, train_reward

    try:
        run = RewardTrainArgs(
            wfm=args.wfm,
            data=args.data,
            out=args.out,
            hidden=args.hidden,
            arch=args.arch,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            heldout_fraction=args.heldout_fraction,
            seed=args.seed,
            progress=args.progress,
            imagined_horizon=args.imagined_horizon,
            imagined_stride=args.imagined_stride,
        )
        start = time.perf_counter()
        m = train_reward(run)
    except ValueError as e:
        raise UserError(str(e)) from None
    _summary(
        f"trained a reward head for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"held-out reward MSE {m['eval/reward_mse']:.4g} (mean reward {m['eval/mean_reward_mse']:.4g}), "
        f"success accuracy {m['eval/success_accuracy']:.1%} "
        f"(majority class {m['eval/majority_success_accuracy']:.1%})"
        + (f", progress correlation {m['eval/progress_corr']:.2f}" if "eval/progress_corr" in m else "")
        + (
            f"; on imagined frames: success accuracy {m['eval/imagined_success_accuracy']:.1%} "
            f"(majority {m['eval/imagined_majority_success_accuracy']:.1%})"
            if "eval/imagined_success_accuracy" in m
            else ""
        )
        + (
            f", progress correlation {m['eval/imagined_progress_corr']:.2f}"
            if "eval/imagined_progress_corr" in m
            else ""
        )
        + f"; saved in {args.out or args.wfm}"
    )
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from training.train_classifier import ClassifierTrainArgs, train_classifier

    command = (
        f"worldfm train classifier --task {args.task} --data {' '.join(args.data)} --out {args.out} "
        f"--embedder {args.embedder} --hidden {args.hidden} --steps {args.steps} --lr {args.lr:g} "
        f"--heldout-fraction {args.heldout_fraction:g} --seed {args.seed}"
    )
    try:
        run = ClassifierTrainArgs(
            task=args.task,
            data=tuple(args.data),
            out=args.out,
            embedder=args.embedder,
            hidden=args.hidden,
            steps=args.steps,
            lr=args.lr,
            heldout_fraction=args.heldout_fraction,
            seed=args.seed,
        )
        r = train_classifier(run, command=command)
    except ValueError as e:
        raise UserError(str(e)) from None
    _summary(
        f"trained a {args.task} classifier on {r['train_clips']} clips in {r['wall_time_s']:.0f} s: held-out "
        f"accuracy {r['heldout_accuracy']:.1%} on {r['heldout_clips']} clips (majority class "
        f"{r['majority_class']} {r['majority_heldout_accuracy']:.1%}); saved in {args.out}"
    )
    return 0


def _fetch_world(ckpt: str, task: str, objective: str = "reward"):  # noqa: ANN202 - (world, sim, policies, reward fn)
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


def cmd_eval_env(args: argparse.Namespace) -> int:
    from envs.evaluate import evaluate_env

    world, sim_factory, policies, reward_fn = _fetch_world(args.wfm, args.task)
    if reward_fn is None:
        logger.warning(
            "%s has no reward head: model returns are 0 (train one: worldfm train reward)", args.wfm
        )
    try:
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
    _summary(
        f"| {r.episodes} episodes x {r.horizon} steps "
        "| sim return | model return | sim success | model success |"
    )
    _summary("|---|---:|---:|---:|---:|")
    for name, scores in r.policies.items():
        m = scores.summary
        _summary(
            f"| {name} | {m['sim_return']:.2f} | {m['model_return']:.2f} | "
            f"{m['sim_success']:.0%} | {m['model_success']:.0%} |"
        )
    _summary(
        f"rank agreement (Spearman): episode returns {r.return_spearman:.2f}, policy ranking "
        f"{r.policy_rank_spearman:.2f}; success agreement {r.success_agreement:.0%}"
    )
    _summary("per-step PSNR (dB), model: " + " ".join(f"{p:.1f}" for p in r.psnr_per_step))
    _summary(
        "per-step PSNR (dB), copy last frame: " + " ".join(f"{p:.1f}" for p in r.copy_last_psnr_per_step)
    )
    if r.rrd is not None:
        _summary(f"paired rollout recording: {r.rrd} (open it with `rerun {r.rrd}`)")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from envs.planning import CEMPlanner, evaluate_planner

    world, sim_factory, policies, reward_fn = _fetch_world(args.wfm, args.task, args.objective)
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
    _summary(
        f"| {args.episodes} Fetch {args.task} episodes x {args.steps} steps | success rate | mean return |"
    )
    _summary("|---|---:|---:|")
    labels = {
        "cem": "CEM MPC in the world model",
        "random": "random (scripted)",
        "expert": "expert (scripted)",
    }
    for name, m in results.items():
        _summary(f"| {labels[name]} | {m['success_rate']:.0%} | {m['mean_return']:.2f} |")
    _summary(f"planned in {time.perf_counter() - start:.0f} s")
    return 0


CURATE_EXAMPLES = """examples:
  worldfm simulate raw --episodes 8 --out data/raw          # labelled synthetic footage
  worldfm curate data/raw --out data/curated
  worldfm curate 'footage/**/*.mov' --out shards --splitter pyscenedetect --max-resolution 640x360
  worldfm curate data/raw --out shards --stages transcode   # no shot splitting: whole videos, cut to 60 s
  worldfm curate data/raw --out shards --ray-address auto   # join a running Ray cluster
  worldfm curate data/raw --out shards --stages split,transcode,motion,quality,embed,dedup \\
      --min-motion 0.02 --min-quality 0.05 --dedup-threshold 0.97
  worldfm eval shots --labels data/raw/labels.json --splitter cascade transnetv2 pyscenedetect
"""


def _resolution(text: str) -> tuple[int, int]:
    """``WxH`` -> ``(H, W)``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"resolution must be at least 16x16, got {text!r}")
    return height, width


def cmd_curate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from curation.pipeline import CurateConfig, CurateError, Resources, curate, find_inputs

    # One progress bar over videos: Ray Data's notices about its own bars would interleave with it.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    # faiss (dedup) announces at INFO which CPU build it loaded.
    logging.getLogger("faiss").setLevel(logging.WARNING)
    start = time.perf_counter()
    try:
        config = CurateConfig(
            stages=tuple(s.strip() for s in args.stages.split(",") if s.strip()),
            splitter=args.splitter,
            min_clip_seconds=args.min_clip_seconds,
            max_clip_seconds=args.max_clip_seconds,
            crf=args.crf,
            preset=args.preset,
            max_height=args.max_resolution[0],
            max_width=args.max_resolution[1],
            max_input_height=args.max_input_resolution[0],
            max_input_width=args.max_input_resolution[1],
            max_samples_per_shard=args.shard_size,
            min_motion=args.min_motion,
            min_quality=args.min_quality,
            quality_weights=args.quality_weights or "",
            embedder=args.embedder,
            dedup_threshold=args.dedup_threshold,
            dedup_clusters=args.dedup_clusters,
            **_curate_filter_options(args),
        )
        if args.split_actors < 1:
            raise CurateError(f"--split-actors must be >= 1, got {args.split_actors}")
        total = len(find_inputs(args.inputs)[0])
        with tqdm(total=total, unit="video", desc="curate", disable=args.no_progress) as bar:

            def advance(record: dict) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{record['path'].rsplit('/', 1)[-1]}: {len(record['clips'])} clips")

            result = curate(
                args.inputs,
                args.out,
                config,
                resources=Resources(split_actors=args.split_actors, fail_fast=args.fail_fast),
                overwrite=args.overwrite,
                ray_address=args.ray_address,
                num_cpus=args.cpus,
                progress=advance,
            )
    except CurateError as e:
        raise UserError(str(e)) from None
    stats = result.manifest["stats"]
    quarantined = sum(stats["quarantined"].values())
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    kinds = ", ".join(f"{k} {v}" for k, v in stats["quarantined"].items())
    prefix = "already complete: " if result.already_complete else ""
    _summary(
        f"{prefix}curated {stats['inputs']} videos ({stats['video_seconds']:.1f} s) into "
        f"{stats['clips']} clips ({stats['clip_seconds']:.1f} s) in {len(result.manifest['buckets'])} "
        f"bucket(s) at {args.out} in {time.perf_counter() - start:.1f} s; dropped: {dropped}; "
        f"quarantined {quarantined}"
        + (f" ({kinds}; see {Path(args.out) / 'quarantine.jsonl'})" if quarantined else "")
        + (f"; resumed, {result.resumed_inputs} videos were already done" if result.resumed_inputs else "")
        + (
            f"; dedup removed {stats['dedup']['removed']} of {stats['dedup']['clips']} clips "
            f"({stats['dedup']['share_removed']:.1%})"
            if "dedup" in stats
            else ""
        )
        + (
            f"; categories {stats['categories']['before']} -> {stats['categories']['after']}"
            if "categories" in stats
            else ""
        )
    )
    return 0


def _curate_filter_options(args: argparse.Namespace) -> dict:
    """CurateConfig fields of the text_overlay, category (+ --balance) and caption stages."""
    from curation.balance import parse_balance
    from curation.classifiers import TASKS
    from curation.pipeline import CurateError

    try:
        balance = parse_balance(args.balance or "", TASKS["category"])
    except ValueError as e:
        raise CurateError(str(e)) from None
    return {
        "text_overlay_model": args.text_overlay_model,
        "text_threshold": args.text_threshold,
        "keep_text": args.keep_text,
        "category_model": args.category_model,
        "balance": balance,
        "balance_seed": args.balance_seed,
        "balance_max_repeats": args.balance_max_repeats,
        "captioner": args.captioner,
        "caption_prompt": args.caption_prompt,
        "caption_batch_size": args.caption_batch_size,
        "caption_max_tokens": args.caption_max_tokens,
    }


def _add_curate_filter_options(cur: argparse.ArgumentParser) -> None:
    from curation.captions import DEFAULT_PROMPT
    from curation.classifiers import DEFAULT_CHECKPOINTS

    cur.add_argument(
        "--text-overlay-model",
        default=str(DEFAULT_CHECKPOINTS["text-overlay"]),
        help="text_overlay: classifier checkpoint (default: the shipped one; worldfm train classifier)",
    )
    cur.add_argument(
        "--text-threshold",
        type=float,
        default=0.5,
        help="text_overlay: probability from which a clip has text",
    )
    cur.add_argument(
        "--keep-text",
        action="store_true",
        help="text_overlay: label clips with burned-in text, do not drop them",
    )
    cur.add_argument(
        "--category-model",
        default=str(DEFAULT_CHECKPOINTS["category"]),
        help="category: classifier checkpoint (default: the shipped one)",
    )
    cur.add_argument(
        "--balance",
        default="",
        help="category: re-balance to these shares, e.g. manipulation=0.4,driving=0.3,camera_motion=0.2,"
        "other=0.1 (down-samples, repeats clips of short categories; unnamed categories are dropped)",
    )
    cur.add_argument("--balance-seed", type=int, default=0, help="category: seed of the re-balancing draws")
    cur.add_argument(
        "--balance-max-repeats",
        type=int,
        default=4,
        help="category: copies of one clip at most when up-sampling",
    )
    cur.add_argument(
        "--captioner",
        default="metadata",
        help="caption: metadata (from simulator labels, motion, category, quality; default) or "
        "vlm:<local Hugging Face image-text-to-text model dir>",
    )
    cur.add_argument("--caption-prompt", default=DEFAULT_PROMPT, help="caption: the vlm captioner's prompt")
    cur.add_argument("--caption-batch-size", type=int, default=8, help="caption: clips per vlm batch")
    cur.add_argument(
        "--caption-max-tokens", type=int, default=40, help="caption: longest vlm caption, tokens"
    )


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


def cmd_recipe(args: argparse.Namespace) -> int:
    from app.recipe import run_recipe

    return run_recipe(
        args.recipe,
        out=args.out,
        ship_to=args.ship_to,
        smoke=args.smoke,
        only=args.only,
        from_step=args.from_step,
        list_steps=args.list,
        dry_run=args.dry_run,
        seed=args.seed,
    )


def _add_trainer_args(
    parser: argparse.ArgumentParser, *, steps: int, batch_size: int, lr: float, ema: float, eval_every: int
) -> None:
    """The shared trainer's options (``training.trainer.TrainConfig``), with per-model defaults."""
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help="clips per micro-batch per process; the global batch is batch-size x grad-accum x processes",
    )
    parser.add_argument(
        "--grad-accum",
        type=int,
        default=1,
        help="micro-batches per optimizer step (keeps the global batch when there are fewer processes)",
    )
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate (cosine to lr/10)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--ema", type=float, default=ema, help="EMA decay of the weights (0 = off)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--eval-every", type=int, default=eval_every)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldfm",
        description="worldfm: world foundation models for physical AI (simulate, curate, train, use).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
        "simulate",
        help="record simulator episodes as training shards",
        description="Record episodes from a ground-truth simulator into WebDataset shards "
        "(<out>/<H>x<W>_<duration>/shard-*.tar + manifest.json), or raw footage for curation.",
        epilog=SIMULATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("source", choices=["fetch", "orbit", "driving", "raw"], help="which simulator")
    sim.add_argument("--episodes", type=int, default=10, help="episodes to record (raw: videos to write)")
    sim.add_argument("--size", type=int, default=64, help="render size in pixels (square; raw: base height)")
    sim.add_argument("--seed", type=int, default=0, help="seed for scenes, policies and noise")
    sim.add_argument("--frames", type=int, default=None, help="frames per episode (default per source)")
    sim.add_argument("--out", required=True, help="output folder")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing shard set in --out")
    fetch = sim.add_argument_group("fetch")
    fetch.add_argument("--task", choices=["push", "pickandplace"], default="push")
    driving = sim.add_argument_group("driving")
    driving.add_argument("--backend", choices=["embedded", "carla"], default="embedded")
    driving.add_argument("--host", default="127.0.0.1", help="CARLA server host")
    driving.add_argument("--port", type=int, default=2000, help="CARLA server RPC port")
    driving.add_argument("--timeout", type=float, default=10.0, help="CARLA connection timeout, seconds")
    raw = sim.add_argument_group("raw")
    raw.add_argument("--min-seconds", type=float, default=20.0, help="shortest raw video")
    raw.add_argument("--max-seconds", type=float, default=45.0, help="longest raw video (before long ones)")
    raw.add_argument("--long-fraction", type=float, default=0.25, help="share of videos over 60 s")
    raw.add_argument(
        "--labelled-clips",
        action="store_true",
        help="write single-shot clips labelled by category and burned-in text (--episodes of them, "
        "--frames long) for `worldfm train classifier`, instead of raw videos",
    )
    sim.set_defaults(func=cmd_simulate)

    cur = sub.add_parser(
        "curate",
        help="raw videos -> shot-split, transcoded, bucketed clip shards (Ray Data)",
        description="Split raw videos into shots (gradual transitions trimmed), keep clips of "
        "--min-clip-seconds..--max-clip-seconds, re-encode them as H.264 yuv420p and write bucketed shards "
        "(<out>/<H>x<W>_<duration>/shard-*.tar + manifest.json). Unreadable inputs go to "
        "<out>/quarantine.jsonl. Rerun the same command to resume an interrupted run.",
        epilog=CURATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cur.add_argument("inputs", help="a folder of videos (searched recursively), a quoted glob, or a video")
    cur.add_argument("--out", required=True, help="output folder for shards, manifest.json, quarantine.jsonl")
    cur.add_argument(
        "--splitter",
        choices=["cascade", "transnetv2", "pyscenedetect"],
        default="cascade",
        help="shot detector: cascade (PySceneDetect scores + TransNetV2 where they cannot decide; "
        "default), transnetv2 (the network on every frame), pyscenedetect (cuts only)",
    )
    cur.add_argument(
        "--stages",
        default="split,transcode",
        help="comma-separated stages to run: split, transcode (required), motion, quality, embed, "
        "text_overlay, category (both need embed), caption, dedup (needs embed)",
    )
    cur.add_argument("--min-clip-seconds", type=float, default=2.0, help="shorter shots are dropped")
    cur.add_argument("--max-clip-seconds", type=float, default=60.0, help="longer shots are cut into pieces")
    cur.add_argument("--crf", type=int, default=18, help="x264 quality (0 lossless .. 51 worst)")
    cur.add_argument("--preset", default="fast", help="x264 speed preset (ultrafast .. veryslow)")
    cur.add_argument(
        "--max-resolution", type=_resolution, default=(720, 1280), help="WxH the clips are scaled down to fit"
    )
    cur.add_argument(
        "--max-input-resolution",
        type=_resolution,
        default=(4320, 7680),
        help="WxH over which inputs are quarantined (either orientation)",
    )
    cur.add_argument("--shard-size", type=int, default=256, help="clips per shard at most")
    cur.add_argument(
        "--min-motion",
        type=float,
        default=0.0,
        help="motion: drop clips whose median optical-flow speed (half-frames per second) is below this "
        "(0.02 separates still shots); 0 keeps all, labelled",
    )
    cur.add_argument(
        "--min-quality",
        type=float,
        default=0.0,
        help="quality: drop clips whose no-reference score (0..1) is below this; 0 keeps all, scored",
    )
    cur.add_argument(
        "--quality-weights",
        default=None,
        help="quality: a local TorchScript quality predictor whose score replaces the no-reference one",
    )
    cur.add_argument(
        "--embedder",
        default="tokenizer",
        help="clip embedder of the embed stage: tokenizer (the shipped CI8x8), tokenizer:<checkpoint dir> "
        "or hf:<local Hugging Face video model dir>",
    )
    cur.add_argument(
        "--dedup-threshold",
        type=float,
        default=0.97,
        help="dedup: clips at or above this embedding cosine are duplicates (the best copy is kept)",
    )
    cur.add_argument("--dedup-clusters", type=int, default=0, help="dedup: k-means clusters (0: sqrt(clips))")
    _add_curate_filter_options(cur)
    cur.add_argument("--split-actors", type=int, default=1, help="shot-splitter actors (one model each)")
    cur.add_argument("--ray-address", default=None, help="join this Ray cluster ('auto', 'ray://host:10001')")
    cur.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    cur.add_argument(
        "--fail-fast", action="store_true", help="stop at the first input that cannot be curated"
    )
    cur.add_argument("--overwrite", action="store_true", help="discard a previous run in --out first")
    cur.add_argument("--no-progress", action="store_true", help="no progress bar")
    cur.set_defaults(func=cmd_curate)

    train = sub.add_parser("train", help="train models").add_subparsers(dest="model", required=True)
    tok = train.add_parser(
        "tokenizer",
        help="train a causal video / image tokenizer",
        description="Train a causal wavelet tokenizer (continuous or FSQ) on clip shards; resumes from "
        "--out/training_state if present.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tok.add_argument(
        "--config", default="CV4x8x8-tiny", help="preset, e.g. CV4x8x8, DV4x8x8-small, CI8x8-tiny"
    )
    tok.add_argument("--data", nargs="+", required=True, help="shard folder(s)")
    tok.add_argument("--out", required=True, help="checkpoint directory")
    tok.add_argument("--size", type=int, default=64)
    tok.add_argument(
        "--frames", type=int, default=None, help="window length (default 1 + 2 x temporal factor)"
    )
    tok.add_argument("--image-fraction", type=float, default=0.25, help="share of single frames per batch")
    _add_trainer_args(tok, steps=1000, batch_size=8, lr=1e-3, ema=0.0, eval_every=250)
    tok.add_argument(
        "--perceptual-weights", default=None, help="local VGG19 weights; without, no perceptual loss"
    )
    tok.add_argument(
        "--init-from",
        default=None,
        help="tokenizer checkpoint whose weights start the run (fresh optimiser and schedule)",
    )
    tok.add_argument(
        "--freeze-encoder",
        action="store_true",
        help="with --init-from: train the decoder only, so the latents (and world models on them) stay valid",
    )
    tok.add_argument("--l1", type=float, default=1.0)
    tok.add_argument("--mse", type=float, default=0.0, help="pixel MSE weight (PSNR's own loss)")
    tok.add_argument("--perceptual", type=float, default=0.1)
    tok.add_argument("--ssim", type=float, default=0.0)
    tok.add_argument("--flow", type=float, default=0.01)
    tok.add_argument("--gram", type=float, default=0.0)
    tok.add_argument(
        "--stage2-step",
        type=int,
        default=None,
        help="step where stage 2 (flow, Gram) starts (default: 70%% of --steps)",
    )
    tok.set_defaults(func=cmd_train_tokenizer)

    for name, help_text in (
        ("diffusion", "pre-train a diffusion world model (Video2World) on tokenizer latents"),
        ("posttrain", "post-train a world model: --task robot adds action conditioning"),
    ):
        wfm = train.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=WFM_EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "posttrain":
            wfm.add_argument(
                "--task",
                choices=sorted(POSTTRAIN_TASKS),
                default=None,
                help="robot: actions; camera: Plücker-ray camera poses; driving: left|front|right views + "
                "ego trajectory (default: the --from checkpoint's, i.e. plain fine-tuning)",
            )
            wfm.add_argument("--from", dest="init_from", default=None, help="pre-trained WFM checkpoint")
            wfm.add_argument(
                "--lora-rank",
                type=int,
                default=0,
                help="train rank-r LoRA adapters (merged on export); 0 = all",
            )
            wfm.add_argument(
                "--lora-alpha", type=float, default=None, help="LoRA scale numerator (default: rank)"
            )
            wfm.add_argument(
                "--max-frame-stride",
                type=int,
                default=1,
                help="camera / driving: train on frames 1..N source frames apart (motions of several sizes)",
            )
        need_tokenizer = name == "diffusion"
        wfm.add_argument(
            "--tokenizer",
            required=need_tokenizer,
            default=None,
            help="image tokenizer checkpoint" + ("" if need_tokenizer else " (default: the --from model's)"),
        )
        wfm.add_argument("--data", nargs="+", required=True, help="shard folder(s)")
        wfm.add_argument("--out", required=True, help="checkpoint directory")
        wfm.add_argument(
            "--dit",
            default=None,
            help="DiT preset: DiT-tiny, DiT-XS, DiT-S, DiT-B (default: --from's, else DiT-XS)",
        )
        wfm.add_argument("--context-frames", type=int, default=None, help="default: --from's, else 2")
        wfm.add_argument(
            "--residual",
            action="store_true",
            help="predict the change from the last context frame (copying it is the model's zero)",
        )
        wfm.add_argument(
            "--text", action="store_true", help="condition on captions (Text2World + Video2World)"
        )
        wfm.add_argument("--size", type=int, default=None, help="frame size (default: --from's, else 64)")
        wfm.add_argument(
            "--p-mean",
            type=float,
            default=None,
            help="training noise levels: ln(sigma) ~ N(p_mean, p_std^2) (default: --from's, else -1.2)",
        )
        wfm.add_argument("--p-std", type=float, default=None, help="default: --from's, else 1.2")
        wfm.add_argument(
            "--sigma-max",
            type=float,
            default=None,
            help="first noise level of the sampling schedule (default: --from's, else 80)",
        )
        _add_trainer_args(wfm, steps=2000, batch_size=16, lr=3e-4, ema=0.999, eval_every=500)
        wfm.set_defaults(func=cmd_train_wfm)

    rew = train.add_parser(
        "reward",
        help="train a reward / success head on a world model's latents",
        description="Fit a small reward / success head on the world model's latents of recorded frames "
        "(rewards.npy, success.npy); saved beside the world model, where WorldModelEnv finds it.",
        epilog="examples:\n  worldfm train reward --wfm runs/fetch-wm --data data/fetch\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rew.add_argument("--wfm", required=True, help="action-conditioned world-model checkpoint")
    rew.add_argument("--data", nargs="+", required=True, help="shard folder(s) with rewards and success")
    rew.add_argument("--out", default=None, help="where to save the head (default: the --wfm folder)")
    rew.add_argument("--hidden", type=int, default=128)
    rew.add_argument(
        "--arch", choices=["mlp", "conv"], default="mlp", help="conv: shared 3x3 filters + max pool"
    )
    rew.add_argument("--steps", type=int, default=500)
    rew.add_argument("--batch-size", type=int, default=256)
    rew.add_argument("--lr", type=float, default=1e-3)
    rew.add_argument("--heldout-fraction", type=float, default=0.1)
    rew.add_argument("--seed", type=int, default=0)
    rew.add_argument(
        "--progress",
        action="store_true",
        help="also predict dense task progress from the recorded positions (for `worldfm plan --objective "
        "progress`)",
    )
    rew.add_argument(
        "--imagined-horizon",
        type=int,
        default=0,
        help="also train on the model's own rollouts of this many frames over the recorded actions",
    )
    rew.add_argument("--imagined-stride", type=int, default=8, help="frames between imagined rollout starts")
    rew.set_defaults(func=cmd_train_reward)

    clf = train.add_parser(
        "classifier",
        help="train a curation clip classifier (burned-in text, video type) on clip embeddings",
        description="Fit a small MLP on clip embeddings (the curate embed stage's) of labelled clips "
        "(worldfm simulate raw --labelled-clips); writes config.json + model.safetensors + MODEL_CARD.md "
        "with the held-out accuracy, for the curate text_overlay / category stages.",
        epilog="examples:\n  worldfm simulate raw --labelled-clips --episodes 480 --seed 1 --out data/clips\n"
        "  worldfm train classifier --task text-overlay --data data/clips \\\n"
        "      --out checkpoints/text-overlay-mlp\n"
        "  worldfm train classifier --task category --data data/clips --out checkpoints/category-mlp\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clf.add_argument("--task", choices=["text-overlay", "category"], required=True, help="what to classify")
    clf.add_argument("--data", nargs="+", required=True, help="folder(s) of labelled clips with labels.json")
    clf.add_argument("--out", required=True, help="checkpoint directory to write")
    clf.add_argument("--embedder", default="tokenizer", help="clip embedder (as curate --embedder)")
    clf.add_argument("--hidden", type=int, default=64, help="hidden width of the MLP")
    clf.add_argument("--steps", type=int, default=1500, help="full-batch AdamW steps")
    clf.add_argument("--lr", type=float, default=3e-3)
    clf.add_argument("--heldout-fraction", type=float, default=0.2, help="share of each class held out")
    clf.add_argument("--seed", type=int, default=0)
    clf.set_defaults(func=cmd_train_classifier)

    ar = train.add_parser(
        "ar",
        help="train an autoregressive GPT world model over FSQ tokens",
        description="Train a GPT over a discrete (FSQ) image tokenizer's tokens: Video2World, with "
        "--actions one frame per action, with --text Text2World.",
        epilog="example:\n  worldfm train ar --tokenizer runs/di8 --data data/fetch --out runs/ar --actions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ar.add_argument("--tokenizer", required=True, help="discrete image tokenizer checkpoint (DI8x8, ...)")
    ar.add_argument("--data", nargs="+", required=True)
    ar.add_argument("--out", required=True)
    ar.add_argument("--gpt", default="GPT-XS", help="GPT preset: GPT-tiny, GPT-XS, GPT-S, GPT-B")
    ar.add_argument("--context-frames", type=int, default=2)
    ar.add_argument("--actions", action="store_true", help="condition on the action into each frame")
    ar.add_argument("--text", action="store_true", help="condition on captions")
    ar.add_argument("--size", type=int, default=64)
    ar.add_argument("--temperature", type=float, default=0.5, help="default sampling temperature")
    ar.add_argument("--top-k", type=int, default=0, help="default top-k (0 = off)")
    ar.add_argument("--top-p", type=float, default=1.0, help="default nucleus mass")
    _add_trainer_args(ar, steps=2000, batch_size=16, lr=1e-3, ema=0.0, eval_every=500)
    ar.set_defaults(func=cmd_train_ar)

    evaluate = sub.add_parser("eval", help="evaluate models").add_subparsers(dest="model", required=True)
    etok = evaluate.add_parser(
        "tokenizer",
        help="PSNR / SSIM / compression of a tokenizer vs bilinear resizing",
        epilog=EVAL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="rollout PSNR / SSIM of a world model vs copying the last frame, true vs shuffled actions",
        epilog="examples:\n  worldfm eval wfm --ckpt runs/fetch-wm --horizon 16 --video-out rollouts.mp4\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="a Fetch world model vs the simulator on the same actions: PSNR, returns, rank agreement",
        description="Scripted policies (random, noisy expert, expert) act closed loop in the Fetch "
        "simulator; their actions are replayed open loop in the world model from the same frames.",
        epilog="examples:\n  worldfm eval env --wfm runs/fetch-wm --episodes 10 --rrd paired.rrd\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    eenv.add_argument("--wfm", required=True, help="Fetch world-model checkpoint (with a reward head)")
    eenv.add_argument("--task", choices=["push", "pickandplace"], default="push")
    eenv.add_argument("--episodes", type=int, default=10, help="episodes per policy")
    eenv.add_argument("--horizon", type=int, default=16, help="policy steps per episode")
    eenv.add_argument("--sampler-steps", type=int, default=None, help="default: the checkpoint's")
    eenv.add_argument("--seed", type=int, default=0)
    eenv.add_argument("--rrd", default=None, help="write a Rerun recording of one paired rollout")
    eenv.set_defaults(func=cmd_eval_env)

    eshots = evaluate.add_parser(
        "shots",
        help="shot-transition precision / recall / F1 and frames/s of the splitters on labelled footage",
        description="Match each splitter's transitions to labels.json (worldfm simulate raw): hard cuts "
        "within --tolerance frames, gradual transitions by overlap.",
        epilog="examples:\n  worldfm eval shots --labels data/raw/labels.json\n"
        "  worldfm eval shots --labels data/raw/labels.json --splitter cascade transnetv2 pyscenedetect\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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

    rec = sub.add_parser(
        "recipe",
        help="regenerate every shipped checkpoint: simulate, tokenizers, curation, world models, eval",
        description="Run a recipe's steps in order (each a worldfm command or a copy into --ship-to); "
        "finished steps are skipped, so rerunning the same command resumes an interrupted run.",
        epilog="examples:\n"
        "  worldfm recipe fetch64 --out . --ship-to checkpoints   # regenerate checkpoints/\n"
        "  worldfm recipe fetch64 --out /tmp/r --smoke --list\n"
        "  worldfm recipe fetch64 --out . --ship-to checkpoints --only simulate-fetch64,tokenizers\n"
        "  worldfm recipe fetch64 --out /tmp/r1 --seed 1   # the whole chain again, other seeds\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rec.add_argument("recipe", choices=["fetch64"], help="which recipe")
    rec.add_argument("--out", required=True, help="folder of the recipe's data/ and runs/")
    rec.add_argument(
        "--ship-to", default=None, help="where shipped checkpoints go (default: OUT/checkpoints)"
    )
    rec.add_argument("--smoke", action="store_true", help="the whole chain in tiny form (32 px, a few steps)")
    rec.add_argument("--only", default=None, help="comma-separated step or group names to run")
    rec.add_argument("--from-step", default=None, help="start at this step (earlier ones are not run)")
    rec.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    rec.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    rec.add_argument(
        "--seed",
        type=int,
        default=None,
        help="every training's seed (data keep theirs): a second run of the whole chain, for its spread",
    )
    rec.set_defaults(func=cmd_recipe)

    demo = sub.add_parser(
        "demo",
        help="the web app (play, generate, tokenize, curate, inspect); --offline: the recorded preview",
        description="Serve the worldfm web app on the checkpoints in --checkpoints. With --offline, "
        "run the end-to-end demo without a server instead: record Fetch, orbit and driving episodes, "
        "write them as shards, a side-by-side preview mp4 and a Rerun recording.",
        epilog=DEMO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="demo_out", help="output folder (the web app writes to OUT/web)")
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINTS), help="folder of checkpoint folders")
    demo.add_argument("--max-file-size-mb", type=float, default=50.0, help="largest upload accepted")
    demo.add_argument("--concurrency", type=int, default=1, help="jobs run at once per event")
    demo.add_argument("--max-frames", type=int, default=64, help="frames read from an upload at most")
    demo.add_argument("--rerun-port", type=int, default=9090, help="port of the embedded Rerun viewer")
    demo.add_argument("--offline", action="store_true", help="no server: record episodes and a preview")
    demo.add_argument("--episodes", type=int, default=2, help="--offline: Fetch episodes to record")
    demo.add_argument("--size", type=int, default=64, help="--offline: render size in pixels")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    # PyOpenGL announces at INFO that its optional accelerator module is absent.
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("worldfm: interrupted before the manifest was written; rerun the same command", file=sys.stderr)
        return 130
    except _user_errors() as e:
        print(f"worldfm {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        # Only commands that trained can hold a process group (under `accelerate launch`).
        trainer = sys.modules.get("training.trainer")
        if trainer is not None:
            trainer.end_distributed()


if __name__ == "__main__":
    sys.exit(main())

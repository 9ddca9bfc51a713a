"""``worldfm train``: tokenizers, diffusion / autoregressive world models, reward heads, latent
policies (behaviour cloning), classifiers, and DAgger rounds of planning and fine-tuning
(``app.cli.dagger``).

Each sub-command's options are its run dataclass's fields (``TokenizerTrainArgs``,
``WFMTrainArgs``, ``ARTrainArgs``, ``RewardTrainArgs``, ``BCTrainArgs``, ``ClassifierTrainArgs``,
``DaggerArgs``), the shared
trainer's (``TrainConfig``) with the defaults in the run dataclass's ``train`` field.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from app.cli.common import UserError, summary
from app.cli.options import LazySubParsers, add_options, field_default, field_help, fields_of, values

if TYPE_CHECKING:
    from training.trainer import TrainConfig

TOKENIZER_EXAMPLES = """examples:
  worldfm train tokenizer --config CV4x8x8-tiny --data data/fetch --out runs/tok --steps 200
  worldfm train tokenizer --config CI8x8-small --data data/fetch data/orbit --out runs/ci8 --steps 20000 \\
      --batch-size 16 --perceptual-weights vgg19.safetensors
"""
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
CLASSIFIER_EXAMPLES = """examples:
  worldfm simulate raw --labelled-clips --episodes 480 --seed 1 --out data/clips
  worldfm train classifier --task text-overlay --data data/clips \\
      --out checkpoints/text-overlay-mlp
  worldfm train classifier --task category --data data/clips --out checkpoints/category-mlp
"""
RAW = argparse.RawDescriptionHelpFormatter


def add_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train models").add_subparsers(
        dest="model", required=True, action=LazySubParsers
    )
    train.add_parser(
        "tokenizer",
        options=tokenizer_options,
        help="train a causal video / image tokenizer",
        description="Train a causal wavelet tokenizer (continuous or FSQ) on clip shards; resumes from "
        "--out/training_state if present.",
        epilog=TOKENIZER_EXAMPLES,
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_tokenizer)
    for name, help_text in (
        ("diffusion", "pre-train a diffusion world model (Video2World) on tokenizer latents"),
        ("posttrain", "post-train a world model: --task robot adds action conditioning"),
    ):
        train.add_parser(
            name,
            options=lambda p, name=name: wfm_options(p, posttrain=name == "posttrain"),
            help=help_text,
            description=help_text,
            epilog=WFM_EXAMPLES,
            formatter_class=RAW,
        ).set_defaults(func=cmd_train_wfm)
    train.add_parser(
        "reward",
        options=reward_options,
        help="train a reward / success (/ progress / value) head on a world model's latents",
        description="Fit a small reward / success (/ progress / value) head on the world model's latents "
        "of recorded frames (rewards.npy, success.npy); saved beside the world model, where WorldModelEnv "
        "finds it.",
        epilog="examples:\n  worldfm train reward --wfm runs/fetch-wm --data data/fetch\n"
        "  worldfm train reward --wfm runs/fetch-wm --data data/fetch --progress --value --gamma 0.95\n",
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_reward)
    train.add_parser(
        "dagger",
        options=dagger_options,
        help="close the loop: plan in the simulator, add the episodes to the data, fine-tune, repeat",
        description="DAgger / online world modelling. Each round plans episodes in the Fetch simulator "
        "with the current checkpoint, records them as shards (OUT/round-R/data), fine-tunes the world "
        "model on the old and new shards (OUT/round-R/model), retrains its reward head, evaluates the "
        "planner from held-out start states and appends the round to OUT/rounds.json; a rerun skips "
        "finished rounds.",
        epilog="examples:\n"
        "  worldfm train dagger --wfm checkpoints/fetchpush-wm-dit --data data/fetch64 --out runs/dagger\n"
        "  worldfm train dagger --wfm runs/fetch-wm --data data/fetch --out runs/dagger --rounds 5 \\\n"
        "      --episodes-per-round 16 --finetune-steps 1000 --population 16 --iterations 1\n",
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_dagger)
    train.add_parser(
        "bc",
        options=bc_options,
        help="behaviour-clone a policy on a world model's latents from recorded expert episodes",
        description="Fit a small policy (worldmodel.policies.LatentPolicy) from the world model's latents of "
        "recorded frames to the actions the chosen recorded policies took (actions.npy, shard meta "
        "'policy'); a baseline for RL in imagination, its initialisation and a planner's latent prior.",
        epilog="example:\n  worldfm simulate fetch --episodes 120 --size 64 --out data/fetch\n"
        "  worldfm train bc --wfm checkpoints/fetchpush-wm-dit --data data/fetch --out runs/bc\n",
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_bc)
    train.add_parser(
        "classifier",
        options=classifier_options,
        help="train a curation clip classifier (burned-in text, video type) on clip embeddings",
        description="Fit a small MLP on clip embeddings (the curate embed stage's) of labelled clips "
        "(worldfm simulate raw --labelled-clips); writes config.json + model.safetensors + MODEL_CARD.md "
        "with the held-out accuracy, for the curate text_overlay / category stages.",
        epilog=CLASSIFIER_EXAMPLES,
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_classifier)
    train.add_parser(
        "ar",
        options=ar_options,
        help="train an autoregressive GPT world model over FSQ tokens",
        description="Train a GPT over a discrete (FSQ) image tokenizer's tokens: Video2World, with "
        "--actions one frame per action, with --text Text2World.",
        epilog="example:\n  worldfm train ar --tokenizer runs/di8 --data data/fetch --out runs/ar --actions",
        formatter_class=RAW,
    ).set_defaults(func=cmd_train_ar)


# --- the shared trainer ---------------------------------------------------------------------

TRAINER_HELP = {
    "batch_size": "clips per micro-batch per process; the global batch is batch-size x grad-accum x "
    "processes",
    "lr": "peak learning rate (cosine to lr/10)",
    "ema_decay": "EMA decay of the weights (0 = off)",
    "seed": "random seed of the run",
}


def add_trainer_options(parser: argparse.ArgumentParser, run: type) -> None:
    """``TrainConfig``'s options, with the defaults of ``run``'s ``train`` field."""
    from training.trainer import TrainConfig

    train = field_default(fields_of(run)["train"])
    flags = {"warmup_steps": "--warmup", "ema_decay": "--ema"}

    def add(*names: str) -> None:
        defaults = {n: getattr(train, n) for n in names}
        add_options(parser, TrainConfig, names, defaults=defaults, flags=flags, help=TRAINER_HELP)

    add("steps", "batch_size", "grad_accum", "lr", "warmup_steps", "ema_decay")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    add("eval_every", "save_every", "log_every", "seed")


def train_config(args: argparse.Namespace) -> TrainConfig:
    from training.trainer import TrainConfig

    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup_steps=min(args.warmup_steps, args.steps),
        ema_decay=args.ema_decay,
        mixed_precision="bf16" if args.bf16 else "no",
        eval_every=args.eval_every,
        save_every=args.save_every,
        log_every=min(args.log_every, args.steps),
        seed=args.seed,
        out_dir=args.out,
    )


# --- tokenizer ------------------------------------------------------------------------------

TOKENIZER_RUN = ("config", "data", "out", "size", "frames", "image_fraction")
TOKENIZER_INIT = ("perceptual_weights", "init_from", "freeze_encoder")
LOSS = ("l1", "mse", "perceptual", "ssim", "flow", "gram")


def tokenizer_options(parser: argparse.ArgumentParser) -> None:
    from training.train_tokenizer import TokenizerTrainArgs
    from worldmodel.tokenizer.losses import TokenizerLossConfig

    required = ("data", "out")
    help_ = {"config": "preset, e.g. CV4x8x8, DV4x8x8-small, CI8x8-tiny"}
    add_options(parser, TokenizerTrainArgs, TOKENIZER_RUN, required=required, help=help_)
    add_trainer_options(parser, TokenizerTrainArgs)
    add_options(parser, TokenizerTrainArgs, TOKENIZER_INIT)
    loss = field_default(fields_of(TokenizerTrainArgs)["loss"])
    add_options(parser, TokenizerLossConfig, LOSS, defaults={n: getattr(loss, n) for n in LOSS})
    parser.add_argument(
        "--stage2-step",
        type=int,
        default=None,
        help="step where stage 2 (flow, Gram) starts (default: 70%% of --steps)",
    )


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from training.train_tokenizer import TokenizerTrainArgs, train_tokenizer
    from worldmodel.tokenizer.losses import TokenizerLossConfig

    stage2 = args.stage2_step if args.stage2_step is not None else int(0.7 * args.steps)
    try:
        run = TokenizerTrainArgs(
            **values(args, TOKENIZER_RUN + TOKENIZER_INIT),
            loss=TokenizerLossConfig(**values(args, LOSS), stage2_step=stage2),
            train=train_config(args),
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    start = time.perf_counter()
    metrics = train_tokenizer(run)
    psnr = metrics.get("eval/psnr")
    summary(
        f"trained {args.config} for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"loss {metrics.get('losses/total', float('nan')):.4g}"
        + (f", held-out PSNR {psnr:.2f} dB" if psnr is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


# --- diffusion world model: pre-training and post-training ---------------------------------

POSTTRAIN_ONLY = ("lora_rank", "lora_alpha", "max_frame_stride")
# WFMTrainArgs documents p_mean and p_std together, under p_std.
NOISE_HELP = {"p_mean": "training noise levels: ln(sigma) ~ N(p_mean, p_std^2)", "p_std": "see --p-mean"}


def wfm_options(parser: argparse.ArgumentParser, *, posttrain: bool) -> None:
    from training.posttrain_settings import INHERITED, POSTTRAIN_TASKS
    from training.train_wfm import WFMTrainArgs

    if posttrain:
        parser.add_argument(
            "--task",
            choices=sorted(POSTTRAIN_TASKS),
            default=None,
            help="robot: actions; camera: Plücker-ray camera poses; driving: left|front|right views + "
            "ego trajectory (default: the --from checkpoint's, i.e. plain fine-tuning)",
        )
        add_options(
            parser,
            WFMTrainArgs,
            ("init_from", *POSTTRAIN_ONLY),
            flags={"init_from": "--from"},
            help={"init_from": "pre-trained WFM checkpoint"},
        )
    parser.add_argument(
        "--tokenizer",
        required=not posttrain,
        default=None,
        help="image tokenizer checkpoint" + (" (default: the --from model's)" if posttrain else ""),
    )
    add_options(parser, WFMTrainArgs, ("data", "out"), required=("data", "out"))
    # Unset (None) means: the --from checkpoint's, else the dataclass default.
    inherited = [n for n in INHERITED if n != "tokenizer"]
    defaults = {f.name: f.default for f in fields_of(WFMTrainArgs).values()}
    add_options(
        parser,
        WFMTrainArgs,
        [*inherited[:2], "residual", "text", *inherited[2:]],
        defaults=dict.fromkeys(inherited),
        help={
            n: f"{NOISE_HELP.get(n) or field_help(WFMTrainArgs, n)} (default: --from's, else {defaults[n]})"
            for n in inherited
        },
    )
    add_trainer_options(parser, WFMTrainArgs)


def cmd_train_wfm(args: argparse.Namespace) -> int:
    from training.posttrain_settings import INHERITED, posttrain_settings
    from training.train_wfm import WFMTrainArgs, train_wfm

    posttrain = args.model == "posttrain"
    init_from = args.init_from if posttrain else None
    try:
        settings = posttrain_settings(
            posttrain=posttrain,
            task=args.task if posttrain else None,
            init_from=init_from,
            given=values(args, INHERITED),
            residual=args.residual,
        )
        run = WFMTrainArgs(
            data=args.data,
            out=args.out,
            init_from=init_from,
            text=args.text,
            **(values(args, POSTTRAIN_ONLY) if posttrain else {}),
            train=train_config(args),
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
    summary(
        f"trained {run.dit} for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"loss {metrics.get('losses/total', float('nan')):.4g}"
        + (f", held-out latent MSE {mse:.4f} (copy-last {copy:.4f})" if mse is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


# --- autoregressive world model -------------------------------------------------------------

AR_RUN = ("tokenizer", "data", "out", "gpt", "context_frames", "actions", "text", "size")
AR_SAMPLING = ("temperature", "top_k", "top_p")


def ar_options(parser: argparse.ArgumentParser) -> None:
    from training.train_ar import ARTrainArgs

    help_ = {"tokenizer": "discrete image tokenizer checkpoint (DI8x8, ...)"}
    add_options(parser, ARTrainArgs, AR_RUN + AR_SAMPLING, required=("tokenizer", "data", "out"), help=help_)
    add_trainer_options(parser, ARTrainArgs)


def cmd_train_ar(args: argparse.Namespace) -> int:
    from training.train_ar import ARTrainArgs, train_ar

    try:
        run = ARTrainArgs(
            **values(args, AR_RUN + AR_SAMPLING),
            task="robot" if args.actions else None,
            train=train_config(args),
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    start = time.perf_counter()
    metrics = train_ar(run)
    mse, copy = metrics.get("eval/latent_mse"), metrics.get("eval/copy_last_latent_mse")
    summary(
        f"trained {args.gpt} for {args.steps} steps in {time.perf_counter() - start:.0f} s"
        + (f": held-out latent MSE {mse:.4f} (copy-last {copy:.4f})" if mse is not None else "")
        + f"; checkpoint in {args.out}"
    )
    return 0


# --- reward head and curation classifiers ---------------------------------------------------

REWARD = ("wfm", "data", "out", "hidden", "arch", "steps", "batch_size", "lr", "heldout_fraction", "seed")
REWARD_EXTRAS = ("progress", "value", "gamma", "imagined_horizon", "imagined_stride")


def reward_options(parser: argparse.ArgumentParser) -> None:
    from training.train_reward import RewardTrainArgs

    add_options(
        parser,
        RewardTrainArgs,
        REWARD + REWARD_EXTRAS,
        required=("wfm", "data"),
        choices={"arch": ("mlp", "conv")},
        help={
            "wfm": "action-conditioned world-model checkpoint",
            "data": "shard folder(s) with rewards and success",
            "out": "where to save the head (default: the --wfm folder)",
            "progress": "also predict dense task progress from the recorded positions (for `worldfm plan "
            "--objective progress`)",
            "value": "also predict each frame's discounted return-to-go under the recorded policies (a "
            "planner's terminal value: LearnedReward.value)",
            "gamma": "discount of the --value returns",
        },
    )


BC = (
    "wfm",
    "data",
    "out",
    "policies",
    "frames",
    "hidden",
    "steps",
    "batch_size",
    "lr",
    "heldout_fraction",
    "seed",
)


def bc_options(parser: argparse.ArgumentParser) -> None:
    from training.train_bc import BCTrainArgs

    add_options(
        parser,
        BCTrainArgs,
        BC,
        required=("wfm", "data", "out"),
        help={
            "wfm": "action-conditioned world-model checkpoint whose latents the policy reads",
            "data": "shard folder(s) with actions and the recording policy in each clip's meta",
            "out": "the policy's checkpoint folder",
        },
    )


def cmd_train_bc(args: argparse.Namespace) -> int:
    from training.train_bc import BCTrainArgs, train_bc

    try:
        run = BCTrainArgs(**values(args, BC))
        start = time.perf_counter()
        m = train_bc(run)
    except ValueError as e:
        raise UserError(str(e)) from None
    summary(
        f"behaviour-cloned {', '.join(run.policies)} for {args.steps} steps in "
        f"{time.perf_counter() - start:.0f} s: held-out action MSE {m['eval/action_mse']:.4g} "
        f"(mean action {m['eval/mean_action_mse']:.4g}); policy in {args.out}"
    )
    return 0


def cmd_train_reward(args: argparse.Namespace) -> int:
    from training.train_reward import RewardTrainArgs, train_reward

    try:
        run = RewardTrainArgs(**values(args, REWARD + REWARD_EXTRAS))
        start = time.perf_counter()
        m = train_reward(run)
    except ValueError as e:
        raise UserError(str(e)) from None
    summary(
        f"trained a reward head for {args.steps} steps in {time.perf_counter() - start:.0f} s: "
        f"held-out reward MSE {m['eval/reward_mse']:.4g} (mean reward {m['eval/mean_reward_mse']:.4g}), "
        f"success accuracy {m['eval/success_accuracy']:.1%} "
        f"(majority class {m['eval/majority_success_accuracy']:.1%})"
        + (f", progress correlation {m['eval/progress_corr']:.2f}" if "eval/progress_corr" in m else "")
        + (
            f", value MSE {m['eval/value_mse']:.4g} (mean return {m['eval/mean_value_mse']:.4g}, "
            f"correlation {m['eval/value_corr']:.2f})"
            if "eval/value_mse" in m
            else ""
        )
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


# --- DAgger: planner episodes, fine-tuning, evaluation, in rounds (app.cli.dagger) ------------


def dagger_options(parser: argparse.ArgumentParser) -> None:
    from app.cli.dagger import add_options_to

    add_options_to(parser)


def cmd_train_dagger(args: argparse.Namespace) -> int:
    from app.cli.dagger import cmd_dagger

    return cmd_dagger(args)


CLASSIFIER = ("task", "data", "out", "embedder", "hidden", "steps", "lr", "heldout_fraction", "seed")


def classifier_options(parser: argparse.ArgumentParser) -> None:
    from curation.classifiers import TASKS
    from training.train_classifier import ClassifierTrainArgs

    add_options(
        parser,
        ClassifierTrainArgs,
        CLASSIFIER,
        required=("task", "data", "out"),
        choices={"task": list(TASKS)},
        help={
            "task": "what to classify",
            "data": "folder(s) of labelled clips with labels.json",
            "out": "checkpoint directory to write",
            "embedder": "clip embedder (as curate --embedder)",
            "steps": "full-batch AdamW steps",
        },
    )


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from training.train_classifier import ClassifierTrainArgs, train_classifier

    command = (
        f"worldfm train classifier --task {args.task} --data {' '.join(args.data)} --out {args.out} "
        f"--embedder {args.embedder} --hidden {args.hidden} --steps {args.steps} --lr {args.lr:g} "
        f"--heldout-fraction {args.heldout_fraction:g} --seed {args.seed}"
    )
    try:
        run = ClassifierTrainArgs(**{**values(args, CLASSIFIER), "data": tuple(args.data)})
        r = train_classifier(run, command=command)
    except ValueError as e:
        raise UserError(str(e)) from None
    summary(
        f"trained a {args.task} classifier on {r['train_clips']} clips in {r['wall_time_s']:.0f} s: held-out "
        f"accuracy {r['heldout_accuracy']:.1%} on {r['heldout_clips']} clips (majority class "
        f"{r['majority_class']} {r['majority_heldout_accuracy']:.1%}); saved in {args.out}"
    )
    return 0

"""The default runs of the trainers: one place for what every command's run and every small head's
run have in common, so each trainer names only what is its own."""

from __future__ import annotations

from typing import Any, Protocol

from training.trainer import TrainConfig


def command_run(**settings: Any) -> TrainConfig:
    """A ``worldfm train`` command's default run (tokenizer, diffusion, AR): 100 warmup steps, a
    checkpoint every 250 steps and a metrics row every 25, under the command's own ``settings``
    (steps, batch size, lr, ...)."""
    return TrainConfig(**{"warmup_steps": 100, "save_every": 250, "log_every": 25, **settings})


class HeadRunArgs(Protocol):
    """The optimiser settings a small head's run arguments carry (reward heads, clip classifiers)."""

    steps: int
    lr: float
    warmup: int
    weight_decay: float
    seed: int


def head_run(
    args: HeadRunArgs, *, batch_size: int, eval_every: int, log_every: int, out_dir: str
) -> TrainConfig:
    """A small head's run of seconds: the cosine decays to lr / 10, one checkpoint at the end and no
    ``training_state/`` (it is rerun, not resumed)."""
    return TrainConfig(
        steps=args.steps,
        batch_size=batch_size,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup_steps=args.warmup,
        weight_decay=args.weight_decay,
        # torch's AdamW defaults and no clipping, as these heads always trained
        betas=(0.9, 0.999),
        grad_clip=0.0,
        eval_every=eval_every,
        save_every=args.steps,
        log_every=log_every,
        seed=args.seed,
        out_dir=out_dir,
        save_state=False,
    )

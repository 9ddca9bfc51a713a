"""Train one tiny model of each trainer family in turn; run under ``accelerate launch`` by the tests.

usage: train_tiny.py --data SHARDS --tokenizers DIR --out DIR --steps N --grad-accum G

``--tokenizers`` holds the untrained ``discrete`` and ``continuous`` image tokenizers the world models
read. The lr is constant (no warmup, floor = peak), so a run stopped at ``--steps k`` and resumed with
``--steps N`` follows the same schedule as one run of N steps.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from training.train_ar import ARTrainArgs, train_ar
from training.train_tokenizer import TokenizerTrainArgs, train_tokenizer
from training.train_wfm import WFMTrainArgs, train_wfm
from training.trainer import TrainConfig, end_distributed
from worldmodel.tokenizer.losses import TokenizerLossConfig

FAMILIES = ("tokenizer", "ar", "diffusion")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--tokenizers", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--grad-accum", type=int, required=True)
    args = parser.parse_args()
    train = TrainConfig(
        steps=args.steps,
        batch_size=2,
        grad_accum=args.grad_accum,
        lr=1e-3,
        min_lr=1e-3,
        warmup_steps=0,
        ema_decay=0.9,
        eval_every=1000,
        save_every=1000,
        log_every=1,
    )
    out, tokenizers = Path(args.out), Path(args.tokenizers)
    world = {"data": [args.data], "size": 32, "eval_clips": 2}
    for family in FAMILIES:
        # Each family starts from the same initial weights whatever ran before it in this process.
        torch.manual_seed(0)
        run = dataclasses.replace(train, out_dir=str(out / family))
        if family == "tokenizer":
            train_tokenizer(
                TokenizerTrainArgs(
                    config="DI8x8-tiny",
                    data=[args.data],
                    out=run.out_dir,
                    size=32,
                    eval_clips=2,
                    loss=TokenizerLossConfig(perceptual=0.0, gram=0.0),
                    train=run,
                )
            )
        elif family == "ar":
            train_ar(
                ARTrainArgs(
                    tokenizer=str(tokenizers / "discrete"),
                    out=run.out_dir,
                    actions=True,
                    gpt="GPT-tiny",
                    temperature=1.0,
                    train=run,
                    **world,
                )
            )
        else:
            train_wfm(
                WFMTrainArgs(
                    tokenizer=str(tokenizers / "continuous"),
                    out=run.out_dir,
                    dit="DiT-tiny",
                    eval_steps=2,
                    train=run,
                    **world,
                )
            )


if __name__ == "__main__":
    try:
        main()
    finally:
        end_distributed()

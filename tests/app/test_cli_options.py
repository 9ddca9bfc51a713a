"""The command line is generated from the run dataclasses: one default, in the dataclass."""

import argparse
from dataclasses import dataclass, field

import pytest

from app.cli import build_parser
from app.cli.options import LazySubParsers, add_options, build_all
from training.eval_wfm import pick_sweep_defaults, sweep_defaults
from training.train_ar import ARTrainArgs
from training.train_wfm import WFMTrainArgs


@dataclass
class Run:
    data: list[str] = field(default_factory=list)
    """shard folders"""
    size: int = 64
    """frame size, in %"""
    preset: str = field(default="tiny", metadata={"help": "model preset", "choices": ("tiny", "big")})
    init_from: str | None = None
    fast: bool = False
    """skip the slow parts"""


def test_options_take_type_default_choices_and_help_from_the_dataclass() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, Run, ["data", "size", "preset", "init_from", "fast"], flags={"init_from": "--from"})
    args = parser.parse_args(["--data", "a", "b", "--size", "32", "--from", "ckpt"])
    assert (args.data, args.size, args.preset, args.init_from, args.fast) == (
        ["a", "b"],
        32,
        "tiny",
        "ckpt",
        False,
    )
    assert parser.parse_args(["--fast"]).size == 64
    help_text = parser.format_help()
    assert "shard folders" in help_text and "frame size, in %" in help_text and "model preset" in help_text
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "huge"])


def test_command_defaults_are_the_run_dataclass_defaults() -> None:
    parser = build_all(build_parser())
    ar = parser.parse_args(["train", "ar", "--tokenizer", "t", "--data", "d", "--out", "o"])
    assert (ar.gpt, ar.temperature, ar.steps) == (ARTrainArgs.gpt, ARTrainArgs.temperature, 2000)
    wfm = parser.parse_args(["train", "diffusion", "--tokenizer", "t", "--data", "d", "--out", "o"])
    assert wfm.dit is None  # unset: --from's, else WFMTrainArgs.dit
    assert WFMTrainArgs.dit == "DiT-XS" and f"else {WFMTrainArgs.dit}" in _help(parser, "train", "diffusion")


def _help(parser: argparse.ArgumentParser, *path: str) -> str:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser.format_help()


def test_every_command_help_keeps_its_examples() -> None:
    parser = build_all(build_parser())
    commands = [a for a in parser._actions if isinstance(a, LazySubParsers)][0].choices
    for name, sub in commands.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        for leaf_name, leaf in nested[0].choices.items() if nested else [(name, sub)]:
            assert "example" in (leaf.epilog or ""), leaf_name
            assert "worldfm " in leaf.format_help(), leaf_name


def test_sweep_picks_steps_on_fp32_and_prices_bf16_at_those_steps() -> None:
    results = {
        (1, "fp32"): {"steps": 1, "precision": "fp32", "psnr": 20.0},
        (4, "fp32"): {"steps": 4, "precision": "fp32", "psnr": 21.0},
        (1, "bf16"): {"steps": 1, "precision": "bf16", "psnr": 25.0},  # bf16 never picks the steps
        (4, "bf16"): {"steps": 4, "precision": "bf16", "psnr": 20.9},
    }
    best, cost = pick_sweep_defaults(results)
    assert best["steps"] == 4 and cost == pytest.approx(0.1)
    assert sweep_defaults(results, steps_swept=True) == {"sampler_steps": 4, "bf16_cost_db": 0.1}
    assert sweep_defaults(results, steps_swept=False) == {"bf16_cost_db": 0.1}

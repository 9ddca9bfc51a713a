"""The ``worldfm`` command line: one sub-command per stage (ARCHITECTURE.md), one module per command.

Each module (``simulate``, ``datasets`` (import / export), ``curate``, ``train``, ``eval``, ``plan``,
``recipe``, ``demo``) adds its parser and holds its command functions; options come from the run
dataclasses' fields (``app.cli.options``), and the work is done by library calls. Heavy imports
happen inside each command, and a sub-command's options are added only when it is parsed, so that
``worldfm --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from app.cli import curate, datasets, demo, eval, plan, recipe, simulate, train  # noqa: A004 - the command's name
from app.cli.common import DEFAULT_CHECKPOINTS, UserError, user_errors
from app.cli.options import LazySubParsers

__all__ = ["DEFAULT_CHECKPOINTS", "UserError", "build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worldfm",
        description="worldfm: world foundation models for physical AI (simulate, curate, train, use).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", action=LazySubParsers)
    for command in (simulate, datasets, curate, train, eval, recipe, demo, plan):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    # PyOpenGL announces at INFO that its optional accelerator module is absent.
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    return _dispatch(args)


def run(argv: Sequence[str]) -> int:
    """Run one ``worldfm`` command in this process under the logging already set up (the recipe's
    steps); its exit status, with errors reported as ``main`` reports them."""
    return _dispatch(build_parser().parse_args(argv))


def _dispatch(args: argparse.Namespace) -> int:
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("worldfm: interrupted before the manifest was written; rerun the same command", file=sys.stderr)
        return 130
    except user_errors() as e:
        print(f"worldfm {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        # Only commands that trained can hold a process group (under `accelerate launch`).
        trainer = sys.modules.get("training.trainer")
        if trainer is not None:
            trainer.end_distributed()

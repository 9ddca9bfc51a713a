"""``worldfm recipe``: the command-line face of ``app.recipe`` (every shipped checkpoint, regenerated).

The recipe runs each step's ``worldfm`` command through ``app.cli.run``, which it is handed here:
``app.recipe`` itself does not import the command line.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def cmd_recipe(args: argparse.Namespace) -> int:
    from app.cli import run
    from app.recipe import run_recipe

    return run_recipe(
        args.recipe,
        run_command=run,
        out=args.out,
        ship_to=args.ship_to,
        smoke=args.smoke,
        only=args.only,
        from_step=args.from_step,
        list_steps=args.list,
        dry_run=args.dry_run,
        seed=args.seed,
    )

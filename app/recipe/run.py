"""Running a recipe: select its steps, skip the finished ones, run the rest in order, report."""

from __future__ import annotations

import shlex
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from app.errors import UserError
from app.recipe.fetch64 import fetch64_steps
from app.recipe.steps import Step, recorded_seed_mismatch
from worldmodel.shipped import SHIPPED_CHECKPOINTS as DEFAULT_CHECKPOINTS

RunCommand = Callable[[Sequence[str]], int]
"""runs one ``worldfm`` argv in this process and returns its exit status (``app.cli.run``)"""
RECIPES: dict[str, Callable[..., list[Step]]] = {"fetch64": fetch64_steps}

# --- running ----------------------------------------------------------------------------------


def select_steps(steps: list[Step], *, only: str | None = None, from_step: str | None = None) -> list[Step]:
    """The steps named by ``only`` (step or group names, comma-separated), from ``from_step`` on."""
    names = [s.name for s in steps]
    groups = list(dict.fromkeys(s.group for s in steps))
    selected = steps
    if from_step is not None:
        if from_step not in names:
            raise UserError(f"--from-step {from_step}: no such step; steps: {', '.join(names)}")
        selected = steps[names.index(from_step) :]
    if only:
        wanted = {w.strip() for w in only.split(",") if w.strip()}
        unknown = sorted(wanted - set(names) - set(groups))
        if unknown:
            raise UserError(
                f"--only {','.join(unknown)}: no such step or group; groups: {', '.join(groups)}; "
                f"steps: {', '.join(names)}"
            )
        selected = [s for s in selected if s.name in wanted or s.group in wanted]
    return selected


def run_steps(steps: list[Step], *, run_command: RunCommand, resume_command: Callable[[Step], str]) -> int:
    """Run the unfinished ``steps`` in order (``worldfm`` commands through ``run_command``), one
    progress line each, then a summary table.

    Stops at the first failing step with one line naming it and the command that resumes.
    """
    rows: list[tuple[str, str, float]] = []
    width = max(len(s.name) for s in steps)
    failed: Step | None = None
    error: str | None = None
    for i, step in enumerate(steps, 1):
        head = f"[{i:>2}/{len(steps)}] {step.name:<{width}}"
        if step.done():
            print(f"{head} skipped: finished ({step.output})", flush=True)
            rows.append((step.name, "skipped", 0.0))
            continue
        print(f"{head} running: {step.command}", flush=True)
        start = time.perf_counter()
        error = _run_one(step, run_command)
        seconds = time.perf_counter() - start
        if error is None and not step.done():
            error = f"it finished, but its output {step.output} is not complete"
        if error is not None:
            print(f"{head} FAILED after {seconds:.1f} s", flush=True)
            rows.append((step.name, "FAILED", seconds))
            failed = step
            break
        print(f"{head} done in {seconds:.1f} s", flush=True)
        rows.append((step.name, "ran", seconds))
    rows += [(s.name, "not run", 0.0) for s in steps[len(rows) :]]
    _print_summary(rows)
    if failed is not None:
        print(
            f"worldfm recipe: step {failed.name} failed: {error}; fix it, then resume with "
            f"`{resume_command(failed)}` (finished steps are skipped)",
            flush=True,
        )
        return 1
    return 0


def _run_one(step: Step, run_command: RunCommand) -> str | None:
    """Run one step; returns None, or a one-line reason it failed."""
    try:
        if step.func is not None:
            step.func()
            return None
        code = run_command(list(step.argv))
    except UserError as e:
        return str(e)
    except SystemExit as e:  # argparse rejected the argv
        code = e.code if isinstance(e.code, int) else 2
    except Exception as e:  # noqa: BLE001 - a recipe reports any step's failure the same way
        traceback.print_exc()
        return f"{type(e).__name__}: {e}"
    if code == 130:
        return "interrupted"
    return None if code == 0 else f"`{step.command}` exited with status {code} (its error is above)"


def _print_summary(rows: list[tuple[str, str, float]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    print(f"\n| {'step':<{width}} | status  | seconds |", flush=True)
    print(f"|{'-' * (width + 2)}|---------|--------:|", flush=True)
    for name, status, seconds in rows:
        print(f"| {name:<{width}} | {status:<7} | {seconds:>7.1f} |", flush=True)
    total = sum(s for _, _, s in rows)
    print(f"ran {sum(st == 'ran' for _, st, _ in rows)} step(s) in {total:.1f} s", flush=True)


def run_recipe(
    name: str,
    *,
    run_command: RunCommand,
    out: str | Path,
    ship_to: str | Path | None = None,
    smoke: bool = False,
    only: str | None = None,
    from_step: str | None = None,
    list_steps: bool = False,
    dry_run: bool = False,
    seed: int | None = None,
) -> int:
    """``worldfm recipe``: list, dry-run or run the recipe ``name`` into ``out``, each command through
    ``run_command``."""
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; available: {', '.join(RECIPES)}")
    out = Path(out)
    ship = Path(ship_to) if ship_to is not None else out / "checkpoints"
    if smoke and ship.resolve() == DEFAULT_CHECKPOINTS.resolve():
        raise UserError(
            f"--smoke would replace the shipped checkpoints in {ship} with tiny ones; pick another --ship-to"
        )
    steps = select_steps(RECIPES[name](out, ship, smoke=smoke, seed=seed), only=only, from_step=from_step)
    if not steps:
        raise UserError("no step selected")
    mixed = [m for m in map(recorded_seed_mismatch, steps) if m is not None]
    if mixed and not list_steps:
        raise UserError(f"{mixed[0]}: give this --seed its own --out (or pass the seed that run used)")
    if list_steps or dry_run:
        width = max(len(s.name) for s in steps)
        for s in steps:
            status = "finished" if s.done() else ("would run" if dry_run else "to run")
            print(f"{s.name:<{width}}  [{s.group}] {status}\n    {s.command}", flush=True)
        return 0
    tail = f" --out {shlex.quote(str(out))}" + (f" --ship-to {shlex.quote(str(ship_to))}" if ship_to else "")
    tail += " --smoke" if smoke else ""
    tail += f" --seed {seed}" if seed is not None else ""
    tail += f" --only {only}" if only else ""
    return run_steps(
        steps,
        run_command=run_command,
        resume_command=lambda step: f"worldfm recipe {name}{tail} --from-step {step.name}",
    )

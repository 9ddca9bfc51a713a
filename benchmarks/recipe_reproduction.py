"""Do the recipe's checkpoints reproduce the shipped model cards? One table, shipped next to rerun.

    worldfm recipe fetch64 --out runs/recipe                       # about 9.5 h on 2 CPU cores, resumable
    python benchmarks/recipe_reproduction.py --recipe runs/recipe/checkpoints [--shipped checkpoints]
        [--replicates DIR]

For every shipped checkpoint with a ``MODEL_CARD.md``, the headline table of its card
(``training.model_card.card_metrics``) is compared number by number with the card the recipe
wrote for its own copy. A number is *within noise* when it differs by no more than:

- 0.5 dB for a PSNR or a gain in dB (held-out PSNR is a mean over 16-64 clips of one evaluation
  seed, and a retrained model draws its noise and batches anew);
- 0.02 for SSIM;
- 3 points for an accuracy in % (one or two of the 96 held-out clips);
- 15 % (relative) for anything else (latent MSE).

A world model shipped with a reward head (``reward_head.json``, from ``worldfm train reward``) also
has the head's held-out metrics compared (accuracies as %, under the same rules).

How large run-to-run variation really is can be measured: train a checkpoint again with another
``--seed`` (same command otherwise), evaluate it with ``--card``, and put its folder (or a link to
it) under ``--replicates DIR`` with the checkpoint's name. The table then shows, beside each
number, the second recipe run's value minus the first's, so a difference from the shipped card can
be read against the recipe's own seed-to-seed difference. The verdicts still use the fixed
tolerances above.

Baselines in the same table (copy-last, bilinear, majority class) are recomputed by the recipe's
evaluation too, so they show how much of a difference comes from the data rather than the model.
A checkpoint the recipe has not reached yet gets one "not yet" row; the script exits 1 if any
number is outside its tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.model_card import card_metrics

REPO = Path(__file__).resolve().parents[1]


def tolerance(metric: str) -> tuple[float, bool]:
    """The allowed difference for ``metric`` and whether it is relative."""
    name = metric.lower()
    if "ssim" in name:
        return 0.02, False
    if "psnr" in name or "(db)" in name:
        return 0.5, False
    if "accuracy" in name:
        return 3.0, False
    return 0.15, True


def reward_head_metrics(checkpoint: Path) -> dict[str, float]:
    """The held-out metrics a reward head recorded (``eval/...`` in ``reward_head.json``), accuracies
    in %; empty when the checkpoint has no reward head."""
    path = checkpoint / "reward_head.json"
    if not path.exists():
        return {}
    recorded = json.loads(path.read_text()).get("metrics", {})
    metrics = {}
    for key, value in recorded.items():
        if key.startswith("eval/"):
            if "accuracy" in key:
                metrics[f"reward head {key[5:]} (%)"] = round(value * 100, 2)
            else:
                metrics[f"reward head {key[5:]}"] = round(value, 4)
    return metrics


Row = tuple[str, str, str, str, str, str, str]


def _metrics(checkpoint: Path) -> dict[str, float]:
    card = checkpoint / "MODEL_CARD.md"
    card_numbers = card_metrics(card.read_text()) if card.exists() else {}
    return card_numbers | reward_head_metrics(checkpoint)


def compare(shipped: Path, recipe: Path, replicates: Path | None = None) -> list[Row]:
    """Rows (checkpoint, metric, shipped, recipe, difference, seed-to-seed difference, verdict) for
    every shipped card; the seed-to-seed column is "-" where ``replicates`` has no second run."""
    rows: list[Row] = []
    for card in sorted(shipped.glob("*/MODEL_CARD.md")):
        name = card.parent.name
        ours = _metrics(card.parent)
        if not (recipe / name / "MODEL_CARD.md").exists():
            rows.append((name, "-", "-", "-", "-", "-", "not yet (the recipe has not written this card)"))
            continue
        theirs = _metrics(recipe / name)
        # _metrics is empty for a checkpoint with no second run.
        again = _metrics(replicates / name) if replicates is not None else {}
        for metric, value in ours.items():
            if metric not in theirs:
                rows.append((name, metric, f"{value:g}", "-", "-", "-", "missing from the recipe's card"))
                continue
            diff = theirs[metric] - value
            seeds = f"{again[metric] - theirs[metric]:+.3g}" if metric in again else "-"
            allowed, relative = tolerance(metric)
            off = abs(diff) / max(abs(value), 1e-12) if relative else abs(diff)
            verdict = "within noise" if off <= allowed else "OUTSIDE"
            bound = f"{allowed:.0%}" if relative else f"{allowed:g}"
            rows.append(
                (
                    name,
                    metric,
                    f"{value:g}",
                    f"{theirs[metric]:g}",
                    f"{diff:+.3g}",
                    seeds,
                    f"{verdict} (±{bound})",
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, required=True, help="the recipe's --ship-to folder")
    parser.add_argument("--shipped", type=Path, default=REPO / "checkpoints")
    parser.add_argument(
        "--replicates", type=Path, help="folder of second recipe runs (other --seed), named like checkpoints"
    )
    args = parser.parse_args(argv)
    if not args.recipe.is_dir():
        parser.error(f"--recipe {args.recipe} is not a folder: run `worldfm recipe fetch64 --out DIR` first")
    if args.replicates is not None and not args.replicates.is_dir():
        parser.error(f"--replicates {args.replicates} is not a folder")
    rows = compare(args.shipped, args.recipe, args.replicates)
    header = ("checkpoint", "metric", "shipped", "recipe", "recipe - shipped", "seed 1 - seed 0", "verdict")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    checked = [r for r in rows if r[3] != "-"]
    outside = [r for r in checked if r[6].startswith("OUTSIDE")]
    waiting = sorted({r[0] for r in rows if r[6].startswith("not yet")})
    print(
        f"\n{len(checked)} numbers compared, {len(outside)} outside their tolerance; "
        f"{len(waiting)} checkpoint(s) not reproduced yet" + (f": {', '.join(waiting)}" if waiting else "")
    )
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())

"""Do the recipe's checkpoints reproduce the shipped model cards? One table, shipped next to rerun.

    worldfm recipe fetch64 --out runs/recipe                       # about 11 h on 2 CPU cores, resumable
    python benchmarks/recipe_reproduction.py --recipe runs/recipe/checkpoints [--shipped checkpoints]
        [--replicates DIR [DIR ...]]

For every shipped checkpoint with a ``MODEL_CARD.md``, the headline table of its card
(``training.model_card.card_metrics``) is compared number by number with the card the recipe
wrote for its own copy. A world model shipped with a reward head (``reward_head/``, from
``worldfm train reward``) also has the head's held-out metrics compared (accuracies as %).

A number is *within noise* when the recipe's value differs from the shipped one by no more than
its tolerance, the larger of

- a floor: 0.5 dB for a PSNR or a gain in dB, 0.02 for SSIM, 3 points for an accuracy in % (one or
  two of the 96 held-out clips), 15 % (relative) for anything else (latent MSE); and
- twice the measured run-to-run spread: the standard deviation of the difference between two
  trainings of the same command, sqrt(2) x the sample standard deviation over the recipe's runs of
  that checkpoint (for two runs, simply their difference). The shipped checkpoint is one training
  and the recipe's another, so their difference has that spread if nothing but the random draw
  (seed, batches, noise) separates them.

The runs: the recipe's own, and each ``--replicates DIR`` holding a rerun under the checkpoint's
name (a folder or a link), trained by the same command with another ``--seed`` and evaluated with
``--card``. A folder with only a ``reward_head/`` is a rerun of the reward head alone. Without
replicates every tolerance is its floor.

Verdicts outside the tolerance say whether the recipe came out better or worse (higher PSNR, SSIM,
accuracy, correlation or gain; lower MSE). Baselines in the same table (copy-last, bilinear,
majority class) are recomputed by the recipe's evaluation too, so they show how much of a
difference comes from the data rather than the model. A checkpoint the recipe has not reached yet
gets one "not yet" row; the script exits 1 if any number is outside its tolerance.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from training.model_card import card_metrics
from worldmodel import hub
from worldmodel.heads import REWARD_HEAD_DIR
from worldmodel.shipped import SHIPPED_CHECKPOINTS

REPO = Path(__file__).resolve().parents[1]


def tolerance(metric: str) -> tuple[float, bool]:
    """The floor of the allowed difference for ``metric`` and whether it is relative."""
    name = metric.lower()
    if "ssim" in name:
        return 0.02, False
    if "psnr" in name or "(db)" in name:
        return 0.5, False
    if "accuracy" in name:
        return 3.0, False
    return 0.15, True


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is the better model (an error is better lower)."""
    return "mse" not in metric.lower()


def difference_spread(runs: list[float]) -> float | None:
    """The standard deviation of the difference between two runs, estimated from ``runs`` (values of
    one metric from trainings that differ only by seed): sqrt(2) x their sample standard deviation;
    None from fewer than two runs."""
    if len(runs) < 2:
        return None
    return math.sqrt(2) * statistics.stdev(runs)


def reward_head_metrics(checkpoint: Path) -> dict[str, float]:
    """The held-out metrics a reward head recorded (``eval/...`` in its ``reward_head/`` checkpoint,
    or the shipped heads' older ``reward_head.json``), accuracies in %; empty when the checkpoint
    has no reward head."""
    path = checkpoint / REWARD_HEAD_DIR
    if not hub.is_checkpoint(path):
        return {}
    recorded = hub.read_config(path).get("metrics", {})
    metrics = {}
    for key, value in recorded.items():
        if key.startswith("eval/"):
            if "accuracy" in key:
                metrics[f"reward head {key[5:]} (%)"] = round(value * 100, 2)
            else:
                metrics[f"reward head {key[5:]}"] = round(value, 4)
    return metrics


Row = tuple[str, str, str, str, str, str, str, str]

HEADER = (
    "checkpoint",
    "metric",
    "shipped",
    "recipe",
    "recipe - shipped",
    "recipe runs",
    "run-to-run spread",
    "verdict",
)


def _metrics(checkpoint: Path) -> dict[str, float]:
    card = checkpoint / "MODEL_CARD.md"
    card_numbers = card_metrics(card.read_text()) if card.exists() else {}
    return card_numbers | reward_head_metrics(checkpoint)


def verdict(metric: str, shipped: float, recipe: float, spread: float | None) -> str:
    """The verdict on one number: within noise, or outside and whether the recipe came out better or
    worse; the tolerance is the larger of the metric's floor and 2 x ``spread``."""
    floor, relative = tolerance(metric)
    allowed = floor * abs(shipped) if relative else floor
    if spread is not None:
        allowed = max(allowed, 2 * spread)
    diff = recipe - shipped
    bound = f"±{allowed:.3g}"
    if abs(diff) <= allowed:
        return f"within noise ({bound})"
    better = (diff > 0) == higher_is_better(metric)
    return f"OUTSIDE, recipe {'better' if better else 'worse'} ({bound})"


def compare(shipped: Path, recipe: Path, replicates: list[Path] | tuple[Path, ...] = ()) -> list[Row]:
    """Rows (checkpoint, metric, shipped, recipe, difference, recipe runs, run-to-run spread,
    verdict) for every shipped card; the spread is "-" where fewer than two recipe runs have the
    number."""
    rows: list[Row] = []
    for card in sorted(shipped.glob("*/MODEL_CARD.md")):
        name = card.parent.name
        ours = _metrics(card.parent)
        if not (recipe / name / "MODEL_CARD.md").exists():
            rows.append(
                (name, "-", "-", "-", "-", "-", "-", "not yet (the recipe has not written this card)")
            )
            continue
        theirs = _metrics(recipe / name)
        # _metrics is empty for a checkpoint a replicate folder lacks.
        others = [_metrics(folder / name) for folder in replicates]
        for metric, value in ours.items():
            if metric not in theirs:
                rows.append(
                    (name, metric, f"{value:g}", "-", "-", "-", "-", "missing from the recipe's card")
                )
                continue
            runs = [theirs[metric]] + [other[metric] for other in others if metric in other]
            spread = difference_spread(runs)
            rows.append(
                (
                    name,
                    metric,
                    f"{value:g}",
                    f"{theirs[metric]:g}",
                    f"{theirs[metric] - value:+.3g}",
                    str(len(runs)),
                    "-" if spread is None else f"{spread:.3g}",
                    verdict(metric, value, theirs[metric], spread),
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, required=True, help="the recipe's --ship-to folder")
    parser.add_argument("--shipped", type=Path, default=SHIPPED_CHECKPOINTS)
    parser.add_argument(
        "--replicates",
        type=Path,
        nargs="+",
        default=[],
        help="folders of recipe reruns with other --seed values, each named like its checkpoint",
    )
    args = parser.parse_args(argv)
    if not args.recipe.is_dir():
        parser.error(f"--recipe {args.recipe} is not a folder: run `worldfm recipe fetch64 --out DIR` first")
    for folder in args.replicates:
        if not folder.is_dir():
            parser.error(f"--replicates {folder} is not a folder")
    rows = compare(args.shipped, args.recipe, args.replicates)
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" for _ in HEADER) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    checked = [r for r in rows if r[3] != "-"]
    outside = [r for r in checked if r[7].startswith("OUTSIDE")]
    worse = [r for r in outside if "worse" in r[7]]
    waiting = sorted({r[0] for r in rows if r[7].startswith("not yet")})
    print(
        f"\n{len(checked)} numbers compared, {len(outside)} outside their tolerance "
        f"({len(worse)} worse than shipped, {len(outside) - len(worse)} better); "
        f"{len(waiting)} checkpoint(s) not reproduced yet" + (f": {', '.join(waiting)}" if waiting else "")
    )
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())

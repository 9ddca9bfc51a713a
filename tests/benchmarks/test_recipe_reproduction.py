"""The recipe-reproduction table reads model cards' headline tables and judges each number."""

import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks.recipe_reproduction import compare, difference_spread, main
from training.model_card import card_metrics

CARD = """# orbit-camera-dit

## Held-out evaluation

`worldfm eval wfm ...`

| 32 rollouts of 8 frames, 4 sampler steps, fp32 | world model | copy last frame |
|---|---:|---:|
| PSNR (dB) | {psnr} | 19.65 |
| SSIM | 0.6097 | 0.5600 |
| gain from the camera input (dB) | +1.81 | |
| front view PSNR (dB): model / without trajectory | 17.79 / 16.75 | 15.10 |

| another table | 1 |
|---|---:|
| ignored | 2 |

## Reproduce
"""


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "MODEL_CARD.md").write_text(text)


def test_card_metrics_reads_the_first_held_out_table_cell_by_cell() -> None:
    metrics = card_metrics(CARD.format(psnr="22.10"))
    assert metrics["PSNR (dB) [world model]"] == 22.10
    assert metrics["PSNR (dB) [copy last frame]"] == 19.65
    assert metrics["gain from the camera input (dB) [world model]"] == 1.81
    assert metrics["front view PSNR (dB): model / without trajectory [world model 2]"] == 16.75
    assert not any("ignored" in key for key in metrics)
    assert card_metrics("# a card without an evaluation\n") == {}


def test_numbers_beyond_their_tolerance_and_missing_cards_are_reported(tmp_path: Path, capsys) -> None:
    shipped, recipe = tmp_path / "shipped", tmp_path / "recipe"
    write(shipped, "orbit-camera-dit", CARD.format(psnr="22.10"))
    write(shipped, "driving-wm-dit", CARD.format(psnr="16.27"))
    write(recipe, "orbit-camera-dit", CARD.format(psnr="21.50"))
    rows = {(r[0], r[1]): r for r in compare(shipped, recipe)}
    assert rows[("orbit-camera-dit", "PSNR (dB) [world model]")][7] == "OUTSIDE, recipe worse (±0.5)"
    assert rows[("orbit-camera-dit", "SSIM [world model]")][7].startswith("within noise")
    assert rows[("driving-wm-dit", "-")][7].startswith("not yet")
    assert main(["--recipe", str(recipe), "--shipped", str(shipped)]) == 1
    write(recipe, "driving-wm-dit", CARD.format(psnr="16.60"))
    assert main(["--recipe", str(recipe), "--shipped", str(shipped)]) == 1  # orbit is still 0.6 dB off
    (recipe / "orbit-camera-dit" / "MODEL_CARD.md").write_text(CARD.format(psnr="22.30"))
    assert main(["--recipe", str(recipe), "--shipped", str(shipped)]) == 0
    assert "0 outside their tolerance" in capsys.readouterr().out


def test_a_reward_head_is_compared_too_and_missing_until_the_recipe_trains_it(tmp_path: Path) -> None:
    shipped, recipe = tmp_path / "shipped", tmp_path / "recipe"
    write(shipped, "fetchpush-wm-dit", CARD.format(psnr="19.64"))
    write(recipe, "fetchpush-wm-dit", CARD.format(psnr="19.87"))
    head = {"eval/success_accuracy": 0.848, "eval/progress_corr": 0.61, "losses/reward": 0.1}
    (shipped / "fetchpush-wm-dit" / "reward_head.json").write_text(json.dumps({"metrics": head}))
    rows = {r[1]: r for r in compare(shipped, recipe)}
    assert rows["reward head success_accuracy (%)"][7] == "missing from the recipe's card"
    assert not any("losses" in metric for metric in rows)  # training losses are not held-out numbers
    head = {"eval/success_accuracy": 0.80, "eval/progress_corr": 0.60}
    # The recipe's head is a hub checkpoint in reward_head/; the shipped one above is in the old layout.
    (recipe / "fetchpush-wm-dit" / "reward_head").mkdir()
    payload = {"format": "worldfm-checkpoint", "format_version": 1, "kind": "head", "metrics": head}
    (recipe / "fetchpush-wm-dit" / "reward_head" / "config.json").write_text(json.dumps(payload))
    rows = {r[1]: r for r in compare(shipped, recipe)}
    assert rows["reward head success_accuracy (%)"][2:5] == ("84.8", "80", "-4.8")
    assert rows["reward head success_accuracy (%)"][7] == "OUTSIDE, recipe worse (±3)"
    assert rows["reward head progress_corr"][7] == "within noise (±0.0915)"  # 15 % of 0.61


def test_difference_spread_is_the_standard_deviation_of_a_difference_of_two_runs() -> None:
    assert difference_spread([21.5]) is None
    assert math.isclose(difference_spread([21.5, 21.9]), 0.4)  # two runs: their difference
    runs = [83.86, 85.87, 84.95]
    assert math.isclose(difference_spread(runs), math.sqrt(2) * statistics.stdev(runs))


def test_reruns_with_other_seeds_widen_the_tolerance_to_twice_the_measured_spread(
    tmp_path: Path, capsys
) -> None:
    shipped, recipe = tmp_path / "shipped", tmp_path / "recipe"
    seed1, seed2 = tmp_path / "seed1", tmp_path / "seed2"
    write(shipped, "orbit-camera-dit", CARD.format(psnr="22.10"))
    write(recipe, "orbit-camera-dit", CARD.format(psnr="21.50"))
    write(seed1, "orbit-camera-dit", CARD.format(psnr="21.90"))
    rows = {r[1]: r for r in compare(shipped, recipe, [seed1])}
    # 0.6 dB off, but two recipe runs differ by 0.4 dB: the tolerance is 2 x 0.4
    assert rows["PSNR (dB) [world model]"][4:] == ("-0.6", "2", "0.4", "within noise (±0.8)")
    assert rows["PSNR (dB) [copy last frame]"][5:] == ("2", "0", "within noise (±0.5)")  # the floor
    assert {r[6] for r in compare(shipped, recipe)} == {"-"}  # no reruns given
    write(seed2, "orbit-camera-dit", CARD.format(psnr="21.70"))
    rows = {r[1]: r for r in compare(shipped, recipe, [seed1, seed2])}
    spread = math.sqrt(2) * statistics.stdev([21.50, 21.90, 21.70])
    assert rows["PSNR (dB) [world model]"][5:] == (
        "3",
        f"{spread:.3g}",
        f"OUTSIDE, recipe worse (±{2 * spread:.3g})",
    )
    args = ["--recipe", str(recipe), "--shipped", str(shipped), "--replicates", str(seed1)]
    assert main(args) == 0
    assert main(args + [str(seed2)]) == 1
    out = capsys.readouterr().out
    assert "| recipe runs | run-to-run spread |" in out and "(1 worse than shipped, 0 better)" in out


def test_a_rerun_of_the_reward_head_alone_counts_only_for_the_heads_numbers(tmp_path: Path, capsys) -> None:
    shipped, recipe, rerun = tmp_path / "shipped", tmp_path / "recipe", tmp_path / "rerun"
    write(shipped, "fetchpush-wm-dit", CARD.format(psnr="19.64"))
    write(recipe, "fetchpush-wm-dit", CARD.format(psnr="19.87"))
    (rerun / "fetchpush-wm-dit").mkdir(parents=True)
    for folder, accuracy in ((shipped, 0.90), (recipe, 0.84), (rerun, 0.87)):
        head = {"metrics": {"eval/success_accuracy": accuracy}}
        (folder / "fetchpush-wm-dit" / "reward_head.json").write_text(json.dumps(head))
    rows = {r[1]: r for r in compare(shipped, recipe, [rerun])}
    assert rows["PSNR (dB) [world model]"][5] == "1"
    assert rows["reward head success_accuracy (%)"][5:] == ("2", "3", "within noise (±6)")
    with pytest.raises(SystemExit, match="2"):
        main(["--recipe", str(recipe), "--shipped", str(shipped), "--replicates", str(rerun / "missing")])
    assert "--replicates" in capsys.readouterr().err

"""The recipe-reproduction table reads model cards' headline tables and judges each number."""

import json
from pathlib import Path

from benchmarks.recipe_reproduction import compare, main
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
    assert rows[("orbit-camera-dit", "PSNR (dB) [world model]")][6].startswith("OUTSIDE")
    assert rows[("orbit-camera-dit", "SSIM [world model]")][6].startswith("within noise")
    assert rows[("driving-wm-dit", "-")][6].startswith("not yet")
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
    assert rows["reward head success_accuracy (%)"][6] == "missing from the recipe's card"
    assert not any("losses" in metric for metric in rows)  # training losses are not held-out numbers
    head = {"eval/success_accuracy": 0.80, "eval/progress_corr": 0.60}
    (recipe / "fetchpush-wm-dit" / "reward_head.json").write_text(json.dumps({"metrics": head}))
    rows = {r[1]: r for r in compare(shipped, recipe)}
    assert rows["reward head success_accuracy (%)"][2:5] == ("84.8", "80", "-4.8")
    assert rows["reward head success_accuracy (%)"][6] == "OUTSIDE (±3)"
    assert rows["reward head progress_corr"][6] == "within noise (±15%)"


def test_a_second_recipe_run_shows_the_seed_to_seed_difference(tmp_path: Path, capsys) -> None:
    shipped, recipe, replicates = tmp_path / "shipped", tmp_path / "recipe", tmp_path / "replicates"
    write(shipped, "orbit-camera-dit", CARD.format(psnr="22.10"))
    write(recipe, "orbit-camera-dit", CARD.format(psnr="21.50"))
    write(replicates, "orbit-camera-dit", CARD.format(psnr="21.90"))
    rows = {r[1]: r for r in compare(shipped, recipe, replicates)}
    assert rows["PSNR (dB) [world model]"][4:] == ("-0.6", "+0.4", "OUTSIDE (±0.5)")
    assert rows["PSNR (dB) [copy last frame]"][5] == "+0"
    assert {r[5] for r in compare(shipped, recipe)} == {"-"}  # no second run given
    assert main(["--recipe", str(recipe), "--shipped", str(shipped), "--replicates", str(replicates)]) == 1
    assert "| seed 1 - seed 0 |" in capsys.readouterr().out

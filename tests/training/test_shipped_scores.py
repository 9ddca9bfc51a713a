"""The shipped checkpoints score today what they scored before the architecture step.

Each case runs the evaluation its ``MODEL_CARD.md`` names (``worldfm eval ...``), at small
settings on small freshly simulated data, and compares every number of the printed table with
the value the code gave before the refactor (pinned below, measured on AMD EPYC, fp32). A refactor
that changes what a model is fed (conditioning, latent scaling, sampler defaults, metrics) moves
these by far more than the last printed digit.
"""

import os
import re

import pytest

from app.cli import main
from worldmodel.shipped import SHIPPED_CHECKPOINTS

os.environ.setdefault("MUJOCO_GL", "egl")

# Source → (episodes, frames): enough episodes that the held-out split has clips.
DATA = {"fetch": (12, 10), "orbit": (20, 16), "driving": (12, 24)}

# (checkpoint, data, extra eval arguments) → {row label: pinned values, as printed}.
CASES = {
    ("fetchpush-wm-dit", "fetch", ("--horizon", "4")): {
        "PSNR (dB)": [26.87, 17.30],
        "SSIM": [0.9460, 0.7877],
        "latent MSE": [0.0212, 0.1649],
        "PSNR with shuffled actions (dB)": [19.18],
        # Pinned with the three-way table (own, another episode's, none; copy last frame).
        "actions": [26.87, 19.18, 19.64, 17.30],
    },
    ("fetchpush-wm-ar", "fetch", ("--horizon", "4")): {
        "PSNR (dB)": [21.25, 17.30],
        "SSIM": [0.8714, 0.7877],
        "latent MSE": [0.1203, 0.2297],
        "PSNR with shuffled actions (dB)": [20.39],
        "actions": [21.25, 20.39, 18.03, 17.30],
    },
    ("driving-wm-dit", "driving", ("--horizon", "4")): {
        "SSIM": [0.7322, 0.7687],
        "latent MSE": [0.0376, 0.1015],
        "PSNR without trajectory input (dB; the same model, trajectory dropped)": [21.32],
        "front view PSNR (dB): model / without trajectory": [22.91, 22.99, 22.10],
        "ego trajectory": [21.28, 21.20, 21.32, 17.54],
        "ego trajectory, front view": [22.91, 22.93, 22.99, 22.10],
    },
    ("orbit-camera-dit", "orbit", ("--horizon", "2", "--frame-stride", "4")): {
        "PSNR (dB)": [23.04, 38.47],
        "SSIM": [0.6951, 0.8566],
        "PSNR without camera input (dB; the same model, camera dropped)": [22.34],
        "camera poses": [23.04, 20.20, 22.34, 38.47],
    },
    # Its headline is now with each clip's own caption (before the three-way table: none).
    ("fetch-t2w-dit", "fetch", ("--horizon", "4")): {
        "PSNR (dB)": [18.33, 17.30],
        "caption": [18.33, 18.33, 18.33, 17.30],
    },
}
TOKENIZER = ("tokenizer-cv4x8x8-fetch64", {"PSNR (dB)": [23.12, 18.27], "SSIM": [0.8776, 0.6533]})


def table(text: str) -> dict[str, list[float]]:
    """The numbers of each row of the printed markdown tables, by row label."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and not cells[0].startswith("-"):
            rows[cells[0]] = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", " ".join(cells[1:]))]
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pinned")
    for source, (episodes, frames) in DATA.items():
        args = ["simulate", source, "--episodes", str(episodes), "--frames", str(frames)]
        assert main([*args, "--size", "64", "--seed", "7", "--out", str(root / source)]) == 0
    return {source: root / source for source in DATA}


def shipped(name: str) -> str:
    path = SHIPPED_CHECKPOINTS / name
    if not (path / "config.json").is_file():
        pytest.skip(f"no shipped {name}")
    return str(path)


@pytest.mark.parametrize("case", list(CASES), ids=[c[0] for c in CASES])
def test_shipped_world_model_scores_what_it_scored_before(case, data, capsys) -> None:
    name, source, extra = case
    args = ["eval", "wfm", "--ckpt", shipped(name), "--data", str(data[source]), "--clips", "2"]
    assert main([*args, "--steps", "1", "--precision", "fp32", "--seed", "0", *extra]) == 0
    rows = table(capsys.readouterr().out)
    for label, pinned in CASES[case].items():
        assert rows.get(label) == pytest.approx(pinned, abs=0.011), label


def test_shipped_tokenizer_scores_what_it_scored_before(data, capsys) -> None:
    name, pinned_rows = TOKENIZER
    args = ["eval", "tokenizer", "--ckpt", shipped(name), "--data", str(data["fetch"]), "--clips", "2"]
    assert main(args) == 0
    rows = table(capsys.readouterr().out)
    for label, pinned in pinned_rows.items():
        assert rows.get(label) == pytest.approx(pinned, abs=0.011), label

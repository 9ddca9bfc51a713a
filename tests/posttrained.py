"""Tiny post-trained world models, built once per test session (the ``posttrained`` fixture).

From orbit and driving shards rendered at 32 px: an image tokenizer, a base DiT, a camera model
(Plücker rays, one context frame), a driving model (left | front | right canvas, ego trajectory)
and a LoRA fine-tune of the camera model. A few training steps each: the models run, not draw.
"""

from pathlib import Path

from app.cli import main

# Seeds whose 6 episodes put at least one clip in the 10 % held-out split.
ORBIT_SEED, DRIVING_SEED = 4, 6
COMMON = ["--steps", "3", "--batch-size", "2", "--eval-every", "3", "--save-every", "3", "--log-every", "1"]
COMMON += ["--warmup", "1"]


def build_posttrained(root: Path) -> dict[str, Path]:
    """Build the models under ``root``; returns their folders (and the shards) by name."""
    orbit, driving = root / "orbit", root / "driving"
    for source, out, seed in (("orbit", orbit, ORBIT_SEED), ("driving", driving, DRIVING_SEED)):
        args = ["simulate", source, "--episodes", "6", "--size", "32", "--frames", "8", "--seed", str(seed)]
        assert main([*args, "--out", str(out)]) == 0
    tok, base = root / "tok", root / "base"
    assert main(["train", "tokenizer", "--config", "CI8x8-tiny", "--data", str(orbit), str(driving)]
                + ["--out", str(tok), "--size", "32", *COMMON]) == 0  # fmt: skip
    assert main(["train", "diffusion", "--tokenizer", str(tok), "--data", str(orbit), "--out", str(base)]
                + ["--dit", "DiT-tiny", "--size", "32", *COMMON]) == 0  # fmt: skip
    camera, drive, lora = root / "camera", root / "drive", root / "lora"
    assert main(["train", "posttrain", "--task", "camera", "--from", str(base), "--data", str(orbit)]
                + ["--context-frames", "1", "--out", str(camera), *COMMON]) == 0  # fmt: skip
    assert main(["train", "posttrain", "--task", "driving", "--from", str(base), "--data", str(driving)]
                + ["--out", str(drive), *COMMON]) == 0  # fmt: skip
    # Fine-tuning on "own" shards: only --from and --data, LoRA merged on export.
    assert main(["train", "posttrain", "--from", str(camera), "--data", str(orbit), "--lora-rank", "2"]
                + ["--out", str(lora), *COMMON]) == 0  # fmt: skip
    return {
        "orbit": orbit,
        "driving": driving,
        "tok": tok,
        "base": base,
        "camera": camera,
        "drive": drive,
        "lora": lora,
    }

"""The fetch64 recipe: every shipped checkpoint from the Fetch / orbit / driving simulators at 64 px.

The full commands are written once, here; ``--smoke`` runs the same commands with the sizes in
``app.recipe.steps.SMOKE``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from app.recipe.steps import Step, done_check, flag_value, reseed, ship_step, shrink
from worldmodel.shipped import SHIPPED_CHECKPOINTS as DEFAULT_CHECKPOINTS

# --- the fetch64 recipe -----------------------------------------------------------------------

# The curation classifiers (checkpoints/*-mlp/MODEL_CARD.md), kept here in one place: the labelled
# clips they train on (`worldfm simulate raw --labelled-clips`), then each one's training command.
LABELLED_CLIPS = {
    "clips-train128": "--episodes 480 --seed 1 --size 128 --frames 48",
}
CLASSIFIERS = {
    "text-overlay": "--task text-overlay --data {data}/clips-train128 --out {ship}/text-overlay-mlp "
    "--embedder {embedder} --hidden 64 --steps 1500 --lr 0.003 --heldout-fraction 0.2 --seed 0",
    "category": "--task category --data {data}/clips-train128 --out {ship}/category-mlp "
    "--embedder {embedder} --hidden 64 --steps 1500 --lr 0.003 --heldout-fraction 0.2 --seed 0",
}

# `worldfm train tokenizer ...` of each run, in order.
FETCH64_TOKENIZERS = [
    "--config CI8x8-small --data {data}/fetch64 --out {runs}/ci8x8-fetch64 "
    "--steps 10000 --batch-size 16 --lr 2e-3 --warmup 200 --ema 0.999 "
    "--eval-every 1000 --save-every 500 --log-every 100",
    # A second, lower-lr schedule from those weights: +0.3 dB held-out.
    "--config CI8x8-small --data {data}/fetch64 --out {runs}/ci8x8-fetch64-ft "
    "--init-from {runs}/ci8x8-fetch64 --steps 4000 --batch-size 16 --lr 6e-4 --warmup 100 --ema 0.999 "
    "--eval-every 1000 --save-every 500 --log-every 100",
    # Then the decoder alone (the latents, and the world models trained on them, stay valid):
    # L1, then pixel MSE, PSNR's own loss.
    "--config CI8x8-small --data {data}/fetch64 --out {runs}/ci8x8-fetch64-dec "
    "--init-from {runs}/ci8x8-fetch64-ft --freeze-encoder --steps 4000 --batch-size 16 --lr 6e-4 "
    "--warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
    "--config CI8x8-small --data {data}/fetch64 --out {runs}/ci8x8-fetch64-mse "
    "--init-from {runs}/ci8x8-fetch64-dec --freeze-encoder --l1 0 --mse 1 --steps 3000 --batch-size 16 "
    "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
    "--config CV4x8x8-small --data {data}/fetch64 --out {runs}/cv4x8x8-fetch64 "
    "--steps 1200 --batch-size 8 --lr 2e-3 --warmup 100 --ema 0.999 "
    "--eval-every 400 --save-every 200 --log-every 50",
    "--config DV4x8x8-small --data {data}/fetch64 --out {runs}/dv4x8x8-fetch64 "
    "--steps 1200 --batch-size 8 --lr 2e-3 --warmup 100 --ema 0.999 "
    "--eval-every 400 --save-every 200 --log-every 50",
    # Second schedules from those weights (stage 2, DIS flow, from 70% of each).
    "--config CV4x8x8-small --data {data}/fetch64 --out {runs}/cv4x8x8-fetch64-ft "
    "--init-from {runs}/cv4x8x8-fetch64 --steps 2000 --batch-size 8 --lr 1e-3 --warmup 100 --ema 0.999 "
    "--eval-every 400 --save-every 100 --log-every 50",
    "--config DV4x8x8-small --data {data}/fetch64 --out {runs}/dv4x8x8-fetch64-ft "
    "--init-from {runs}/dv4x8x8-fetch64 --steps 2400 --batch-size 8 --lr 1e-3 --warmup 100 --ema 0.999 "
    "--eval-every 400 --save-every 100 --log-every 50",
    # The discrete image tokenizer of the autoregressive world model, from the CI8x8 weights.
    "--config DI8x8-small --data {data}/fetch64 --out {runs}/di8x8-fetch64 "
    "--init-from {runs}/ci8x8-fetch64-mse --steps 4000 --batch-size 16 --lr 1e-3 --warmup 200 --ema 0.999 "
    "--eval-every 1000 --save-every 250 --log-every 50",
]
# shipped tokenizer -> the run it is copied from
SHIPPED_TOKENIZERS = {
    "ci8x8-fetch64": "ci8x8-fetch64-mse",
    "cv4x8x8-fetch64": "cv4x8x8-fetch64-ft",
    "dv4x8x8-fetch64": "dv4x8x8-fetch64-ft",
    "di8x8-fetch64": "di8x8-fetch64",
}

WFM_COMMON = (
    "--tokenizer {ship}/tokenizer-ci8x8-fetch64 --data {data}/fetch64 --dit DiT-XS --context-frames 2 "
    "--batch-size 16 --lr 1e-3 --warmup 200 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50"
)
WORLD_MODELS = {
    "fetchpush-wm-dit": f"train posttrain --task robot {WFM_COMMON} --residual --p-mean 0 --sigma-max 20 "
    "--steps 7000 --out {runs}/fetchpush-wm-dit",
    "fetch-t2w-dit": f"train diffusion --text {WFM_COMMON} --p-mean -0.4 --steps 4000 "
    "--out {runs}/fetch-t2w-dit",
}
# The reward / success / progress head reads the block's place from one frame: it learns that from
# the coverage mix's 2,000 episodes that touch and move the block (held-out progress correlation
# 0.71 on fetch64's 240 episodes alone), and from the model's own rollouts of them.
FETCH_COVERAGE = (
    "simulate fetch --policy-mix coverage --episodes 2000 --size 64 --seed 700 --out {data}/fetch-cov"
)
REWARD = (
    "train reward --wfm {ship}/fetchpush-wm-dit --data {data}/fetch64 {data}/fetch-cov --arch conv "
    "--hidden 64 --steps 3000 --progress --imagined-horizon 16 --imagined-stride 24"
)
# The autoregressive model: a GPT over the discrete image tokenizer's FSQ tokens.
AR = (
    "train ar --tokenizer {ship}/tokenizer-di8x8-fetch64 --data {data}/fetch64 --out {runs}/fetchpush-wm-ar "
    "--gpt GPT-XS --actions --context-frames 2 --steps 3500 --batch-size 16 --lr 1e-3 --warmup 200 "
    "--ema 0.999 --eval-every 700 --save-every 250 --log-every 50"
)

# Camera control and driving: post-trained from the robot model on a CI8x8 tokenizer fine-tuned on
# all three scenes (the Fetch one does not transfer: 7.7 dB on orbit scenes).
MIXED_DATA = "--data {data}/orbit64 {data}/driving64 {data}/fetch64"
MIXED_TOKENIZERS = {
    "ci8x8-mixed64": f"--config CI8x8-small {MIXED_DATA} --out {{runs}}/ci8x8-mixed64 "
    "--init-from {ship}/tokenizer-ci8x8-fetch64 --steps 1500 --batch-size 16 --lr 1e-3 --warmup 100 "
    "--ema 0.999 --mse 1 --eval-every 500 --save-every 250 --log-every 50",
    "ci8x8-mixed64-dec": f"--config CI8x8-small {MIXED_DATA} --out {{runs}}/ci8x8-mixed64-dec "
    "--init-from {runs}/ci8x8-mixed64 --freeze-encoder --l1 0 --mse 1 --steps 2500 --batch-size 16 "
    "--lr 5e-4 --warmup 100 --ema 0.999 --eval-every 500 --save-every 250 --log-every 50",
}
POSTTRAIN_COMMON = (
    "--from {ship}/fetchpush-wm-dit --tokenizer {ship}/tokenizer-ci8x8-mixed64 {data_flags} "
    "--out {runs}/{run} --steps 3000 --batch-size 16 --lr 5e-4 --warmup 100 --ema 0.999 --eval-every 500 "
    "--save-every 250 --log-every 50 --p-mean -1.2 --p-std 1.2 --sigma-max 80"
)
# shipped name -> its training runs in order (run, `worldfm` command) and its evaluation flags.
POSTTRAINED = {
    "orbit-camera-dit": (
        [
            (
                "orbit-camera-wm",
                "train posttrain --task camera "
                + POSTTRAIN_COMMON.format(
                    data_flags="--data {data}/orbit64 --context-frames 1 --max-frame-stride 4",
                    run="orbit-camera-wm",
                    ship="{ship}",
                    runs="{runs}",
                ),
            ),
            (
                "orbit-camera-wm-ft",
                "train posttrain --task camera --from {runs}/orbit-camera-wm --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft --steps 5000 --batch-size 16 --lr 4e-4 "
                "--warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
            (
                "orbit-camera-wm-ft2",
                "train posttrain --task camera --from {runs}/orbit-camera-wm-ft --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft2 --steps 5000 --batch-size 16 "
                "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
            (
                "orbit-camera-wm-ft3",
                "train posttrain --task camera --from {runs}/orbit-camera-wm-ft2 --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft3 --steps 6000 --batch-size 16 "
                "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
            (
                "orbit-camera-wm-ft4",
                "train posttrain --task camera --from {runs}/orbit-camera-wm-ft3 --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft4 --steps 6000 --batch-size 16 "
                "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
            # Batch 32 from here: the camera gain had flattened at batch 16 (+0.07 dB in the fourth
            # schedule), twice the batch gave +0.12 in the next.
            (
                "orbit-camera-wm-ft5",
                "train posttrain --task camera --from {runs}/orbit-camera-wm-ft4 --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft5 --steps 5000 --batch-size 32 "
                "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
            (
                "orbit-camera-wm-ft6",
                "train posttrain --task camera --from {runs}/orbit-camera-wm-ft5 --data {data}/orbit64 "
                "--max-frame-stride 4 --out {runs}/orbit-camera-wm-ft6 --steps 5000 --batch-size 32 "
                "--lr 3e-4 --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50",
            ),
        ],
        "--clips 32 --horizon 8 --frame-stride 4 --steps 1 4",
    ),
    "driving-wm-dit": (
        [
            (
                "driving-wm",
                "train posttrain --task driving "
                + POSTTRAIN_COMMON.format(
                    data_flags="--data {data}/driving64", run="driving-wm", ship="{ship}", runs="{runs}"
                ),
            )
        ],
        "--clips 16 --horizon 16 --steps 1 4",
    ),
}


def fetch64_steps(out: Path, ship_to: Path, *, smoke: bool = False, seed: int | None = None) -> list[Step]:
    """Every shipped checkpoint from the Fetch / orbit / driving simulators at 64 px.

    ``seed`` replaces every training's ``--seed`` (see ``reseed``); None keeps the shipped ones.

    Order: simulate -> tokenizers -> curation (its classifiers embed clips with the shipped
    CI8x8 tokenizer) -> world models -> post-training; each shipped model is copied from its
    run, then evaluated into its model card.
    """
    paths = {"data": str(out / "data"), "runs": str(out / "runs"), "ship": str(ship_to)}
    # `--embedder tokenizer` is the repo's shipped CI8x8; elsewhere name this recipe's own.
    if ship_to.resolve() == DEFAULT_CHECKPOINTS.resolve():
        paths["embedder"] = "tokenizer"
    else:
        paths["embedder"] = f"tokenizer:{ship_to / 'tokenizer-ci8x8-fetch64'}"
    runs = out / "runs"
    steps: list[Step] = []

    def cli(
        name: str, group: str, template: str, /, smoke_overrides: dict | None = None, **fields: str
    ) -> None:
        # Split first, then fill in: a path with spaces stays one argument.
        argv = tuple(token.format(**paths, **fields) for token in shlex.split(template))
        if smoke:
            argv = shrink(argv, smoke_overrides)
        argv = reseed(argv, seed)
        done, output = done_check(argv)
        steps.append(Step(name, group, argv=argv, done=done, output=output))

    def shipped(name: str, group: str, run: str, dest: str, **kwargs: str | bool | None) -> None:
        steps.append(ship_step(name, group, runs / run, ship_to / dest, **kwargs))

    # At smoke size, seeds whose first 4 episodes hold a held-out clip (the trainers evaluate on it).
    sim = "simulate {} --episodes {} --size 64 --seed {} --out {{data}}/{}"
    cli(
        "simulate-fetch64", "data", sim.format("fetch", 240, 100, "fetch64") + " --overwrite", {"--seed": "6"}
    )
    cli("simulate-orbit64", "data", sim.format("orbit", 300, 200, "orbit64"), {"--seed": "4"})
    cli("simulate-driving64", "data", sim.format("driving", 120, 300, "driving64"), {"--seed": "6"})
    cli("simulate-fetch-cov", "data", FETCH_COVERAGE + " --overwrite")

    for args in FETCH64_TOKENIZERS:
        cli(
            f"tokenizer-{Path(flag_value(shlex.split(args), '--out')).name}",
            "tokenizers",
            f"train tokenizer {args}",
        )
    for name, run in SHIPPED_TOKENIZERS.items():
        shipped(f"ship-tokenizer-{name}", "tokenizers", run, f"tokenizer-{name}")
        card = "eval tokenizer --ckpt {ship}/tokenizer-{name} --data {data}/fetch64 --clips 64 --card"
        cli(f"card-tokenizer-{name}", "tokenizers", card, name=name)

    for name, args in LABELLED_CLIPS.items():
        command = f"simulate raw --labelled-clips {args} --out {{data}}/{name}"
        cli(f"simulate-{name}", "curation", command, {"--episodes": "16", "--frames": "8"})
    for task, args in CLASSIFIERS.items():
        cli(f"classifier-{task}", "curation", f"train classifier {args}")
    raw_smoke = {"--episodes": "2", "--min-seconds": "3", "--max-seconds": "4", "--long-fraction": "0"}
    cli("simulate-raw", "curation", "simulate raw --episodes 8 --seed 400 --out {data}/raw", raw_smoke)
    curate = (
        "curate {data}/raw --out {data}/curated "
        "--stages split,transcode,motion,quality,embed,text_overlay,category,caption,dedup "
        "--embedder {embedder} --text-overlay-model {ship}/text-overlay-mlp "
        "--category-model {ship}/category-mlp --no-progress"
    )
    # At smoke size the classifiers have trained 2 steps: keep the clips they call text.
    cli("curate-raw", "curation", curate, {"--min-clip-seconds": "0.5", "--text-threshold": "1"})

    for run, command in WORLD_MODELS.items():
        cli(f"wfm-{run}", "world-models", command)
    for run in WORLD_MODELS:
        shipped(f"ship-{run}", "world-models", run, run, tokenizer="tokenizer-ci8x8-fetch64", half=True)
    for run in WORLD_MODELS:
        card = "eval wfm --ckpt {ship}/{run} --clips 32 --horizon 16 --steps 1 4 --precision fp32 bf16 --card"
        cli(f"card-{run}", "world-models", card, run=run)
    cli("reward-fetchpush-wm-dit", "world-models", REWARD)
    cli("ar-fetchpush-wm-ar", "world-models", AR)
    shipped(
        "ship-fetchpush-wm-ar",
        "world-models",
        "fetchpush-wm-ar",
        "fetchpush-wm-ar",
        tokenizer="tokenizer-di8x8-fetch64",
        # by folder name it would take fetchpush-wm-dit's worldfm/FetchPush-WM-v0
        env_id="worldfm/FetchPush-WM-AR-v0",
    )
    card = "eval wfm --ckpt {ship}/fetchpush-wm-ar --clips 32 --horizon 16 --precision fp32 bf16 --card"
    cli("card-fetchpush-wm-ar", "world-models", card)

    for run, args in MIXED_TOKENIZERS.items():
        cli(f"tokenizer-{run}", "posttrain", f"train tokenizer {args}")
    shipped("ship-tokenizer-ci8x8-mixed64", "posttrain", "ci8x8-mixed64-dec", "tokenizer-ci8x8-mixed64")
    card = f"eval tokenizer --ckpt {{ship}}/tokenizer-ci8x8-mixed64 {MIXED_DATA} --clips 64 --card"
    cli("card-tokenizer-ci8x8-mixed64", "posttrain", card)
    for name, (training_runs, eval_flags) in POSTTRAINED.items():
        for run, command in training_runs:
            cli(f"posttrain-{run}", "posttrain", command, run=run)
        shipped(
            f"ship-{name}",
            "posttrain",
            training_runs[-1][0],
            name,
            tokenizer="tokenizer-ci8x8-mixed64",
            half=True,
        )
        cli(f"card-{name}", "posttrain", f"eval wfm --ckpt {{ship}}/{name} {eval_flags} --card", name=name)
    return steps

"""``MODEL_CARD.md`` for a checkpoint: how it was trained and what it scores, from its own files."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from worldmodel import hub
from worldmodel.atomic import atomic_write_bytes


def eval_curve(ckpt: str | Path, metric: str = "eval/psnr") -> list[tuple[int, float]]:
    """(step, value) of ``metric`` from the checkpoint's ``logs/metrics.csv`` (empty if absent)."""
    path = Path(ckpt) / "logs" / "metrics.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [(int(row["step"]), float(row[metric])) for row in csv.DictReader(f) if row.get(metric)]


REPRODUCE = (
    "`worldfm recipe fetch64 --out DIR` regenerates this checkpoint and its card from scratch with every "
    "other shipped one (`--list` shows each step's command; `--out . --ship-to checkpoints` writes them "
    "here); `python benchmarks/recipe_reproduction.py --recipe DIR/checkpoints` compares the cards."
)


def lineage_lines(source: dict | None) -> list[str]:
    """Card lines for a run warm-started from another checkpoint (its steps count towards the total)."""
    if not source:
        return []
    wall = source.get("wall_time_s")
    return [
        f"- started from the weights of `{source['path']}` ({source.get('step')} steps x batch "
        f"{source.get('batch_size')}"
        + (f", {wall / 60:.0f} min" if wall else "")
        + "), with a fresh optimiser and schedule",
        *lineage_lines(source.get("init_from")),
    ]


def loss_line(dataset: dict) -> str:
    """The card's loss line from the run's recorded loss weights (older runs recorded none: L1)."""
    loss = dataset.get("loss")
    if not loss:
        return "- loss: L1 (no perceptual term: no VGG19 weights were given)"
    has_vgg = bool(dataset.get("perceptual_weights"))
    names = {"l1": "L1", "mse": "MSE", "ssim": "1 - SSIM", "perceptual": "VGG19 perceptual"}
    terms = [
        f"{label} x {loss[key]:g}"
        for key, label in names.items()
        if loss.get(key) and (key != "perceptual" or has_vgg)
    ]
    stage2 = [f"flow x {loss['flow']:g}"] if loss.get("flow") else []
    stage2 += [f"Gram x {loss['gram']:g}"] if loss.get("gram") and has_vgg else []
    line = "- loss: " + " + ".join(terms)
    if stage2 and dataset.get("frames", 1) > 1:
        line += f", from step {loss.get('stage2_step')} also " + " + ".join(stage2)
    return line + ("" if has_vgg else " (no VGG19 weights were given: no perceptual or Gram term)")


def tokenizer_card(ckpt: str | Path, result: dict, *, data: list[str], eval_command: str) -> str:
    """Markdown model card of a tokenizer checkpoint from its config and an ``evaluate_tokenizer`` result."""
    payload = hub.read_config(ckpt)
    config, training = payload["config"], payload.get("training", {})
    train_cfg = training.get("config", {})
    dataset = payload.get("dataset", {})
    model = hub.load(ckpt)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    wall = training.get("wall_time_s")
    lines = [
        f"# {Path(ckpt).name}",
        "",
        f"A causal wavelet tokenizer, preset `{config['name']}` ({config['quantizer']}, "
        f"{config['temporal_compression']}x{config['spatial_compression']}x{config['spatial_compression']} "
        f"compression, {model.latent_channels} latent channels, {params:.2f}M parameters).",
        "",
        "## Training",
        "",
        f"- data: {', '.join(dataset.get('data', data))} (held-out fraction "
        f"{dataset.get('heldout_fraction', 0.1)} by key hash, never trained on)",
        f"- windows: {dataset.get('frames')} frames at {dataset.get('size')}x{dataset.get('size')}",
        f"- steps: {training.get('step')} x batch {train_cfg.get('batch_size')}, lr {train_cfg.get('lr')}, "
        f"EMA {train_cfg.get('ema_decay')}, weights saved: {training.get('weights')}",
        f"- wall time: {wall / 60:.0f} min on this machine's 2 CPU cores"
        if wall
        else "- wall time: not recorded",
        *lineage_lines(dataset.get("init_from")),
        *(
            [f"- frozen: {', '.join(dataset['frozen'])} (its latents equal the source's bit for bit)"]
            if dataset.get("frozen")
            else []
        ),
        loss_line(dataset),
        "",
        "## Held-out evaluation",
        "",
        f"`{eval_command}`",
        "",
        "| metric | this tokenizer | bilinear, same number of values |",
        "|---|---:|---:|",
        f"| PSNR (dB) | {result['psnr']:.2f} | {result['bilinear_psnr']:.2f} |",
        f"| SSIM | {result['ssim']:.4f} | {result['bilinear_ssim']:.4f} |",
        "",
        f"{result['clips']} held-out windows of {result['frames']} frames; compression ratio "
        f"{result['compression_ratio']:.1f}x, {result['tokens_per_frame']:.1f} latent positions per frame.",
    ]
    lines += [
        "",
        "## Reproduce",
        "",
        REPRODUCE,
    ]
    curve = eval_curve(ckpt)
    if curve:
        title = "Training curve (PSNR of the trainer's fixed held-out eval batch, dB)"
        rows = [f"| {step} | {value:.2f} |" for step, value in curve]
        lines += _curve_section(title, ("step", "PSNR"), rows)
    return "\n".join(lines) + "\n"


def _network_line(payload: dict, params: float) -> str:
    """What kind of world model a checkpoint holds, for the first line of its card."""
    cfg = payload["config"]
    if payload.get("kind") == "autoregressive":
        gpt = cfg["gpt"]
        return (
            f"An autoregressive world model ({payload.get('model')}, a GPT over FSQ tokens: hidden "
            f"{gpt['hidden']}, depth {gpt['depth']}, {params:.2f}M parameters)"
        )
    dit = cfg["dit"]
    return (
        f"A diffusion world model ({payload.get('model')}, EDM + DiT: hidden {dit['hidden']}, depth "
        f"{dit['depth']}, {params:.2f}M parameters)"
    )


def _sampling(payload: dict, result: dict) -> str:
    if payload.get("kind") == "autoregressive":
        cfg = payload["config"]
        return f"temperature {cfg.get('temperature')}, top-k {cfg.get('top_k')}, top-p {cfg.get('top_p')}"
    return f"{result['steps']} sampler steps"


def conditioning_rows(result: dict) -> list[str]:
    """Table rows of an ``evaluate_wfm`` result's camera / trajectory comparison, per view too."""
    rows = []
    for name in ("camera", "trajectory"):
        if result.get(f"no_{name}_psnr") is None:
            continue
        rows.append(
            f"| PSNR without {name} input (dB; the same model, {name} dropped) "
            f"| {result[f'no_{name}_psnr']:.2f} | |"
        )
        rows.append(f"| gain from the {name} input (dB) | {result[f'{name}_gain_db']:+.2f} | |")
        for view in result_views(result):
            rows.append(
                f"| {view} view PSNR (dB): model / without {name} | {result[f'psnr_{view}']:.2f} / "
                f"{result[f'no_{name}_psnr_{view}']:.2f} | {result[f'copy_last_psnr_{view}']:.2f} |"
            )
    return rows


def result_views(result: dict) -> list[str]:
    """The views of a multi-view ``evaluate_wfm`` result, in canvas order (none for one view)."""
    return [k.removeprefix("psnr_") for k in result if k.startswith("psnr_") and k != "psnr_per_step"]


# How the three-way table names each input of ``WorldModel.inputs``.
INPUT_LABELS = {
    "actions": "actions",
    "trajectory": "ego trajectory",
    "camera": "camera poses",
    "text": "caption",
}


def following_table(result: dict) -> list[str]:
    """Does the model follow what it is told: the table of an ``evaluate_wfm`` result's PSNR with each
    input the clip's own, another held-out episode's and none, beside copying the last frame, then a
    note per caveat (inputs equal across episodes, no learned null). Empty for unconditioned models."""
    inputs = result.get("inputs") or []
    if not inputs:
        return []

    def cell(key: str) -> str:
        return "n/a" if result.get(key) is None else f"{result[key]:.2f}"

    lines = [
        "| PSNR (dB) with the clip's input: | own | another episode's | none | copy last frame |",
        "|---|---:|---:|---:|---:|",
    ]
    notes = []
    for name in inputs:
        label = INPUT_LABELS[name]
        for view in ["", *result_views(result)]:
            suffix = f"_{view}" if view else ""
            cells = (f"psnr{suffix}", f"other_{name}_psnr{suffix}", f"no_{name}_psnr{suffix}")
            lines.append(
                f"| {label}{f', {view} view' if view else ''} | "
                + " | ".join(cell(key) for key in (*cells, f"copy_last_psnr{suffix}"))
                + " |"
            )
        if result.get(f"other_{name}_same"):
            notes.append(
                f"{result[f'other_{name}_same']} of {result['clips']} clips were given another episode's "
                f"{label} equal to their own."
            )
        if result.get(f"no_{name}_psnr") is None:
            notes.append(f"No {label}: n/a, {result[f'no_{name}_why']}.")
    return lines + ["", " ".join(notes)] if notes else lines


def following_section(result: dict, eval_command: str | None = None) -> list[str]:
    """A card's three-way comparison (``following_table``) with its lead-in; ``eval_command`` when it
    was measured by another command than the card's headline table."""
    table = following_table(result)
    if not table:
        return []
    measured = f" (`{eval_command}`)" if eval_command else ""
    return [
        "",
        f"Does it follow its conditioning?{measured} The same rollouts with each input the clip's own, "
        "another held-out episode's (each clip takes the previous clip's) and none (the model's learned "
        "null for that input, which training showed it: dropout, or the GPT's null action of context "
        "frames):",
        "",
        *table,
    ]


def wfm_card(ckpt: str | Path, result: dict, *, eval_command: str, sweep: list[dict] | None = None) -> str:
    """Markdown model card of a world-model checkpoint from its config and an ``evaluate_wfm`` result.

    ``sweep``: results of the same evaluation at other sampler step counts, tabulated below it.
    """
    payload = hub.read_config(ckpt)
    training, info, cfg = payload.get("training", {}), hub.read_info(ckpt), payload["config"]
    train_cfg = training.get("config", {})
    model = hub.load(ckpt)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    wall = training.get("wall_time_s")
    conditioning = ["context frames"]
    if info.action_space is not None:
        conditioning.append(f"{info.action_space.dim}-d actions (one frame per action)")
    if info.text:
        conditioning.append("text (Text2World without context frames)")
    if cfg.get("dit", {}).get("camera_dim"):
        conditioning.append("camera poses (Plücker rays relative to the last context camera)")
    if info.conditioning == "trajectory":
        conditioning.append("the ego trajectory (per-frame ego motion)")
    if info.views:
        conditioning.append(f"views {' | '.join(info.views)} tiled in one canvas")
    size = info.frame_size or ("?", "?")
    lines = [
        f"# {Path(ckpt).name}",
        "",
        f"{_network_line(payload, params)} on the latents of `{info.tokenizer}`, "
        f"{size[0]}x{size[1]} frames; conditioned on {', '.join(conditioning)}; "
        f"{info.context_frames} context frames.",
        "",
        "## Training",
        "",
        f"- data: {', '.join(info.data)} (held-out fraction {info.heldout_fraction} "
        "by key hash, never trained on)",
        f"- steps: {training.get('step')} x batch {train_cfg.get('batch_size')}, lr {train_cfg.get('lr')}, "
        f"EMA {train_cfg.get('ema_decay')}, weights saved: {training.get('weights')}",
        f"- wall time: {wall / 60:.0f} min on this machine's 2 CPU cores"
        if wall
        else "- wall time: not recorded",
        *lineage_lines(info.init_from),
    ]
    diffusion = payload.get("kind") != "autoregressive"
    if diffusion:
        lines.append(
            f"- noise levels: ln(sigma) ~ N({cfg.get('p_mean')}, {cfg.get('p_std')}^2); "
            f"sampling from sigma_max {cfg.get('sigma_max')}"
        )
    if payload.get("storage_dtype"):
        lines.append(f"- weights stored as {payload['storage_dtype']} (loaded into float32)")
    if info.residual_scale:
        scale = info.residual_scale
        lines.append(f"- predicts the change from the last context latent, scaled by {scale:.2f}")
    if info.lora:
        lora = info.lora
        lines.append(
            f"- LoRA rank {lora['rank']} (alpha {lora['alpha']}) on the DiT blocks, merged into these weights"
        )
    lines += [
        "",
        "## Held-out evaluation",
        "",
        f"`{eval_command}`",
        "",
        f"| {result['clips']} rollouts of {result['horizon']} frames"
        + (f" (every {result['frame_stride']}th source frame)" if result.get("frame_stride", 1) > 1 else "")
        + f", {_sampling(payload, result)}, "
        f"{result.get('precision', 'fp32')} | world model | copy last frame |",
        "|---|---:|---:|",
        f"| PSNR (dB) | {result['psnr']:.2f} | {result['copy_last_psnr']:.2f} |",
        f"| SSIM | {result['ssim']:.4f} | {result['copy_last_ssim']:.4f} |",
        f"| latent MSE (re-encoded frames) | {result['latent_mse']:.4f} "
        f"| {result['copy_last_latent_mse']:.4f} |",
    ]
    if "shuffled_actions_psnr" in result:
        lines.append(f"| PSNR with shuffled actions (dB) | {result['shuffled_actions_psnr']:.2f} | |")
    lines += conditioning_rows(result)
    lines += following_section(result)
    lines += [
        "",
        f"Tokenizer reconstruction ceiling: {result['tokenizer_psnr']:.2f} dB. Per-step PSNR, model: "
        f"{result['psnr_per_step']}; copy last frame: {result['copy_last_psnr_per_step']}.",
    ]
    lines += [
        "",
        "## Reproduce",
        "",
        REPRODUCE,
    ]
    if sweep and len(sweep) > 1:
        lines += [
            "",
            "## Sampler steps per frame and precision" if diffusion else "## Precision",
            "",
            "| steps | precision | PSNR (dB) | SSIM | shuffled-actions PSNR (dB) |",
        ]
        lines.append("|---:|---|---:|---:|---:|")
        for r in sweep:
            shuffled = f"{r['shuffled_actions_psnr']:.2f}" if "shuffled_actions_psnr" in r else "-"
            precision = r.get("precision", "fp32")
            steps = r["steps"] if diffusion else "-"
            lines.append(f"| {steps} | {precision} | {r['psnr']:.2f} | {r['ssim']:.4f} | {shuffled} |")
        cost = info.bf16_cost_db
        lines.append(
            "\nThe checkpoint's defaults: "
            + (f"`world_model.sampler_steps` {result['steps']}" if diffusion else "no sampler steps")
            + (
                f"; `world_model.bf16_cost_db` {cost:g} (fp32 minus bf16 PSNR). Precision is chosen per "
                "machine at load time: bf16 on CUDA and on CPUs with AVX512-BF16 / AMX when the cost is "
                "under 0.1 dB, fp32 elsewhere (bf16 is 20-100x slower on AVX2-only CPUs)."
                if cost is not None
                else "."
            )
        )
    curve = eval_curve(ckpt, "eval/latent_mse")
    if curve:
        copy = dict(eval_curve(ckpt, "eval/copy_last_latent_mse"))
        title = "Training curve (one-step latent MSE on the trainer's fixed held-out batch)"
        rows = [f"| {step} | {value:.4f} | {copy.get(step, float('nan')):.4f} |" for step, value in curve]
        lines += _curve_section(title, ("step", "model", "copy last"), rows)
    return "\n".join(lines) + "\n"


def _curve_section(title: str, columns: tuple[str, ...], rows: list[str]) -> list[str]:
    """A card's training-curve section: its title, then a table of numbers (``rows``) by step."""
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns), *rows]


def write_card(ckpt: str | Path, text: str) -> Path:
    path = Path(ckpt) / "MODEL_CARD.md"
    atomic_write_bytes(path, text.encode())
    return path


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def card_metrics(text: str) -> dict[str, float]:
    """The headline numbers of a model card: the first table under its ``## Held-out ...`` heading,
    as ``{"<row> [<column>]": value}`` (a cell holding ``a / b`` gives ``[<column> 1]`` and ``2``).

    What ``benchmarks/recipe_reproduction.py`` compares between two cards of the same model.
    """
    metrics: dict[str, float] = {}
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## Held-out")), None)
    if start is None:
        return metrics
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table or line.startswith("## "):
            break
    if len(table) < 3:
        return metrics
    header, rows = table[0], table[2:]
    for row in rows:
        for column, cell in zip(header[1:], row[1:], strict=False):
            parts = [p for p in cell.split(" / ") if _NUMBER.search(p)]
            for i, part in enumerate(parts):
                suffix = f" {i + 1}" if len(parts) > 1 else ""
                metrics[f"{row[0]} [{column}{suffix}]"] = float(_NUMBER.search(part).group())
    return metrics

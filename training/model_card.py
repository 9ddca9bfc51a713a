"""``MODEL_CARD.md`` for a checkpoint: how it was trained and what it scores, from its own files."""

from __future__ import annotations

import csv
from pathlib import Path

from curation.atomic import atomic_write_bytes
from worldmodel import hub


def eval_curve(ckpt: str | Path, metric: str = "eval/psnr") -> list[tuple[int, float]]:
    """(step, value) of ``metric`` from the checkpoint's ``logs/metrics.csv`` (empty if absent)."""
    path = Path(ckpt) / "logs" / "metrics.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [(int(row["step"]), float(row[metric])) for row in csv.DictReader(f) if row.get(metric)]


def lineage_lines(source: dict | None) -> list[str]:
    """Card lines for a run warm-started from another checkpoint (its steps count towards the total)."""
    if not source:
        return []
    wall = source.get("wall_time_s")
    return [
        f"- started from the weights of `{source['path']}` ({source.get('step')} steps x batch "
        f"{source.get('batch_size')}"
        + (f", {wall / 60:.0f} min" if wall else "")
        + "), with a fresh optimiser and schedule"
    ]


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
        "- loss: L1 (no perceptual term: no VGG19 weights were given)",
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
        "`make tokenizer-checkpoints` records the data (`worldfm simulate fetch --episodes 240 --size 64 "
        "--seed 100 --out data/fetch64`), runs the `worldfm train tokenizer` commands in the Makefile "
        "and writes this card.",
    ]
    curve = eval_curve(ckpt)
    if curve:
        lines += [
            "",
            "## Training curve (PSNR of the trainer's fixed held-out eval batch, dB)",
            "",
            "| step | PSNR |",
            "|---:|---:|",
        ]
        lines += [f"| {step} | {value:.2f} |" for step, value in curve]
    return "\n".join(lines) + "\n"


def write_card(ckpt: str | Path, text: str) -> Path:
    path = Path(ckpt) / "MODEL_CARD.md"
    atomic_write_bytes(path, text.encode())
    return path

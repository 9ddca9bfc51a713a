"""Autoregressive vs diffusion world model: time per generated frame and rollout fidelity, one table.

    python benchmarks/ar_vs_diffusion.py [--ckpts checkpoints/fetchpush-wm-dit checkpoints/fetchpush-wm-ar]
        [--clips 32] [--horizon 16] [--device cpu|cuda]

Each checkpoint is timed on ``WorldModel.predict`` at batch 1 and batch 8 (4 frames from 2
context frames, after a warm-up call; its default sampler settings and precision), then scored by
``training.eval_wfm.evaluate_wfm`` on the same held-out Fetch clips: PSNR of 16-frame rollouts
against copying the last context frame, and with the actions shuffled between clips.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from training.eval_wfm import evaluate_wfm
from worldmodel import hub
from worldmodel.world import WorldModel


def seconds_per_frame(world: WorldModel, batch: int, frames: int = 4) -> float:
    """Wall seconds per predicted frame of one batched ``predict`` call (best of two)."""
    h, w = world.frame_size
    context = np.zeros((batch, world.context_frames, h, w, 3), np.uint8)
    actions = np.zeros((batch, frames, world.action_dim), np.float32) if world.action_dim else None
    warm = None if actions is None else actions[:, :1]
    world.predict(context, actions=warm, horizon=1, seed=0)  # warm-up: kernels, allocator
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        world.predict(context, actions=actions, horizon=frames, seed=0)
        if world.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / frames


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ckpts", nargs="+", default=["checkpoints/fetchpush-wm-dit", "checkpoints/fetchpush-wm-ar"]
    )
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--horizon", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    rows = []
    for ckpt in args.ckpts:
        world = WorldModel.from_pretrained(ckpt, device=args.device)
        kind = hub.read_config(ckpt)["kind"]
        params = sum(p.numel() for p in world.wfm.parameters()) / 1e6
        timing = {b: seconds_per_frame(world, b) for b in (1, 8)}
        r = evaluate_wfm(ckpt, clips=args.clips, horizon=args.horizon)
        rows.append((ckpt, kind, params, world.precision, timing, r))
    print(
        f"| {args.clips} held-out Fetch clips, {args.horizon} frames | kind | params | precision "
        "| s/frame batch 1 | s/frame batch 8 | PSNR dB | copy-last dB | shuffled actions dB | SSIM |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for ckpt, kind, params, precision, timing, r in rows:
        shuffled = f"{r['shuffled_actions_psnr']:.2f}" if "shuffled_actions_psnr" in r else "-"
        print(
            f"| {ckpt} | {kind} | {params:.1f}M | {precision} | {timing[1]:.3f} | {timing[8]:.3f} "
            f"| {r['psnr']:.2f} | {r['copy_last_psnr']:.2f} | {shuffled} | {r['ssim']:.3f} |"
        )


if __name__ == "__main__":
    main()

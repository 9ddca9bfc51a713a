"""KV-cache speed: generating 4 latent frames of 8x8 tokens with vs without the cache, one table.

    python benchmarks/ar_cache_speed.py [--model GPT-XS] [--batches 1 8] [--device cpu|cuda]

Baseline: the same model without a cache, re-running the whole sequence at every step (what
nanoGPT's ``generate`` does); with the preallocated ``KVCache`` each step runs one token. Both
runs draw with the same seed, and the table says whether they drew the same tokens.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel, get_config

FRAMES, SIDE = 4, 8  # 4 latent frames x 64 tokens


def seconds(
    model: AutoregressiveWorldModel, batch: int, use_cache: bool, device: str, repeats: int
) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` generations of (batch, FRAMES, SIDE, SIDE) tokens, and a sample."""
    shape = (batch, len(model.config.gpt.levels), FRAMES, SIDE, SIDE)
    best, sample = float("inf"), None
    for _ in range(repeats):
        generator = torch.Generator(device=device).manual_seed(0)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        sample = model.sample(shape, generator=generator, use_cache=use_cache)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, sample


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="GPT-XS", help="GPT preset")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    gpt = get_config(args.model, max_frames=FRAMES, max_height=SIDE, max_width=SIDE)
    model = AutoregressiveWorldModel(ARConfig(gpt=gpt)).to(args.device).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    tokens = FRAMES * SIDE * SIDE
    seconds(model, 1, True, args.device, 1)  # warm-up: kernels, allocator
    name = (
        torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    load = f", load average {os.getloadavg()[0]:.1f}" if args.device == "cpu" else ""
    print(f"{args.model} ({params:.2f}M parameters), {FRAMES} frames x {SIDE * SIDE} tokens, {name}{load}\n")
    print("| batch | no cache (s) | KV cache (s) | speed-up | cached tokens/s | same tokens |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for batch in args.batches:
        slow, a = seconds(model, batch, False, args.device, args.repeats)
        fast, b = seconds(model, batch, True, args.device, args.repeats)
        same = "yes" if torch.equal(a, b) else "no"
        rate = batch * tokens / fast
        print(f"| {batch} | {slow:.3f} | {fast:.3f} | {slow / fast:.1f}x | {rate:,.0f} | {same} |")


if __name__ == "__main__":
    main()

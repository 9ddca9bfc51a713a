"""Seam error of spatially tiled tokenizer coding against whole-frame coding, one table.

    python benchmarks/tokenizer_tiling.py --ckpt checkpoints/tokenizer-ci8x8-fetch64 \\
        --data data/fetch64 --size 128 --tiles 64:16 64:32 96:32

Frames are held-out clips upsampled to ``--size`` (larger than the tokenizer was trained on, the
case tiling exists for); each row encodes and decodes them in tiles of T pixels overlapping by O.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from training.data import ClipDataset
from worldmodel import hub
from worldmodel.metrics import psnr
from worldmodel.tokenizer.tiling import decode_tiled, encode_tiled


def clip_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of all clips together (one MSE over the batch), both clamped to [-1, 1]."""
    return float(psnr(a.clamp(-1, 1), b.clamp(-1, 1), pooled=True))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", default="checkpoints/tokenizer-ci8x8-fetch64")
    parser.add_argument("--data", nargs="+", default=["data/fetch64"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--tiles", nargs="+", default=["64:16", "64:32", "96:32"])
    args = parser.parse_args()
    model = hub.load(args.ckpt, expect_kind="tokenizer")
    frames = model.temporal_factor + 1 if not model.config.is_image else 1
    data = ClipDataset(args.data, frames=frames, size=64, arrays=(), split="heldout")
    video = data.sample_batch(args.clips, np.random.default_rng(0))["video"]  # (B, 3, T, 64, 64)
    b, c, t = video.shape[:3]
    x = F.interpolate(video.flatten(1, 2), size=(args.size, args.size), mode="bilinear").view(
        b, c, t, args.size, args.size
    )
    whole = model.decode(model.encode(x) if not model.is_discrete else model.encode(x)[0])
    print(
        f"| {args.size}x{args.size} px, {b} held-out clips | PSNR vs input dB "
        "| PSNR vs whole-frame coding dB |"
    )
    print("|---|---:|---:|")
    print(f"| whole frame | {clip_psnr(whole, x):.2f} | - |")
    for spec in args.tiles:
        tile, overlap = (int(v) for v in spec.split(":"))
        s = model.spatial_factor
        rec = decode_tiled(
            model, encode_tiled(model, x, tile=tile, overlap=overlap), tile=tile // s, overlap=overlap // s
        )
        print(
            f"| tiles {tile} px, overlap {overlap} | {clip_psnr(rec, x):.2f} | {clip_psnr(rec, whole):.2f} |"
        )


if __name__ == "__main__":
    main()

"""Tokenizer quality: held-out PSNR / SSIM of tokenizer checkpoints vs bilinear resizing, one table.

    python benchmarks/tokenizer_quality.py --data data/fetch64 [--ckpts checkpoints/tokenizer-*] [--clips 64]

The baseline resizes each frame down to as many values as the tokenizer's latent
holds and back up (bilinear), so both sides keep the same number of values.
Held-out clips are the ones each checkpoint's training split never saw.
"""

from __future__ import annotations

import argparse
import glob

from training.eval_tokenizer import evaluate_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--ckpts", nargs="+", default=sorted(glob.glob("checkpoints/tokenizer-*")))
    parser.add_argument("--clips", type=int, default=64)
    args = parser.parse_args()
    print(
        "| checkpoint | frames | compression | PSNR dB | bilinear PSNR dB | gain dB | SSIM | bilinear SSIM |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for ckpt in args.ckpts:
        r = evaluate_tokenizer(ckpt, args.data, clips=args.clips)
        print(
            f"| {ckpt} | {r['frames']} | {r['compression_ratio']:.0f}x | {r['psnr']:.2f} | "
            f"{r['bilinear_psnr']:.2f} | {r['psnr'] - r['bilinear_psnr']:+.2f} | {r['ssim']:.4f} | "
            f"{r['bilinear_ssim']:.4f} |"
        )


if __name__ == "__main__":
    main()

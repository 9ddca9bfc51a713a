"""Tokenizer speed: encode + decode frames/s and peak memory, ours vs CogVideoX's VAE, one table.

    pip install -e '.[bench]'          # diffusers, for the baseline
    python benchmarks/tokenizer_speed.py [--sizes 9x128x128 17x256x256] [--device cpu|cuda]
    python benchmarks/tokenizer_speed.py --streaming [--stream-config CV4x8x8] [--sizes 17x64x64]

Both models are randomly initialised with the same compression (4x8x8, 16 latent
channels) and see the same input. Each measurement runs in a fresh process, so
peak memory (``ru_maxrss`` on CPU, ``max_memory_allocated`` on CUDA) is its own.

``--streaming`` compares our streaming coding (``encode_step`` + ``decode_step``, frame 0 then one
temporal group of new frames per step, as a live camera feeds it) with coding the whole clip at
once: seconds per frame of each, and the largest difference of their latents and frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MODELS = ("worldfm CV4x8x8", "CogVideoX VAE")


def _measure(model_name: str, frames: int, size: int, device: str, dtype: str) -> dict:
    import resource

    import torch

    torch.manual_seed(0)
    if model_name == "worldfm CV4x8x8":
        from worldmodel.tokenizer import CausalVideoTokenizer, get_config

        model = CausalVideoTokenizer(get_config("CV4x8x8"))

        def run(x: torch.Tensor) -> torch.Tensor:
            return model.decode(model.encode(x))
    else:
        from diffusers import AutoencoderKLCogVideoX

        model = AutoencoderKLCogVideoX(latent_channels=16, temporal_compression_ratio=4)

        def run(x: torch.Tensor) -> torch.Tensor:
            return model.decode(model.encode(x).latent_dist.mode()).sample

    torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    model = model.to(device=device, dtype=torch_dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(1, 3, frames, size, size, device=device, dtype=torch_dtype) * 2 - 1
    with torch.no_grad():
        run(x[:, :, :1, :64, :64])  # warm-up: kernels, allocator
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        out = run(x)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    if device == "cuda":
        peak_gib = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    assert out.shape[2:] == x.shape[2:], (out.shape, x.shape)
    return {
        "params_m": params / 1e6,
        "seconds": elapsed,
        "fps": frames / elapsed,
        "peak_gib": peak_gib,
        "rss_before_gib": rss_before / 2**20,
    }


def streaming_cost(config: str, frames: int, size: int, device: str = "cpu", repeats: int = 3) -> dict:
    """Per-frame seconds of streamed coding (one temporal group per step) vs whole-clip coding.

    Both encode then decode the same random (1, 3, frames, size, size) clip with one randomly
    initialised ``config`` tokenizer; each time is the best of ``repeats`` (the machine may be
    shared), the two measured in turns so that load changes touch both alike.
    """
    import torch

    from worldmodel.tokenizer import CausalVideoTokenizer, get_config

    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config(config)).to(device).eval()
    f = model.temporal_factor
    x = torch.rand(1, 3, frames, size, size, device=device) * 2 - 1
    model.check_video(x)
    groups = [(0, 1)] + [(i, i + f) for i in range(1, frames, f)]

    def whole() -> tuple[torch.Tensor, torch.Tensor]:
        z = model.encode(x)
        return z, model.decode(z)

    def streamed() -> tuple[torch.Tensor, torch.Tensor]:
        latents, videos, enc, dec = [], [], None, None
        for start, end in groups:
            z, enc = model.encode_step(x[:, :, start:end], enc)
            video, dec = model.decode_step(z, dec)
            latents.append(z)
            videos.append(video)
        return torch.cat(latents, 2), torch.cat(videos, 2)

    def seconds(fn) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:  # noqa: ANN001
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    with torch.no_grad():
        streamed(), whole()  # warm-up: kernels, allocator
        best_whole = best_stream = float("inf")
        for _ in range(repeats):
            t, (z_whole, v_whole) = seconds(whole)
            best_whole = min(best_whole, t)
            t, (z_stream, v_stream) = seconds(streamed)
            best_stream = min(best_stream, t)
    return {
        "config": config,
        "whole_s_per_frame": best_whole / frames,
        "stream_s_per_frame": best_stream / frames,
        "ratio": best_stream / best_whole,
        "steps": len(groups),
        "threads": torch.get_num_threads(),
        "max_abs_diff_latent": float((z_stream - z_whole).abs().max()),
        "max_abs_diff_video": float((v_stream - v_whole).abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["9x128x128", "17x256x256"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--streaming", action="store_true", help="streamed vs whole-clip coding instead")
    parser.add_argument("--stream-config", default="CV4x8x8", help="tokenizer preset of --streaming")
    parser.add_argument("--_child", nargs=3, metavar=("MODEL", "FRAMES", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        name, frames, size = args._child
        print(json.dumps(_measure(name, int(frames), int(size), args.device, args.dtype)))
        return
    if args.streaming:
        import torch

        threads = f", {torch.get_num_threads()} threads" if args.device == "cpu" else ""
        print(f"device: {args.device} (fp32{threads}), {args.stream_config}, random weights")
        print(
            "| input | streamed s/frame | whole-clip s/frame | ratio | steps | max abs diff latent / video |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for spec in args.sizes:
            frames, height, _ = (int(v) for v in spec.split("x"))
            r = streaming_cost(args.stream_config, frames, height, args.device)
            print(
                f"| {spec} | {r['stream_s_per_frame']:.4f} | {r['whole_s_per_frame']:.4f} | "
                f"{r['ratio']:.2f}x | {r['steps']} | "
                f"{r['max_abs_diff_latent']:.1e} / {r['max_abs_diff_video']:.1e} |"
            )
        return
    rows = []
    for spec in args.sizes:
        frames, height, _ = (int(v) for v in spec.split("x"))
        for name in args.models:
            cmd = [
                sys.executable,
                __file__,
                "--device",
                args.device,
                "--dtype",
                args.dtype,
                "--_child",
                name,
                str(frames),
                str(height),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{name} @ {spec} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append((spec, name, json.loads(proc.stdout.strip().splitlines()[-1])))
    print(f"device: {args.device} ({args.dtype})")
    print("| input | model | params | encode+decode s | frames/s | peak memory GiB | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for spec in args.sizes:
        group = {name: r for s, name, r in rows if s == spec}
        base = group.get("CogVideoX VAE")
        for name, r in group.items():
            speedup = f"{base['seconds'] / r['seconds']:.1f}x" if base else "-"
            print(
                f"| {spec} | {name} | {r['params_m']:.0f}M | {r['seconds']:.2f} | {r['fps']:.2f} | "
                f"{r['peak_gib']:.2f} | {speedup} |"
            )


if __name__ == "__main__":
    main()

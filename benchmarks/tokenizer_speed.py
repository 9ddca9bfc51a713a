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

``--profile`` times one encode + decode of ours per kind of work (each module's own time, its
children's excluded; the Haar wavelet and the causal time padding apart from the convolutions) and
the bytes each kind writes, then the top operators by torch.profiler.
"""

from __future__ import annotations

import argparse
import contextlib
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

    # "bf16-autocast": fp32 weights, convolutions and matmuls in bf16 (ours: the opt-in
    # ``bf16_autocast``, which refuses CPUs without native bf16); "bf16": everything cast to bf16.
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    model = model.to(device=device, dtype=torch_dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(1, 3, frames, size, size, device=device, dtype=torch_dtype) * 2 - 1
    if dtype == "bf16-autocast":
        from worldmodel.precision import bf16_autocast

        autocast = bf16_autocast(device)
    else:
        autocast = contextlib.nullcontext()
    with torch.inference_mode(), autocast:
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
        "threads": torch.get_num_threads(),
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


def _kind(module, name: str) -> str | None:  # noqa: ANN001
    """The kind of work a module's own time is booked under (None: not timed by itself)."""
    from torch import nn

    from worldmodel.tokenizer import layers3d, networks

    if isinstance(module, nn.Conv3d):
        kernel = tuple(module.kernel_size)
        if kernel == (1, 1, 1):
            return "conv 1x1x1 (skip)"
        if kernel[0] == 1:
            return f"conv 1x{kernel[1]}x{kernel[2]} (spatial)"
        return f"conv {kernel[0]}x1x1 (temporal)" if kernel[1:] == (1, 1) else f"conv {kernel}"
    if isinstance(module, layers3d.CausalConv3d):
        if module.temporal_only:  # run as 2D convs by the module itself, its padding included
            return "conv 3x1x1 (temporal) + its causal padding"
        return "conv 1x1x1 (skip)" if module.pointwise else "spatial conv wrapper (no time padding)"
    kinds = {
        layers3d.FrameGroupNorm: "group norm",
        layers3d.SpatioTemporalAttention: "attention (besides its norms)",
        nn.Linear: "attention (besides its norms)",
        layers3d.ResBlock3d: "SiLU + residual add",
        layers3d.Upsample3d: "up-sampling (its convs included)",
        layers3d.Downsample3d: "down-sampling copies",
        networks.Encoder: "wavelet + output SiLU",
        networks.Decoder: "wavelet + output SiLU",
    }
    return next((k for cls, k in kinds.items() if type(module) is cls), None)


def profile(config: str, frames: int, size: int, device: str = "cpu", top: int = 8) -> dict:
    """One encode + decode of a random (1, 3, frames, size, size) clip with a random ``config``
    tokenizer: seconds and bytes written per kind of work (``_kind``), and torch.profiler's top
    operators by their own time. Bytes are those of each module's output (what it writes)."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from worldmodel.tokenizer import CausalVideoTokenizer, get_config

    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config(config)).to(device).eval()
    x = torch.rand(1, 3, frames, size, size, device=device) * 2 - 1
    seconds: dict[str, float] = {}
    written: dict[str, int] = {}
    stack: list[list[float]] = []  # [start, children's time] of the modules running now

    def pre(module, args) -> None:  # noqa: ANN001
        stack.append([time.perf_counter(), 0.0])

    def post(module, args, out) -> None:  # noqa: ANN001
        if device == "cuda":
            torch.cuda.synchronize()
        start, children = stack.pop()
        total = time.perf_counter() - start
        if stack:
            stack[-1][1] += total
        kind = kinds[module]
        seconds[kind] = seconds.get(kind, 0.0) + total - children
        if isinstance(out, torch.Tensor):
            written[kind] = written.get(kind, 0) + out.numel() * out.element_size()

    kinds = {}
    for name, module in model.named_modules():
        kind = _kind(module, name)
        if kind is not None:
            kinds[module] = kind
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
    with torch.inference_mode():
        model.decode(model.encode(x[:, :, :1, :64, :64]))  # warm-up: kernels, allocator
        seconds.clear()
        written.clear()
        start = time.perf_counter()
        model.decode(model.encode(x))
        total = time.perf_counter() - start
        timed_s, timed_b = dict(seconds), dict(written)  # the profiled pass below books on
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with torch_profile(activities=activities, profile_memory=True) as prof:
            model.decode(model.encode(x))
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    timed_s["other (checks, Python)"] = max(0.0, total - sum(timed_s.values()))
    return {
        "config": config,
        "input": f"{frames}x{size}x{size}",
        "threads": torch.get_num_threads(),
        "total_s": total,
        "kinds": sorted(((k, s, timed_b.get(k, 0) / 2**20) for k, s in timed_s.items()), key=lambda r: -r[1]),
        "ops": [
            (e.key, e.count, e.self_cpu_time_total / 1e6, max(e.self_cpu_memory_usage, 0) / 2**20)
            for e in ops
        ],
    }


def print_profile(r: dict) -> None:
    print(
        f"\n{r['config']} encode+decode {r['input']}: {r['total_s']:.2f} s, {r['threads']} threads "
        "(hooks time each module; torch.profiler the operators)"
    )
    print("| kind of work | s | share | MiB written |")
    print("|---|---:|---:|---:|")
    for kind, s, mib in r["kinds"]:
        print(f"| {kind} | {s:.3f} | {s / r['total_s']:.0%} | {mib:.0f} |")
    print("\n| operator | calls | own s (profiled) | MiB allocated |")
    print("|---|---:|---:|---:|")
    for key, calls, s, mib in r["ops"]:
        print(f"| {key} | {calls} | {s:.3f} | {mib:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["9x128x128", "17x256x256"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        choices=["fp32", "bf16", "bf16-autocast"],
        default="fp32",
        help="bf16-autocast: fp32 weights, bf16 convs and matmuls (CPUs with native bf16 only)",
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--streaming", action="store_true", help="streamed vs whole-clip coding instead")
    parser.add_argument("--stream-config", default="CV4x8x8", help="tokenizer preset of --streaming")
    parser.add_argument(
        "--profile", action="store_true", help="where one encode+decode of ours spends its time and bytes"
    )
    parser.add_argument("--_child", nargs=3, metavar=("MODEL", "FRAMES", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        name, frames, size = args._child
        print(json.dumps(_measure(name, int(frames), int(size), args.device, args.dtype)))
        return
    if args.profile:
        for spec in args.sizes:
            frames, height, _ = (int(v) for v in spec.split("x"))
            print_profile(profile(args.stream_config, frames, height, args.device))
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

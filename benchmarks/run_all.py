"""Every benchmark against its baseline in one table, written to benchmarks/RESULTS.md.

    python benchmarks/run_all.py            # the full settings of every benchmark
    python benchmarks/run_all.py --quick    # smaller settings in a few minutes, marked "quick"

Rows (each from the benchmark script named, through its own functions):

- tokenizer speed: encode + decode frames/s of our CV4x8x8 vs CogVideoX's VAE (``tokenizer_speed.py``)
- tokenizer streaming: per-frame cost of ``encode_step`` + ``decode_step`` vs whole-clip coding, and
  their largest difference (``tokenizer_speed.py --streaming``)
- tokenizer quality: held-out PSNR of the shipped tokenizers vs bilinear resizing (``tokenizer_quality.py``)
- shot F1: our cascade vs PySceneDetect and TransNetV2 as shipped (``shot_detection.py``)
- AR cache: generation with the KV cache vs re-running the sequence (``ar_cache_speed.py``)
- env steps/s: the learned Fetch env vs the Fetch simulator (``env_speed.py``)
- curation: ``worldfm curate`` video-seconds/s vs a decode-only pass (``curate_throughput.py``)
- demo peak memory: ``worldfm demo --offline``, the whole process tree, sampled every 50 ms

A benchmark that fails gets a row saying so and the script exits 1 after writing the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worldmodel.atomic import atomic_write_text
from worldmodel.shipped import SHIPPED_CHECKPOINTS

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
HEADER = ("benchmark", "ours", "baseline", "ours value", "baseline value", "ours vs baseline", "settings")


@dataclass
class Row:
    """One line of the table: a measurement of ours next to the same measurement of a baseline."""

    benchmark: str
    ours: str
    baseline: str
    ours_value: str
    baseline_value: str
    comparison: str
    settings: str

    def cells(self) -> tuple[str, ...]:
        return (
            self.benchmark,
            self.ours,
            self.baseline,
            self.ours_value,
            self.baseline_value,
            self.comparison,
            self.settings,
        )


@dataclass(frozen=True)
class Settings:
    """How big each benchmark runs; ``QUICK`` and ``FULL`` are the two the CLI offers."""

    name: str
    tokenizer_sizes: tuple[str, ...]
    """frames x height x width inputs of the speed benchmark"""
    stream_config: str
    """tokenizer preset (random weights) of the streaming benchmark"""
    stream_size: str
    """frames x height x width clip streamed one temporal group per step"""
    tokenizer_ckpts: tuple[str, ...]
    """tokenizer checkpoints scored for quality"""
    tokenizer_clips: int
    """held-out windows per tokenizer"""
    tokenizer_data: str
    """Fetch shards the tokenizers are scored on; rendered first when missing"""
    tokenizer_data_episodes: int
    shot_videos: int
    """``simulate raw`` videos of the shot and curation benchmarks"""
    shot_data: str
    shot_sets: tuple[str, ...]
    """"clean" and/or "hard negatives" (flashes and whip pans inside shots)"""
    ar_model: str
    ar_batches: tuple[int, ...]
    ar_repeats: int
    env_batches: tuple[int, ...]
    env_sampler_steps: int
    env_steps: int
    curate_splitter: str
    demo_episodes: int


FULL = Settings(
    name="full",
    tokenizer_sizes=("9x128x128", "17x256x256"),
    stream_config="CV4x8x8",
    stream_size="17x128x128",
    tokenizer_ckpts=(
        "checkpoints/tokenizer-ci8x8-fetch64",
        "checkpoints/tokenizer-di8x8-fetch64",
        "checkpoints/tokenizer-cv4x8x8-fetch64",
        "checkpoints/tokenizer-dv4x8x8-fetch64",
    ),
    tokenizer_clips=64,
    tokenizer_data="data/fetch64",
    tokenizer_data_episodes=240,
    shot_videos=12,
    shot_data="data/bench/shots",
    shot_sets=("clean", "hard negatives"),
    ar_model="GPT-XS",
    ar_batches=(1, 8),
    ar_repeats=3,
    env_batches=(1, 16),
    env_sampler_steps=8,
    env_steps=20,
    curate_splitter="cascade",
    demo_episodes=2,
)
QUICK = Settings(
    name="quick",
    tokenizer_sizes=("9x64x64",),
    stream_config="CV4x8x8",
    stream_size="17x64x64",
    tokenizer_ckpts=("checkpoints/tokenizer-ci8x8-fetch64",),
    tokenizer_clips=8,
    tokenizer_data="data/fetch64",
    tokenizer_data_episodes=16,
    shot_videos=2,
    shot_data="data/bench/shots-quick",
    shot_sets=("clean",),
    ar_model="GPT-tiny",
    ar_batches=(1,),
    ar_repeats=1,
    env_batches=(1,),
    env_sampler_steps=4,
    env_steps=4,
    curate_splitter="cascade",
    demo_episodes=1,
)


# -- the benchmarks ---------------------------------------------------------------------------


def tokenizer_speed(s: Settings) -> list[Row]:
    """Each model in a fresh process (``tokenizer_speed.py --_child``), so its peak memory is its own.

    On a CPU with native bf16, ours also runs under the opt-in ``bf16_autocast``, against the same
    fp32 baseline measurement (the baseline is the slow part: it runs once per size)."""
    from worldmodel.precision import bf16_is_fast

    runs = [("worldfm CV4x8x8", "fp32"), ("CogVideoX VAE", "fp32")]
    if bf16_is_fast("cpu")[0]:
        runs.append(("worldfm CV4x8x8", "bf16-autocast"))
    rows = []
    for spec in s.tokenizer_sizes:
        frames, height, _ = (int(v) for v in spec.split("x"))
        measured = {}
        for model, dtype in runs:
            cmd = [sys.executable, str(BENCH / "tokenizer_speed.py"), "--device", "cpu", "--dtype", dtype]
            done = subprocess.run(
                [*cmd, "--_child", model, str(frames), str(height)], capture_output=True, text=True, cwd=REPO
            )
            if done.returncode != 0:
                raise RuntimeError(f"{model} {dtype} @ {spec}: {done.stderr.strip().splitlines()[-1]}")
            measured[model, dtype] = json.loads(done.stdout.strip().splitlines()[-1])
        base = measured["CogVideoX VAE", "fp32"]
        for (model, dtype), ours in measured.items():
            if model == "CogVideoX VAE":
                continue
            name = "CV4x8x8" if dtype == "fp32" else "CV4x8x8 bf16 autocast (opt-in)"
            rows.append(
                Row(
                    "tokenizer speed (encode+decode frames/s; peak GiB)",
                    name,
                    "CogVideoX VAE",
                    f"{ours['fps']:.2f} fps; {ours['peak_gib']:.2f} GiB",
                    f"{base['fps']:.2f} fps; {base['peak_gib']:.2f} GiB",
                    f"{ours['fps'] / base['fps']:.1f}x faster",
                    f"{spec}, CPU {dtype} (baseline fp32), random weights, same 4x8x8 compression, "
                    f"{ours['threads']} threads",
                )
            )
    return rows


def tokenizer_streaming(s: Settings) -> list[Row]:
    import tokenizer_speed as bench

    frames, height, _ = (int(v) for v in s.stream_size.split("x"))
    r = bench.streaming_cost(s.stream_config, frames, height)
    diff = max(r["max_abs_diff_latent"], r["max_abs_diff_video"])
    return [
        Row(
            "streaming coding (encode+decode s per frame, lower is better)",
            "encode_step + decode_step",
            "whole-clip encode + decode",
            f"{r['stream_s_per_frame']:.3f} s",
            f"{r['whole_s_per_frame']:.3f} s",
            f"{r['ratio']:.2f}x the whole-clip cost; max abs diff {diff:.1e}",
            f"{s.stream_config} {s.stream_size}, frame 0 then one latent's frames per step "
            f"({r['steps']} steps), random weights, CPU fp32, {r['threads']} threads",
        )
    ]


def tokenizer_quality(s: Settings) -> list[Row]:
    from training.eval_tokenizer import evaluate_tokenizer

    data = REPO / s.tokenizer_data
    if not (data / "manifest.json").exists():
        _worldfm(
            ["simulate", "fetch", "--episodes", str(s.tokenizer_data_episodes), "--size", "64"]
            + ["--seed", "100", "--out", str(data)]
        )
    rows = []
    for ckpt in s.tokenizer_ckpts:
        r = evaluate_tokenizer(REPO / ckpt, [str(data)], clips=s.tokenizer_clips)
        rows.append(
            Row(
                "tokenizer quality (held-out PSNR dB)",
                Path(ckpt).name,
                "bilinear resize",
                f"{r['psnr']:.2f}",
                f"{r['bilinear_psnr']:.2f}",
                f"{r['psnr'] - r['bilinear_psnr']:+.2f} dB",
                f"{r['compression_ratio']:.0f}x, {r['frames']}-frame windows, {s.tokenizer_clips} clips of "
                f"{s.tokenizer_data}",
            )
        )
    return rows


def shot_f1(s: Settings) -> list[Row]:
    import shot_detection as bench
    import torch

    from curation.splitters import _IsolatedTransNetV2

    torch.set_num_threads(1)
    sets = bench.make_sets(REPO / s.shot_data, s.shot_videos, 23)
    net = _IsolatedTransNetV2()
    rows = []
    for set_name in s.shot_sets:
        by_name = {r["splitter"]: r for r in bench.run_set(sets[set_name], net)}
        ours = by_name["cascade (ours)"]
        for baseline in ("PySceneDetect content", "TransNetV2 raw"):
            base = by_name[baseline]
            rows.append(
                Row(
                    f"shot F1 ({set_name})",
                    "cascade",
                    baseline,
                    f"{ours['f1']:.3f} ({ours['fps']:.0f} frames/s)",
                    f"{base['f1']:.3f} ({base['fps']:.0f} frames/s)",
                    f"{ours['f1'] - base['f1']:+.3f} F1",
                    f"{s.shot_videos} simulate-raw videos, {ours['frames']} frames, 1 thread",
                )
            )
    return rows


def ar_cache(s: Settings) -> list[Row]:
    import ar_cache_speed as bench
    import torch

    from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel, get_config

    torch.manual_seed(0)
    gpt = get_config(s.ar_model, max_frames=bench.FRAMES, max_height=bench.SIDE, max_width=bench.SIDE)
    model = AutoregressiveWorldModel(ARConfig(gpt=gpt)).eval()
    bench.seconds(model, 1, True, "cpu", 1)  # warm-up, as the benchmark does
    rows = []
    for batch in s.ar_batches:
        slow, a = bench.seconds(model, batch, False, "cpu", s.ar_repeats)
        fast, b = bench.seconds(model, batch, True, "cpu", s.ar_repeats)
        rows.append(
            Row(
                "AR generation (s, lower is better)",
                "KV cache",
                "no cache",
                f"{fast:.3f} s",
                f"{slow:.3f} s",
                f"{slow / fast:.1f}x faster" + ("" if torch.equal(a, b) else ", tokens differ"),
                f"{s.ar_model}, batch {batch}, {bench.FRAMES}x{bench.SIDE * bench.SIDE} tokens, CPU",
            )
        )
    return rows


def env_speed(s: Settings) -> list[Row]:
    import env_speed as bench

    from worldmodel.world import WorldModel

    world = WorldModel.from_pretrained(SHIPPED_CHECKPOINTS / "fetchpush-wm-dit", precision="fp32")
    size = world.frame_size[0]
    fetch = bench.fetch_rate("push", size, max(s.env_steps, 20))
    rows = []
    for batch in s.env_batches:
        rate = bench.learned_env_rate(world, batch, s.env_sampler_steps, s.env_steps)
        rows.append(
            Row(
                "env steps/s",
                "fetchpush-wm-dit (learned)",
                "Fetch simulator (step + render)",
                f"{rate:.1f}",
                f"{fetch:.1f}",
                f"{rate / fetch:.2f}x",
                f"{size}x{size} px, batch {batch}, {s.env_sampler_steps} sampler steps, fp32 CPU",
            )
        )
    return rows


def curation(s: Settings) -> list[Row]:
    import curate_throughput as bench
    import ray

    from curation.local_ray import init_local_ray
    from curation.pipeline import CurateConfig, curate, find_inputs
    from envs.sim.raw import write_raw_footage

    inputs = REPO / s.shot_data / "clean"
    if not (inputs / "labels.json").exists():
        write_raw_footage(
            inputs, s.shot_videos, seed=23, size=64, min_seconds=20, max_seconds=40, long_fraction=0
        )
    cpus = 2
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    init_local_ray(cpus)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        paths = [str(p) for p in find_inputs(str(inputs))[0]]
        bench.decode_pass(paths[:1])  # warm the workers up, as the benchmark does
        decode_s, video_s = bench.decode_pass(paths)
        with tempfile.TemporaryDirectory(prefix="curate-bench-") as out:
            start = time.perf_counter()
            manifest = curate(str(inputs), out, CurateConfig(splitter=s.curate_splitter)).manifest
            wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    rate, bound = video_s / wall, video_s / decode_s
    return [
        Row(
            "curation (video-s/s)",
            f"worldfm curate ({s.curate_splitter})",
            "decode-only pass (bound)",
            f"{rate:.1f} ({manifest['stats']['clips'] / wall:.2f} clips/s)",
            f"{bound:.1f}",
            f"{rate / bound:.0%} of the bound",
            f"{len(paths)} videos, {video_s:.0f} s of 64 px video, Ray on {cpus} CPUs",
        )
    ]


def demo_memory(s: Settings) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as out:
        args = ["demo", "--offline", "--out", out, "--episodes", str(s.demo_episodes)]
        peak, seconds = peak_rss_of([str(Path(sys.executable).with_name("worldfm")), *args])
    return [
        Row(
            "demo peak memory (GiB, lower is better)",
            "worldfm demo --offline",
            "-",
            f"{peak / 2**30:.2f} GiB",
            "-",
            "-",
            f"{s.demo_episodes} episode(s), whole process tree, {seconds:.0f} s",
        )
    ]


def peak_rss_of(cmd: list[str], *, interval: float = 0.05) -> tuple[int, float]:
    """``(peak bytes, seconds)``: the most resident memory ``cmd``'s process tree held at once."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):  # a child that just exited
                    total += p.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total)
        time.sleep(interval)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}: {stderr.strip()[-300:]}")
    return peak, time.perf_counter() - start


def _worldfm(args: list[str]) -> None:
    cmd = [str(Path(sys.executable).with_name("worldfm")), *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}: {done.stderr.strip()[-300:]}")


BENCHMARKS: dict[str, Callable[[Settings], list[Row]]] = {
    "tokenizer_speed": tokenizer_speed,
    "tokenizer_streaming": tokenizer_streaming,
    "tokenizer_quality": tokenizer_quality,
    "shot_f1": shot_f1,
    "ar_cache": ar_cache,
    "env_speed": env_speed,
    "curation": curation,
    "demo_memory": demo_memory,
}


# -- the table --------------------------------------------------------------------------------


def markdown_table(rows: list[Row]) -> str:
    """The rows as one GitHub-markdown table (``|`` inside a cell is escaped)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
    return "\n".join(lines)


def results_markdown(rows: list[Row], *, settings: str, command: str, date: str, machine: str) -> str:
    """The whole RESULTS.md: what ran, where, when, and the table."""
    quick = settings == "quick"
    title = "# Benchmark results" + (
        " (QUICK settings: smaller inputs, not the reported figures)" if quick else ""
    )
    return (
        f"{title}\n\n"
        f"- date: {date}\n- command: `{command}`\n- settings: {settings}\n- machine: {machine}\n\n"
        f"{markdown_table(rows)}\n"
    )


def machine() -> str:
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    load = os.getloadavg()[0]
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (load {load:.1f}){gpu}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller settings, a few minutes, marked quick")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run these benchmarks (default: all)"
    )
    parser.add_argument("--out", default=str(RESULTS), help="the markdown file written")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    command = "python benchmarks/run_all.py" + ("".join(f" {a}" for a in (argv or sys.argv[1:])))
    rows: list[Row] = []
    failed = False
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        print(f"running {name} ({settings.name}) ...", file=sys.stderr, flush=True)
        try:
            new = BENCHMARKS[name](settings)
        except Exception as e:  # one broken benchmark must not lose the others' rows
            traceback.print_exc()
            failed = True
            new = [Row(name, "-", "-", "-", "-", f"FAILED: {type(e).__name__}: {e}"[:200], settings.name)]
        if settings is QUICK:
            for row in new:
                row.settings = f"QUICK: {row.settings}"
        rows += new
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = results_markdown(rows, settings=settings.name, command=command, date=date, machine=machine())
    atomic_write_text(args.out, text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Learned-env speed: env steps/s of a world model as a Gymnasium env, against the Fetch simulator.

    python benchmarks/env_speed.py --wfm checkpoints/fetchpush-wm-dit [--batch-sizes 1 16 64]
        [--obs-modes pixels latent] [--sampler-steps 8 4] [--precision fp32 bf16] [--steps 20]
        [--device cpu|cuda]

The first learned-env rows use the defaults a user gets (the precision ``WorldModel`` chooses
for this machine, the checkpoint's sampler steps); then every requested precision. The header
names the CPU and whether it has bf16 units: bf16 is about 2x fp32 with AVX512-BF16 / AMX and
20-100x slower without (``ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX512-BF16 CPU behave like one
without, to measure that case).

The learned env is ``WorldModelVectorEnv`` in each observation mode: ``pixels`` (one batched
``WorldModel.predict`` per ``step()``: encode the context, sample, decode) and ``latent`` (one
``WorldModel.rollout_latents``: sample only), timed at each batch size and sampler-step count
after one warm-up step; an env step is one
sub-environment advancing one frame, so a batch-16 ``step()`` counts 16. The baseline is the Fetch
simulator's own ``step`` + ``render`` at the model's frame size, one env on one CPU core, which
is what a learned env has to beat to be worth using as a simulator. One table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from envs.sim.fetch import FetchSimEnv
from envs.world_env import WorldModelVectorEnv
from worldmodel.precision import bf16_is_fast
from worldmodel.world import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def no_reward(prev: np.ndarray, action: np.ndarray, frame: np.ndarray) -> tuple[float, bool]:
    return 0.0, False


def learned_env_rate(
    world: WorldModel, batch: int, sampler_steps: int, steps: int, obs_mode: str = "pixels"
) -> float:
    """Env steps/s of ``WorldModelVectorEnv`` with ``batch`` sub-environments observing ``obs_mode``."""
    # A constant, never-terminating reward: this times the dynamics, and a reward head's
    # "success" on blank frames would autoreset episodes that have no simulator to restart them.
    env = WorldModelVectorEnv(
        world, batch, sampler_steps=sampler_steps, reward_fn=no_reward, obs_mode=obs_mode
    )
    h, w = world.frame_size
    # The frames' content does not change the cost, so episodes start from blank frames.
    env.reset(seed=0, options={"frames": np.zeros((batch, world.context_frames, h, w, 3), np.uint8)})
    env.action_space.seed(0)
    env.step(env.action_space.sample())  # warm-up: kernels, allocator
    _sync(world.device)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(env.action_space.sample())
    _sync(world.device)
    elapsed = time.perf_counter() - start
    env.close()
    return batch * steps / elapsed


def fetch_rate(task: str, size: int, steps: int) -> float:
    """Steps/s of the Fetch simulator, each step followed by a render."""
    sim = FetchSimEnv(task, size=size, max_episode_steps=None)
    sim.reset(seed=0)
    sim.action_space.seed(0)
    sim.render()  # warm-up: the GL context is made at the first render
    start = time.perf_counter()
    for _ in range(steps):
        sim.step(sim.action_space.sample())
        sim.render()
    elapsed = time.perf_counter() - start
    sim.close()
    return steps / elapsed


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wfm", required=True, help="an action-conditioned world-model checkpoint")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--obs-modes",
        nargs="+",
        choices=["pixels", "latent"],
        default=["pixels", "latent"],
        help="learned-env observation modes to time",
    )
    parser.add_argument(
        "--sampler-steps",
        type=int,
        nargs="+",
        default=None,
        help="diffusion steps per frame (default: the checkpoint's)",
    )
    parser.add_argument(
        "--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"], help="WorldModel dtype"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed step() calls per row")
    parser.add_argument(
        "--task", choices=["push", "pickandplace"], default="push", help="Fetch baseline task"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    world = WorldModel.from_pretrained(args.wfm, device=args.device)
    default_precision, default_steps = world.precision, world.default_steps
    size = world.frame_size[0]
    fast, hardware = bf16_is_fast(world.device)
    print(
        f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; bf16 {'native' if fast else 'NOT native'}: "
        f"{hardware}; "
        f"the checkpoint's defaults here: {default_precision}, {default_steps} sampler steps\n"
    )
    fetch = fetch_rate(args.task, size, max(args.steps, 50))
    rows = [(f"Fetch {args.task} simulator (step + render, CPU)", 1, "-", "-", fetch)]
    for mode in args.obs_modes:
        for batch in args.batch_sizes:
            rate = learned_env_rate(world, batch, default_steps, args.steps, mode)
            rows.append(
                (
                    f"learned env, {mode} ({args.device}), defaults",
                    batch,
                    str(default_steps),
                    default_precision,
                    rate,
                )
            )
    for precision in args.precision:
        world.precision = precision
        for mode in args.obs_modes:
            for sampler_steps in args.sampler_steps or [default_steps]:
                for batch in args.batch_sizes:
                    rate = learned_env_rate(world, batch, sampler_steps, args.steps, mode)
                    name = f"learned env, {mode} ({args.device})"
                    rows.append((name, batch, str(sampler_steps), precision, rate))
    print(
        f"| env at {size}x{size} px | batch | sampler steps | precision | env steps/s | ms per step() "
        "| vs Fetch |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, batch, sampler_steps, precision, rate in rows:
        call_ms = 1000 * batch / rate
        print(
            f"| {name} | {batch} | {sampler_steps} | {precision} | {rate:.1f} | {call_ms:.1f} "
            f"| {rate / fetch:.2f}x |"
        )


if __name__ == "__main__":
    main()

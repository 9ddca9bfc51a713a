"""Learned-env speed: env steps/s of a world model as a Gymnasium env, against the Fetch simulator.

    python benchmarks/env_speed.py --wfm runs/fetch-wm [--batch-sizes 1 16] [--sampler-steps 8 4]
        [--precision fp32 bf16] [--steps 20] [--device cpu|cuda]

The learned env is ``WorldModelVectorEnv`` (one batched ``WorldModel.predict`` per ``step()``),
timed at each batch size and sampler-step count after one warm-up step; an env step is one
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
from worldmodel.world import WorldModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def no_reward(prev: np.ndarray, action: np.ndarray, frame: np.ndarray) -> tuple[float, bool]:
    return 0.0, False


def learned_env_rate(world: WorldModel, batch: int, sampler_steps: int, steps: int) -> float:
    """Env steps/s of ``WorldModelVectorEnv`` with ``batch`` sub-environments."""
    # A constant, never-terminating reward: this times the dynamics, and a reward head's
    # "success" on blank frames would autoreset episodes that have no simulator to restart them.
    env = WorldModelVectorEnv(world, batch, sampler_steps=sampler_steps, reward_fn=no_reward)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wfm", required=True, help="an action-conditioned world-model checkpoint")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--sampler-steps", type=int, nargs="+", default=[8], help="diffusion steps per frame")
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
    size = world.frame_size[0]
    fetch = fetch_rate(args.task, size, max(args.steps, 50))
    rows = [(f"Fetch {args.task} simulator (step + render, CPU)", 1, "-", "-", fetch)]
    for precision in args.precision:
        world.precision = precision
        for sampler_steps in args.sampler_steps:
            for batch in args.batch_sizes:
                rate = learned_env_rate(world, batch, sampler_steps, args.steps)
                rows.append((f"learned env ({args.device})", batch, str(sampler_steps), precision, rate))
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

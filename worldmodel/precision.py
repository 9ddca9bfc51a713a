"""Which inference precision a world model runs in on this machine.

A checkpoint does not carry a precision to use everywhere: bf16's speed belongs to the hardware,
not to the model. A 1024² bf16 matmul runs at about 2x fp32 on CPUs with AVX512-BF16 or AMX and
on CUDA, but at 1 GFLOP/s against 129 in fp32 on AVX2-only CPUs (most laptops), where the shipped
models' bf16 default made the learned env 20-30x slower. So a checkpoint records what bf16 *costs*
(``bf16_cost_db``: fp32 PSNR minus bf16 PSNR on its held-out evaluation, from ``worldfm eval wfm
--precision fp32 bf16``; ``WorldModelInfo.bf16_cost_db``, where older checkpoints' ``precision``
is migrated), and the precision is chosen at load time by ``choose_precision``.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

import torch

PRECISIONS = ("fp32", "bf16")
# bf16 is worth taking only when it costs less than this much held-out PSNR (dB).
BF16_TOLERANCE_DB = 0.1
# Overrides the choice for every model of a process, like ``precision=`` does for one.
PRECISION_ENV = "WORLDFM_PRECISION"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def bf16_is_fast(device: torch.device | str) -> tuple[bool, str]:
    """Whether ``device`` runs bf16 matmuls natively (faster than fp32), and what decided it.

    CPUs: oneDNN must have a bf16 kernel (``_is_mkldnn_bf16_supported``; it honours
    ``ONEDNN_MAX_CPU_ISA``) and the CPU bf16 instructions (AVX512-BF16 or AMX); AVX512 alone
    emulates bf16 and AVX2 falls back to a slow reference path.
    """
    device = torch.device(device)
    if device.type == "cuda":
        fast = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        return fast, "CUDA with bf16 support" if fast else "a CUDA GPU without native bf16"
    if device.type != "cpu":
        return False, f"{device.type} (bf16 speed unknown)"
    capability = torch.backends.cpu.get_cpu_capability()
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    onednn = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if native and onednn:
        return True, f"a CPU with AVX512-BF16 / AMX (torch capability {capability})"
    return (
        False,
        f"a CPU without native bf16 units (torch capability {capability}; no AVX512-BF16 / AMX in use)",
    )


def choose_precision(*, requested: str | None, cost_db: float | None, bf16_fast: bool) -> tuple[str, str]:
    """The precision to run in and why.

    ``requested`` (an argument or ``WORLDFM_PRECISION``) wins; otherwise bf16 only where the
    hardware runs it natively and the checkpoint measured it within ``BF16_TOLERANCE_DB`` of fp32.
    """
    if requested is not None:
        return check_precision(requested), "requested"
    if cost_db is None:
        return "fp32", "the checkpoint has no bf16 measurement"
    if cost_db >= BF16_TOLERANCE_DB:
        return "fp32", f"bf16 costs {cost_db:.2f} dB on this checkpoint"
    if not bf16_fast:
        return "fp32", "bf16 is slow on this hardware"
    return "bf16", f"bf16 costs {max(cost_db, 0.0):.2f} dB and runs natively here"


def requested_precision(precision: str | None) -> str | None:
    """``precision`` if given, else ``WORLDFM_PRECISION`` if set (checked), else None."""
    if precision is not None:
        return check_precision(precision)
    env = os.environ.get(PRECISION_ENV, "").strip()
    if env:
        if env not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV} must be one of {PRECISIONS}, got {env!r}")
        return env
    return None


def bf16_autocast(device: torch.device | str) -> AbstractContextManager:
    """Opt-in bf16 autocast for tokenizer inference (convs, linears and attention in bf16, norms
    in fp32; outputs come back bf16); a clear error where bf16 is not native (``bf16_is_fast``).

    Never a default: it moves a tokenizer's outputs by ~1e-2, beyond the 1e-4 that chunked, tiled
    and streamed coding are held to against whole-clip coding (README, tokenizer speed: its PSNR
    cost on the shipped tokenizers, 0.00 dB, and its speed).
    """
    device = torch.device(device)
    fast, why = bf16_is_fast(device)
    if not fast:
        raise ValueError(f"bf16 is not native on {why}: it would run slower than fp32 here; use fp32")
    return torch.autocast(device.type, dtype=torch.bfloat16)

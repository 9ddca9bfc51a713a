"""Opt-in bf16 autocast for tokenizer inference, only where the hardware runs bf16 natively.

On CPUs with AVX512-BF16 (or AMX) bf16 matmuls and convolutions run about 2x the fp32 rate; on
CPUs without them oneDNN emulates bf16 and it runs far slower than fp32 (up to ~100x on AVX2-only
CPUs), so bf16 is never a default: callers opt in with ``bf16_autocast``, which refuses such CPUs.
fp32 stays the default because bf16 moves a tokenizer's outputs (see the README's tokenizer speed
section for the PSNR cost measured on a shipped tokenizer).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (AVX512-BF16 or AMX tiles)."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AMX"):
        return False  # AVX2 or older: bf16 is emulated and far slower than fp32
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent in some torch
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def bf16_autocast(device: str | torch.device) -> AbstractContextManager:
    """``torch.autocast`` to bf16 on ``device``; on a CPU without native bf16, a clear error.

    Convolutions, linears and attention run in bf16, norms in fp32; outputs come back bf16.
    """
    kind = torch.device(device).type
    if kind == "cpu" and not native_cpu_bf16():
        raise ValueError(
            f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16 (AVX512-BF16 or "
            "AMX): bf16 would run slower than fp32 here; run the tokenizer in fp32 (the default)"
        )
    return torch.autocast(kind, dtype=torch.bfloat16)

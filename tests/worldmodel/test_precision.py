"""The load-time precision rule: bf16 only where the hardware runs it natively and it costs nothing."""

import pytest
import torch

from worldmodel.precision import (
    BF16_TOLERANCE_DB,
    PRECISION_ENV,
    bf16_is_fast,
    choose_precision,
    requested_precision,
)


@pytest.mark.parametrize(
    ("requested", "cost", "fast", "expected"),
    [
        (None, 0.0, True, "bf16"),  # a CUDA GPU or an AMX / AVX512-BF16 CPU, bf16 measured free
        (None, 0.0, False, "fp32"),  # an AVX2-only CPU: bf16 matmuls at ~1 GFLOP/s
        (None, BF16_TOLERANCE_DB, True, "fp32"),  # measured too costly
        (None, None, True, "fp32"),  # never measured
        ("bf16", None, False, "bf16"),  # asked for: the user's choice wins
        ("fp32", 0.0, True, "fp32"),
    ],
)
def test_precision_rule_takes_bf16_only_where_fast_and_free(requested, cost, fast, expected) -> None:
    chosen, why = choose_precision(requested=requested, cost_db=cost, bf16_fast=fast)
    assert chosen == expected and why


def test_environment_variable_requests_a_precision_and_is_checked(monkeypatch) -> None:
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert requested_precision(None) == "fp32"
    assert requested_precision("bf16") == "bf16"
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(ValueError, match="WORLDFM_PRECISION must be one of"):
        requested_precision(None)


def test_cpu_bf16_speed_follows_the_cpus_bf16_units(monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    fast, why = bf16_is_fast("cpu")
    assert not fast and "without native bf16 units" in why
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert bf16_is_fast("cpu")[0]

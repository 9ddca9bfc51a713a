"""Fully sharded data parallelism (FSDP2, ``torch.distributed.fsdp.fully_shard``) for the Trainer.

Asked for the accelerate way: ``accelerate launch --config_file training/accelerate/fsdp.yaml``
sets ``ACCELERATE_USE_FSDP=true`` (and, on GPUs, accelerate's FSDP distributed type). The
Trainer then shards the model itself rather than through ``Accelerator.prepare``, because
accelerate only shards on accelerators: this way the same code runs on CPU processes (gloo,
the tests) and GPUs (NCCL).

Each block of the model (every child of an ``nn.ModuleList``: transformer blocks, the
tokenizer's stages) is one FSDP unit, the root holds the rest (embeddings, heads, tied
weights). Parameters, gradients and AdamW moments are split across the processes; a block's
full weights exist only during its forward and backward.

Checkpoints stay in the one format every run writes (a single safetensors file, full
tensors, optimizer state keyed by parameter index): full state dicts are gathered to the
main process's CPU on save and re-sharded on load, so a run resumes at any world size, with
or without sharding.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

FULL_TO_CPU = StateDictOptions(full_state_dict=True, cpu_offload=True)
FULL = StateDictOptions(full_state_dict=True)


def fsdp_requested(accelerator: Accelerator) -> bool:
    """Whether this run was launched with an FSDP config (``training/accelerate/fsdp.yaml``).

    accelerate turns an FSDP config into its FSDP distributed type on GPUs only; on CPU
    processes it falls back to plain data parallelism but still exports the request.
    """
    if accelerator.distributed_type == DistributedType.FSDP:
        return True
    requested = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")
    return requested and accelerator.num_processes > 1


def reshard_after_forward() -> bool:
    """``fsdp_reshard_after_forward`` of the config (true: ZeRO-3 memory, false: ZeRO-2 speed)."""
    return os.environ.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() in ("1", "true")


def fsdp_units(model: nn.Module) -> list[nn.Module]:
    """The blocks sharded as their own units, innermost first (``fully_shard`` goes bottom-up)."""
    units: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            units += [block for block in module if any(True for _ in block.parameters())]
    return units[::-1]


def shard(model: nn.Module, device: torch.device, *, reshard: bool = True) -> nn.Module:
    """Shard ``model`` in place across every process (its weights are the main process's)."""
    # FSDP2 warns on every step that a model returned a view (the tokenizer's latents and frames are
    # reshaped ones), which an in-place op would cut off from backward; the losses only use
    # out-of-place ops on model outputs, and tests/distributed checks the gradients against DDP's.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    model.to(device)
    # Every process must start from the same weights (DDP broadcasts them in `prepare` too).
    with torch.no_grad():
        for tensor in model.state_dict().values():
            torch.distributed.broadcast(tensor, src=0)
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    for unit in fsdp_units(model):
        fully_shard(unit, mesh=mesh, reshard_after_forward=reshard)
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard)
    return model


def full_tensor(value: torch.Tensor) -> torch.Tensor:
    """A sharded reduction's result (e.g. the clipped gradient norm) as a plain tensor."""
    return value.full_tensor() if isinstance(value, DTensor) else value


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The full weights on the main process's CPU (empty elsewhere); every process must call it."""
    return get_model_state_dict(model, options=FULL_TO_CPU)


def load_full_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load full weights (the same on every process) into the sharded ``model``."""
    set_model_state_dict(model, state, options=FULL)


def _parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The optimizer's parameters' names, in the order a plain ``state_dict()`` numbers them."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state as an unsharded optimizer's ``state_dict()`` (keyed by parameter
    index), on the main process; every process must call it."""
    state = get_optimizer_state_dict(model, optimizer, options=FULL_TO_CPU)
    index = {name: i for i, name in enumerate(_parameter_names(model, optimizer))}
    return {
        "state": {index[name]: value for name, value in state.get("state", {}).items()},
        "param_groups": [
            {**group, "params": [index[name] for name in group["params"]]}
            for group in state.get("param_groups", [])
        ],
    }


def load_full_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Load an unsharded optimizer's ``state_dict()`` into the sharded ``optimizer``."""
    names = _parameter_names(model, optimizer)
    by_name = {
        "state": {names[int(i)]: value for i, value in state["state"].items()},
        "param_groups": [
            {**group, "params": [names[int(i)] for i in group["params"]]} for group in state["param_groups"]
        ],
    }
    set_optimizer_state_dict(model, optimizer, by_name, options=FULL)

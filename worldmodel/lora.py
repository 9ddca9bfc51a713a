"""Low-rank adaptation (LoRA, Hu et al., arXiv 2106.09685) of a model's linear layers.

``W x + (alpha / r) · B A x`` with ``A`` (r, in) Gaussian and ``B`` (out, r) zero, so an adapted
model starts as exactly the base model and trains only ``r · (in + out)`` numbers per layer.
``merge_lora`` folds ``(alpha / r) · B A`` into ``W`` and puts plain ``nn.Linear`` layers back:
the result is the base architecture, saved and loaded like any checkpoint.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable rank-``rank`` update scaled by ``alpha / rank``."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear initialises its weight

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) · B A`` (out, in) that merging adds to the base weight."""
        return self.scale * self.lora_b @ self.lora_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * nn.functional.linear(
            nn.functional.linear(x, self.lora_a), self.lora_b
        )


def apply_lora(
    model: nn.Module,
    *,
    rank: int,
    alpha: float | None = None,
    within: Sequence[str] = ("",),
    trainable: Sequence[str] = (),
) -> list[str]:
    """Freeze ``model`` and wrap every ``nn.Linear`` under the ``within`` module paths in ``LoRALinear``.

    Args:
        rank: r; alpha: the update's scale numerator (default ``rank``, so the scale is 1).
        within: dotted module names whose linears are adapted ("" = the whole model).
        trainable: dotted name prefixes of parameters left fully trainable (new modules that the
            base model lacks, e.g. a camera embedder, which LoRA has nothing to adapt).
    Returns:
        the names of the adapted layers.
    """
    alpha = float(rank if alpha is None else alpha)
    model.requires_grad_(False)
    adapted = []
    for root_name in within:
        root = model.get_submodule(root_name) if root_name else model
        for name, module in list(root.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.Linear) and not isinstance(module, LoRALinear):
                    setattr(module, child_name, LoRALinear(child, rank, alpha))
                    adapted.append(".".join(p for p in (root_name, name, child_name) if p))
    if not adapted:
        raise ValueError(f"no nn.Linear layer under {list(within)} to adapt with LoRA")
    for name, param in model.named_parameters():
        if any(name.startswith(prefix) for prefix in trainable):
            param.requires_grad_(True)
    return adapted


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every ``LoRALinear`` of ``model`` into a plain ``nn.Linear`` (in place); returns ``model``."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                merged = child.base
                merged.weight += child.delta_weight().to(merged.weight.dtype)
                merged.requires_grad_(True)
                setattr(module, child_name, merged)
    return model


def merged_copy(model: nn.Module) -> nn.Module:
    """A merged deep copy (the training model keeps its adapters)."""
    return merge_lora(copy.deepcopy(model))


def has_lora(model: nn.Module) -> bool:
    return any(isinstance(m, LoRALinear) for m in model.modules())

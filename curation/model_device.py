"""Where a curation stage runs its network.

Ray gives a task that asked for ``num_gpus=1`` its own GPU by setting
``CUDA_VISIBLE_DEVICES``, and hides every GPU from a task that asked for none, so
"CUDA if torch sees one" is the GPU the scheduler assigned, or the CPU. The same
rule holds outside Ray (a script calling a splitter or embedder directly).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_ENV = "WORLDFM_CURATE_DEVICE"
_FIX = "set it to cpu, cuda or cuda:N, or unset it"


def model_device() -> torch.device:
    """The device for a stage's network: ``$WORLDFM_CURATE_DEVICE`` if set (``cpu``, ``cuda``,
    ``cuda:1``), else CUDA when this process sees a GPU, else the CPU."""
    import torch  # here, not at import: stages without a network never load torch

    forced = os.environ.get(DEVICE_ENV, "").strip()
    if forced:
        try:
            device = torch.device(forced)
        except RuntimeError:
            raise ValueError(f"{DEVICE_ENV}={forced!r} is not a torch device; {_FIX}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_ENV}={forced!r} but this process sees no CUDA device; {_FIX}")
        return device
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")

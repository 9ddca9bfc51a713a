"""``WorldFoundationModel``: what ``WorldModel`` needs from a model family (diffusion, autoregressive).

Each family takes one ``Conditioning`` and only the sampling options it uses, which it names in
``sample_options``: the diffusion WFM's sampler steps and guidance mean nothing to the GPT, whose
temperature means nothing to the denoiser. ``WorldModel`` passes a family only what it names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch

from worldmodel.conditioning.inputs import Conditioning


@runtime_checkable
class WorldFoundationModel(Protocol):
    """A checkpointable world model on latent windows (B, C, T, h, w)."""

    sample_options: frozenset[str]
    """the keyword options ``sample`` takes besides ``generator`` (e.g. steps, sampler, guidance)"""

    @property
    def action_dim(self) -> int:
        """Width of the per-frame action vectors (0: not action-conditioned)."""
        ...

    @property
    def camera_dim(self) -> int:
        """Channels of the camera maps it reads (0: not camera-conditioned)."""
        ...

    @property
    def trained_nulls(self) -> frozenset[str]:
        """The ``Conditioning`` inputs ("actions", "camera", "text") whose learned null it was trained
        on, so that leaving them out at inference asks for something it learned."""
        ...

    def sample(
        self,
        shape: tuple[int, ...],
        cond: Conditioning,
        *,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Latents of ``shape`` whose ``cond.cond_mask`` frames are ``cond.cond_latent``'s."""
        ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def eval(self) -> Any: ...

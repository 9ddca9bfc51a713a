"""The diffusion world model: a DiT inside EDM's Video2World denoiser, as one checkpointable module.

``forward`` returns the training loss (the trainer calls the module, so DDP sees the backward
hooks); ``denoise`` is ``D(x; sigma)``; ``sample`` predicts the frames that ``cond_mask`` leaves out.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.conditioning import embed_text_ids, make_text_encoder
from worldmodel.conditioning.inputs import UNCONDITIONED, Conditioning
from worldmodel.diffusion.configuration_diffusion import DiffusionConfig
from worldmodel.diffusion.denoiser import Denoiser, check_finite
from worldmodel.diffusion.modeling_dit import DiT
from worldmodel.generators import Generators
from worldmodel.hub import register


@register("diffusion")
class DiffusionWorldModel(nn.Module):
    """EDM diffusion transformer world model (Cosmos, arXiv 2501.03575, Sec. 5.2) on tokenizer latents.

    Latents are (B, C, T, h, w) with C = ``config.dit.latent_channels``, scaled so their std is
    about ``config.sigma_data``. ``cond_mask`` (B, T) bool marks the given (context) latent frames.
    """

    sample_options = frozenset({"steps", "sampler", "guidance"})

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.denoiser = Denoiser(DiT(config.dit), config)
        self.text_encoder = make_text_encoder(config.text) if config.text is not None else None

    @property
    def camera_dim(self) -> int:
        """Channels of the camera maps it reads (0: not camera-conditioned)."""
        return self.config.dit.camera_dim

    @property
    def action_dim(self) -> int:
        """Width of the per-frame action vectors (0: not action-conditioned)."""
        return self.config.dit.action_dim

    @property
    def trained_nulls(self) -> frozenset[str]:
        """Inputs whose null classifier-free-guidance dropout trained (a drop probability > 0)."""
        cfg, dit = self.config, self.config.dit
        # A camera model's action input is its pose vector, dropped together with the camera.
        action_drop = cfg.camera_drop_prob if dit.camera_dim else cfg.action_drop_prob
        given = {
            "text": (dit.text_dim, cfg.text_drop_prob),
            "actions": (dit.action_dim, action_drop),
            "camera": (dit.camera_dim, cfg.camera_drop_prob),
        }
        return frozenset(name for name, (width, drop) in given.items() if width and drop > 0)

    def embed_text(self, cond: Conditioning) -> Conditioning:
        """``cond`` with its token ids (B, L) embedded (B, L, text_dim) by the nested text encoder."""
        if cond.text_ids is None:
            return cond
        text, text_mask = embed_text_ids(self.text_encoder, cond.text_ids, cond.text_mask)
        return cond.replace(text=text, text_mask=text_mask, text_ids=None)

    def forward(
        self, x0: torch.Tensor, cond: Conditioning = UNCONDITIONED, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The scalar training loss; see ``loss`` for the arguments and for the logs."""
        return self.loss(x0, cond, generator=generator)[0]

    def loss(
        self,
        x0: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(loss, logs)``: EDM loss on the frames not in ``cond.cond_mask``.

        Args:
            x0: (B, C, T, h, w) clean latents; cond: the context mask (B, T) bool, actions
                (B, T, action_dim), camera maps (B, camera_dim, T, h, w), text (embeddings or
                token ids); generator: reproducible draws.
        """
        return self.denoiser.loss(x0, self.embed_text(cond), generator=generator)

    def denoise(
        self,
        x_noisy: torch.Tensor,
        sigma: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        guidance: float = 1.0,
    ) -> torch.Tensor:
        """``D(x_noisy; sigma)`` (B, C, T, h, w) for sigma (B,), with classifier-free guidance if
        ``guidance != 1``; equals ``cond.cond_latent`` on the conditioned frames."""
        cond = self.embed_text(cond)
        check_finite(
            x_noisy=x_noisy, sigma=sigma, cond_latent=cond.cond_latent, actions=cond.actions, text=cond.text
        )
        if guidance == 1:
            return self.denoiser(x_noisy, sigma, cond)
        return self.denoiser.guided(x_noisy, sigma, cond, guidance=guidance)

    @torch.no_grad()
    def sample(
        self,
        shape: tuple[int, ...],
        cond: Conditioning = UNCONDITIONED,
        *,
        steps: int = 35,
        sampler: str = "heun",
        guidance: float = 1.0,
        generator: Generators = None,
    ) -> torch.Tensor:
        """Latents of ``shape`` (B, C, T, h, w) from noise; the ``cond.cond_mask`` frames are
        ``cond.cond_latent``'s. See ``Denoiser.sample`` for ``steps``, ``sampler``, ``guidance`` and
        ``generator``; ``cond.text_ids`` are embedded by the nested text encoder."""
        return self.denoiser.sample(
            shape, self.embed_text(cond), steps=steps, sampler=sampler, guidance=guidance, generator=generator
        )

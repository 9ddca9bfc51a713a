"""The diffusion world model: a DiT inside EDM's Video2World denoiser, as one checkpointable module.

``forward`` returns the training loss (the trainer calls the module, so DDP sees the backward
hooks); ``denoise`` is ``D(x; sigma)``; ``sample`` predicts the frames that ``cond_mask`` leaves out.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.conditioning import embed_text_ids, make_text_encoder
from worldmodel.diffusion.configuration_diffusion import DiffusionConfig
from worldmodel.diffusion.denoiser import Denoiser, check_finite
from worldmodel.diffusion.modeling_dit import DiT
from worldmodel.hub import register


@register("diffusion")
class DiffusionWorldModel(nn.Module):
    """EDM diffusion transformer world model (Cosmos, arXiv 2501.03575, Sec. 5.2) on tokenizer latents.

    Latents are (B, C, T, h, w) with C = ``config.dit.latent_channels``, scaled so their std is
    about ``config.sigma_data``. ``cond_mask`` (B, T) bool marks the given (context) latent frames.
    """

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

    def embed_text(
        self, text_ids: torch.Tensor | None, text_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Token ids (B, L) and mask (B, L) -> embeddings (B, L, text_dim) through the nested encoder."""
        return embed_text_ids(self.text_encoder, text_ids, text_mask)

    def forward(
        self,
        x0: torch.Tensor,
        cond_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        text_ids: torch.Tensor | None = None,
        camera: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The scalar training loss; see ``loss`` for the arguments and for the logs.

        ``text_ids`` (B, L) int64 with ``text_mask`` go through the nested text encoder instead of ``text``.
        """
        if text_ids is not None:
            text, text_mask = self.embed_text(text_ids, text_mask)
        return self.loss(
            x0,
            cond_mask=cond_mask,
            actions=actions,
            text=text,
            text_mask=text_mask,
            generator=generator,
            camera=camera,
        )[0]

    def loss(
        self,
        x0: torch.Tensor,
        *,
        cond_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        camera: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(loss, logs)``: EDM loss on the frames not in ``cond_mask``.

        Args:
            x0: (B, C, T, h, w) clean latents; cond_mask: (B, T) bool; actions: (B, T, action_dim);
            text: (B, L, text_dim); text_mask: (B, L) bool; generator: reproducible draws;
            camera: (B, camera_dim, T, h, w) camera maps (Plücker rays, ``worldmodel.conditioning.camera``).
        """
        return self.denoiser.loss(
            x0,
            cond_mask=cond_mask,
            actions=actions,
            text=text,
            text_mask=text_mask,
            generator=generator,
            camera=camera,
        )

    def denoise(
        self,
        x_noisy: torch.Tensor,
        sigma: torch.Tensor,
        *,
        cond_latent: torch.Tensor | None = None,
        cond_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        guidance: float = 1.0,
        camera: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``D(x_noisy; sigma)`` (B, C, T, h, w) for sigma (B,), with classifier-free guidance if
        ``guidance != 1``; equals ``cond_latent`` on the conditioned frames."""
        check_finite(x_noisy=x_noisy, sigma=sigma, cond_latent=cond_latent, actions=actions, text=text)
        kwargs = {"camera": camera} if camera is not None else {}
        kwargs |= {
            "cond_latent": cond_latent,
            "cond_mask": cond_mask,
            "actions": actions,
            "text": text,
            "text_mask": text_mask,
        }
        if guidance == 1:
            return self.denoiser(x_noisy, sigma, **kwargs)
        return self.denoiser.guided(x_noisy, sigma, guidance=guidance, **kwargs)

    @torch.no_grad()
    def sample(
        self,
        shape: tuple[int, ...],
        *,
        cond_latent: torch.Tensor | None = None,
        cond_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        steps: int = 35,
        sampler: str = "heun",
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        text_ids: torch.Tensor | None = None,
        camera: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Latents of ``shape`` (B, C, T, h, w) from noise; the ``cond_mask`` frames are ``cond_latent``'s.

        See ``Denoiser.sample`` for ``steps``, ``sampler``, ``guidance`` and ``generator``;
        ``text_ids`` (B, L) with ``text_mask`` are embedded by the nested text encoder.
        """
        if text_ids is not None:
            text, text_mask = self.embed_text(text_ids, text_mask)
        return self.denoiser.sample(
            shape,
            cond_latent=cond_latent,
            cond_mask=cond_mask,
            actions=actions,
            text=text,
            text_mask=text_mask,
            steps=steps,
            sampler=sampler,
            guidance=guidance,
            generator=generator,
            camera=camera,
        )

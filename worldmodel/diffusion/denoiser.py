"""EDM's denoiser ``D(x; sigma)`` around any backbone ``F``, with Video2World conditioning.

Preconditioning: ``D(x; sigma) = c_skip·x + c_out·F(c_in·x; c_noise(sigma))`` (Karras et al.,
arXiv 2206.00364, eq. 7 and Table 1). Video2World (Cosmos, arXiv 2501.03575, Sec. 5.2): some
latent frames are given (``cond_mask``); ``F`` reads
``cat[c_in·x_noisy on the other frames, c_in(sigma_aug)·(cond + sigma_aug·eps) on the given frames, mask]``
and ``D`` returns the clean condition on the given frames exactly, so only the others are
denoised, trained and sampled. ``sigma_aug`` is a small noise augmentation of the condition whose
level the network is told.

The backbone protocol (``DiT`` implements it):
``backbone(x_in, c_noise, c_noise_aug, cond, null) -> F``
with ``x_in`` (B, 2C + 1, T, h, w), ``cond`` a ``Conditioning`` (its actions, camera and text are
read) and ``F`` (B, C, T, h, w); it holds the learned null embeddings that ``null``
(``NullInputs``, (B,) bool per input) substitutes for classifier-free guidance.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from worldmodel.conditioning.inputs import NOTHING_DROPPED, UNCONDITIONED, Conditioning, NullInputs
from worldmodel.diffusion.configuration_diffusion import DiffusionConfig
from worldmodel.diffusion.edm import (
    append_dims,
    c_noise,
    cfg_combine,
    edm_scalings,
    karras_sigmas,
    loss_weight,
    sample_sigma_lognormal,
)
from worldmodel.diffusion.samplers import SAMPLERS
from worldmodel.generators import Generators, randn

# Noise levels are floored at this before ``log`` so that sigma = 0 gives a finite network input:
# at sigma = 0, c_out = 0 and D is exactly x whatever F says, but 0·NaN would be NaN.
_SIGMA_FLOOR = 1e-20


def check_finite(**tensors: torch.Tensor | None) -> None:
    """Raise a ValueError naming the first given tensor that holds NaN or Inf (one device sync each)."""
    for name, value in tensors.items():
        if value is not None and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(
                f"{name} contains NaN or Inf values; check the data / tokenizer output feeding it"
            )


class Denoiser(nn.Module):
    """EDM preconditioning, Video2World conditioning, the training loss and sampling with CFG.

    Args:
        backbone: the network F (see the module docstring for its call signature).
        config: EDM settings (``sigma_data``, training and sampling noise levels, dropout).
    """

    def __init__(self, backbone: nn.Module, config: DiffusionConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config

    def forward(
        self,
        x_noisy: torch.Tensor,
        sigma: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        sigma_aug: torch.Tensor | None = None,
        aug_noise: torch.Tensor | None = None,
        null: NullInputs = NOTHING_DROPPED,
    ) -> torch.Tensor:
        """The denoised estimate ``D(x_noisy; sigma)``, (B, C, T, h, w), equal to ``cond.cond_latent`` on
        the conditioned frames.

        Args:
            x_noisy: (B, C, T, h, w) latents at noise level ``sigma`` (B,).
            cond: the given frames (``cond_latent``, ``cond_mask``) and the backbone's inputs
                (actions, camera, text embeddings).
            sigma_aug: (B,) noise level of the condition's augmentation (default
                ``config.inference_sigma_aug``); aug_noise: (B, C, T, h, w) its eps (None = zero).
            null: per-sample inputs replaced by the backbone's learned nulls.
        """
        b, _, t, _, _ = x_noisy.shape
        cond_latent = cond.cond_latent
        mask = self._frame_mask(cond.cond_mask, cond_latent, x_noisy)  # (B, 1, T, 1, 1)
        given = cond_latent if cond_latent is not None else torch.zeros_like(x_noisy)
        if sigma_aug is None:
            sigma_aug = x_noisy.new_full((b,), self.config.inference_sigma_aug)
        c_skip, c_out, c_in = (
            append_dims(c, x_noisy.ndim) for c in edm_scalings(sigma, self.config.sigma_data)
        )
        c_in_aug = append_dims(edm_scalings(sigma_aug, self.config.sigma_data)[2], x_noisy.ndim)
        if aug_noise is not None:
            given = given + append_dims(sigma_aug, x_noisy.ndim) * aug_noise
        x_in = torch.cat(
            [c_in * x_noisy * (1 - mask), c_in_aug * given * mask, mask.expand(b, 1, t, *x_noisy.shape[3:])],
            dim=1,
        )  # (B, 2C + 1, T, h, w)
        f_out = self.backbone(
            x_in,
            c_noise(sigma.clamp_min(_SIGMA_FLOOR)),
            c_noise(sigma_aug.clamp_min(_SIGMA_FLOOR)),
            cond,
            null,
        )  # (B, C, T, h, w)
        denoised = c_skip * x_noisy + c_out * f_out
        if cond_latent is None:
            return denoised
        return torch.where(mask.bool(), cond_latent, denoised)

    @staticmethod
    def _frame_mask(
        cond_mask: torch.Tensor | None, cond_latent: torch.Tensor | None, x: torch.Tensor
    ) -> torch.Tensor:
        """(B, T) bool condition mask -> (B, 1, T, 1, 1) in x's dtype; zeros when None."""
        b, t = x.shape[0], x.shape[2]
        if cond_mask is None:
            return x.new_zeros(b, 1, t, 1, 1)
        if cond_latent is None:
            raise ValueError("cond_mask given without cond_latent (the clean latents of the given frames)")
        if tuple(cond_mask.shape) != (b, t) or cond_mask.dtype != torch.bool:
            raise ValueError(
                f"cond_mask must be a bool (B, T) = {(b, t)} tensor, True on the given latent frames; "
                f"got {cond_mask.dtype} {tuple(cond_mask.shape)}"
            )
        if cond_latent.shape != x.shape:
            raise ValueError(
                f"cond_latent must have the latents' shape {tuple(x.shape)}, got {tuple(cond_latent.shape)}"
            )
        return cond_mask[:, None, :, None, None].to(x.dtype)

    def guided(
        self,
        x_noisy: torch.Tensor,
        sigma: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        guidance: float,
        aug_noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Classifier-free guided ``D``: the conditional and the null-conditioned (text, actions and
        camera dropped) estimates from one batch of 2B, combined by ``cfg_combine``."""
        b = x_noisy.shape[0]
        drop = torch.arange(2 * b, device=x_noisy.device) >= b  # (2B,) the second half is unconditional
        both = self(
            torch.cat([x_noisy, x_noisy]),
            torch.cat([sigma, sigma]),
            cond.map(lambda v: torch.cat([v, v])),
            aug_noise=torch.cat([aug_noise, aug_noise]) if aug_noise is not None else None,
            null=NullInputs(text=drop, actions=drop, camera=drop if cond.camera is not None else None),
        )  # (2B, C, T, h, w)
        conditional, unconditional = both.chunk(2)
        return cfg_combine(conditional, unconditional, guidance)

    def loss(
        self,
        x0: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """EDM's training loss (arXiv 2206.00364, eq. 2 weighted by Table 1's lambda) on the frames
        that are not given, with the given frames of ``x0`` as the (noise-augmented) condition.

        Args:
            x0: (B, C, T, h, w) clean latents (scaled to std ~ ``sigma_data``).
            cond: ``cond_mask`` (B, T) bool, True on the given frames (no loss there; None = none
                given), and the actions, camera and text embeddings; its ``cond_latent`` is ``x0``.
            generator: for reproducible sigma, noise and dropout draws.
        Returns:
            the scalar loss and detached logs (``losses/denoise``, ``losses/mse``, ``charts/sigma_mean``).
        """
        check_finite(x0=x0, actions=cond.actions, text=cond.text, camera=cond.camera)
        cfg, b, device = self.config, x0.shape[0], x0.device
        sigma = sample_sigma_lognormal((b,), cfg.p_mean, cfg.p_std, generator=generator, device=device)
        sigma_aug = sample_sigma_lognormal(
            (b,), cfg.aug_p_mean, cfg.aug_p_std, generator=generator, device=device
        )
        noise = randn(x0.shape, generator, device).to(x0.dtype)  # (B, C, T, h, w)
        aug_noise = randn(x0.shape, generator, device).to(x0.dtype)  # (B, C, T, h, w)
        draw_device = generator.device if generator is not None else device
        drop_text = (torch.rand(b, generator=generator, device=draw_device) < cfg.text_drop_prob).to(device)
        drop_actions = (torch.rand(b, generator=generator, device=draw_device) < cfg.action_drop_prob).to(
            device
        )
        drop_camera = None
        if cond.camera is not None:
            drop_camera = (torch.rand(b, generator=generator, device=draw_device) < cfg.camera_drop_prob).to(
                device
            )
            if cond.actions is not None:
                # A camera model's action input is the camera's pose (its global form): "no camera"
                # drops both together, so the null of both is trained as often as either.
                drop_actions = drop_camera
        denoised = self(
            x0 + append_dims(sigma, x0.ndim) * noise,
            sigma,
            cond.replace(cond_latent=x0),
            sigma_aug=sigma_aug,
            aug_noise=aug_noise,
            null=NullInputs(text=drop_text, actions=drop_actions, camera=drop_camera),
        )  # (B, C, T, h, w)
        target = 1 - self._frame_mask(cond.cond_mask, x0, x0)  # (B, 1, T, 1, 1): 1 on the frames to predict
        count = (target.sum() * x0[:, :, 0].numel() / b).clamp_min(1)
        squared = (denoised - x0) ** 2 * target  # (B, C, T, h, w)
        loss = (append_dims(loss_weight(sigma, cfg.sigma_data), x0.ndim) * squared).sum() / count
        logs = {
            "losses/denoise": loss.detach(),
            "losses/mse": (squared.sum() / count).detach(),
            "charts/sigma_mean": sigma.mean(),
        }
        return loss, logs

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
        """Latents (B, C, T, h, w) = ``shape`` solved from noise with EDM's schedule (eq. 5), equal to
        ``cond.cond_latent`` on the frames of ``cond.cond_mask`` exactly.

        Args:
            steps: noise levels of the schedule (Heun makes 2·steps − 1 denoiser calls).
            sampler: ``"heun"`` or ``"euler"``.
            guidance: classifier-free guidance weight; 1 = conditional only (one call per step).
            generator: draws the initial noise and the condition's augmentation noise; one per
                batch row draws each row's as a batch-1 call would (``worldmodel.generators``).
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
        check_finite(cond_latent=cond.cond_latent, actions=cond.actions, text=cond.text, camera=cond.camera)
        cfg = self.config
        device = next(self.parameters()).device
        sigmas = karras_sigmas(steps, cfg.sigma_min, cfg.sigma_max, cfg.rho, device=device)  # (steps + 1,)
        x = randn(tuple(shape), generator, device) * sigmas[0]  # (B, C, T, h, w)
        extra_args: dict = {"cond": cond.replace(cond_latent=None, cond_mask=None)}
        if cond.cond_mask is not None:
            self._frame_mask(cond.cond_mask, cond.cond_latent, x)
            extra_args = {"cond": cond, "aug_noise": randn(tuple(shape), generator, device)}
        denoiser = self if guidance == 1 else partial(self.guided, guidance=guidance)
        x = SAMPLERS[sampler](denoiser, x, sigmas, extra_args=extra_args)
        if cond.cond_mask is not None:
            # The last Euler step lands on D only up to rounding; the given frames are returned as given.
            x = torch.where(cond.cond_mask[:, None, :, None, None], cond.cond_latent, x)
        return x

"""The autoregressive world model: a GPT over a discrete tokenizer's FSQ tokens, as one checkpointable module.

Cosmos' autoregressive WFM (arXiv 2501.03575, Sec. 5.3): next-token prediction over the
tokens of a video, Video2World by giving the first frames' tokens as a prefix. ``forward``
returns the training loss (the trainer calls the module, so DDP sees the backward hooks);
``sample`` takes the same ``Conditioning`` as the diffusion WFM (``worldmodel.protocol``), with
its own sampling options, so ``worldmodel.world.WorldModel`` drives either.

Latents at this boundary are the tokenizer's quantised codes (B, C, T, h, w) in [-1, 1] with
C = len(levels): ``sample`` turns the condition frames' codes into token ids, generates the other
frames' tokens and returns them as codes again. The codes must reach the model unscaled, so a
``WorldModel`` over this model uses the identity ``LatentNorm`` (mean 0, std 1, sigma_data 1).
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.autoregressive.configuration_autoregressive import ARConfig
from worldmodel.autoregressive.modeling_gpt import GPT
from worldmodel.conditioning import embed_text_ids, make_text_encoder
from worldmodel.conditioning.inputs import UNCONDITIONED, Conditioning
from worldmodel.generators import Generators
from worldmodel.hub import register


@register("autoregressive")
class AutoregressiveWorldModel(nn.Module):
    """GPT world model on FSQ tokens (B, T, h, w), optionally conditioned on per-frame actions and text.

    ``cond_mask`` (B, T) bool marks the given (context) latent frames: they must be the first
    frames, the same for every row. Their actions are not known at inference (``WorldModel``
    passes zeros), so they get the learned null action, in training and sampling alike.
    """

    sample_options = frozenset({"temperature", "top_k", "top_p", "use_cache"})

    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        self.config = config
        self.gpt = GPT(config.gpt)
        self.text_encoder = make_text_encoder(config.text) if config.text is not None else None

    @property
    def action_dim(self) -> int:
        return self.config.gpt.action_dim

    @property
    def camera_dim(self) -> int:
        """0: the GPT reads no camera maps."""
        return 0

    @property
    def trained_nulls(self) -> frozenset[str]:
        """The null action (every context frame is a target predicted with it, see ``loss``) and,
        with text dropout, the null text."""
        gpt = self.config.gpt
        nulls = {"actions"} if gpt.action_dim else set()
        if gpt.text_dim and self.config.text_drop_prob > 0:
            nulls.add("text")
        return frozenset(nulls)

    # -- input checks -------------------------------------------------------------------------
    def check_indices(self, indices: torch.Tensor) -> None:
        size = self.config.gpt.codebook_size
        if indices.dtype not in (torch.int32, torch.int64) or indices.ndim != 4:
            raise ValueError(
                f"indices must be int (B, T, h, w) FSQ token ids, got {indices.dtype} {tuple(indices.shape)}"
            )
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= size):
            raise ValueError(
                f"token ids must lie in [0, {size}) (FSQ levels {self.config.gpt.levels}), got "
                f"[{int(indices.min())}, {int(indices.max())}]; was the tokenizer trained with other levels?"
            )
        self.gpt.check_grid(tuple(indices.shape[1:]))

    def check_actions(self, actions: torch.Tensor | None, batch: int, frames: int) -> None:
        if actions is None:
            return
        if not self.action_dim:
            raise ValueError("actions given, but this model has action_dim=0 (no action conditioning)")
        if tuple(actions.shape) != (batch, frames, self.action_dim):
            raise ValueError(
                f"actions must be (B, T, action_dim) = {(batch, frames, self.action_dim)}, one vector per "
                f"latent frame, got {tuple(actions.shape)}"
            )
        if not actions.isfinite().all():
            raise ValueError("actions contain NaN or infinite values")

    def prefix_length(self, cond_mask: torch.Tensor | None, batch: int, frames: int) -> int:
        """How many leading frames ``cond_mask`` (B, T) gives; it must be a prefix shared by all rows."""
        if cond_mask is None:
            return 0
        if cond_mask.dtype != torch.bool or tuple(cond_mask.shape) != (batch, frames):
            raise ValueError(
                f"cond_mask must be a bool (B, T) = {(batch, frames)} tensor, "
                f"got {cond_mask.dtype} {tuple(cond_mask.shape)}"
            )
        p = int(cond_mask[0].sum())
        prefix = torch.arange(frames, device=cond_mask.device) < p
        if not (cond_mask == prefix).all():
            raise ValueError(
                "an autoregressive model conditions on a prefix: cond_mask must mark the first frames, "
                f"the same in every row, got {cond_mask.int().tolist()}"
            )
        return p

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """FSQ codes (B, C, T, h, w) in [-1, 1] -> token ids (B, T, h, w); off-grid values are an error."""
        levels = self.config.gpt.levels
        if codes.ndim != 5 or codes.shape[1] != len(levels):
            raise ValueError(
                f"latents must be (B, {len(levels)}, T, h, w) FSQ codes (levels {levels}), "
                f"got {tuple(codes.shape)}"
            )
        z = codes.movedim(1, -1).float()  # (B, T, h, w, C)
        level = torch.tensor(levels, device=z.device)  # (C,)
        digits = z * (level // 2) + level // 2  # (B, T, h, w, C), integers on the FSQ grid
        off_grid = ((digits - digits.round()).abs() > 1e-3) | (digits.round() < 0) | (digits.round() >= level)
        if off_grid.any():
            raise ValueError(
                f"latents must be FSQ codes on the grid of levels {levels} (values in [-1, 1]); these are "
                "not. A WorldModel over an autoregressive model needs latent_mean 0, latent_std 1 and "
                "sigma_data 1 in its checkpoint's world_model section (the identity LatentNorm)"
            )
        return self.gpt.fsq.codes_to_indices(z)

    # -- training -----------------------------------------------------------------------------
    def embed_text(self, cond: Conditioning) -> Conditioning:
        """``cond`` with its token ids (B, L) embedded (B, L, text_dim) by the nested text encoder."""
        if cond.camera is not None:
            raise ValueError("camera given, but the autoregressive model reads no camera maps")
        if cond.text_ids is None:
            return cond
        text, text_mask = embed_text_ids(self.text_encoder, cond.text_ids, cond.text_mask)
        return cond.replace(text=text, text_mask=text_mask, text_ids=None)

    def forward(
        self,
        indices: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The scalar training loss; see ``loss`` for the arguments and for the logs."""
        return self.loss(indices, cond, generator=generator)[0]

    def loss(
        self,
        indices: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(loss, logs)``: the mean negative log-likelihood (nats) of every token of the clips.

        Every token is a target, context frames included: predicting them is the same video
        modelling with a null action, and it gives the first frame a model (Text2World).

        Args:
            indices: (B, T, h, w) FSQ token ids; cond: ``cond_mask`` (B, T) bool context frames (a
                prefix), actions (B, T, action_dim) (row t leads into frame t), text (embeddings or
                token ids); generator: the draws of text dropout.

        Logs: ``token_nll`` (all tokens) and ``predicted_nll`` (the frames not in ``cond_mask``).
        """
        cond = self.embed_text(cond)
        self.check_indices(indices)
        b, t, h, w = indices.shape
        self.check_actions(cond.actions, b, t)
        p = self.prefix_length(cond.cond_mask, b, t)
        tokens = indices.long().flatten(1)  # (B, N)
        start = torch.full((b, 1), self.gpt.start_id, dtype=torch.long, device=tokens.device)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)  # (B, N): each position sees the token before
        drop_text = None
        if cond.text is not None and self.training and self.config.text_drop_prob > 0:
            draw = torch.rand(b, generator=generator, device=generator.device if generator else None)
            drop_text = draw.to(tokens.device) < self.config.text_drop_prob
        logits = self.gpt(
            inputs,
            (t, h, w),
            actions=cond.actions,
            action_known=self.known_actions(p, b, t, tokens.device),
            text=cond.text,
            text_mask=cond.text_mask,
            drop_text=drop_text,
        )  # (B, N, Σ levels)
        nll = self.gpt.token_nll(logits, tokens).view(b, t, h * w)  # (B, T, h·w)
        loss = nll.mean()
        logs = {"token_nll": loss.detach()}
        if p < t:
            logs["predicted_nll"] = nll[:, p:].mean().detach()
        return loss, logs

    @staticmethod
    def known_actions(prefix: int, batch: int, frames: int, device: torch.device) -> torch.Tensor:
        """(B, T) bool: the actions of the frames after the context; context frames get the null."""
        return (torch.arange(frames, device=device) >= prefix).expand(batch, -1)

    # -- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        shape: tuple[int, ...],
        cond: Conditioning = UNCONDITIONED,
        *,
        generator: Generators = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """FSQ codes of ``shape`` (B, C, T, h, w); the ``cond.cond_mask`` frames are ``cond.cond_latent``'s
        exactly.

        The given frames' codes become the token prefix; the remaining frames are drawn token by
        token. ``temperature``, ``top_k`` and ``top_p`` default to the config's; ``generator`` makes
        the draws reproducible; ``cond.text_ids`` go through the text encoder.
        """
        if len(shape) != 5 or shape[1] != len(self.config.gpt.levels):
            raise ValueError(
                f"shape must be (B, {len(self.config.gpt.levels)}, T, h, w) (one channel per FSQ level), "
                f"got {tuple(shape)}"
            )
        b, _, t, h, w = shape
        self.gpt.check_grid((t, h, w))
        self.check_actions(cond.actions, b, t)
        cond = self.embed_text(cond)
        cond_latent = cond.cond_latent
        device = self.gpt.digit_basis.device
        p = self.prefix_length(cond.cond_mask, b, t)
        if p and (cond_latent is None or tuple(cond_latent.shape) != tuple(shape)):
            got = None if cond_latent is None else tuple(cond_latent.shape)
            raise ValueError(f"cond_latent must have the sample's shape {tuple(shape)}, got {got}")
        prefix = (
            self.codes_to_indices(cond_latent[:, :, :p]).flatten(1)
            if p
            else torch.empty(b, 0, dtype=torch.long, device=device)
        )  # (B, P·h·w)
        cfg = self.config
        tokens = self.gpt.generate(
            prefix,
            (t, h, w),
            actions=cond.actions,
            action_known=self.known_actions(p, b, t, device),
            text=cond.text,
            text_mask=cond.text_mask,
            temperature=cfg.temperature if temperature is None else temperature,
            top_k=cfg.top_k if top_k is None else top_k,
            top_p=cfg.top_p if top_p is None else top_p,
            generator=generator,
            use_cache=use_cache,
        )  # (B, N)
        codes = self.gpt.fsq.indices_to_codes(tokens.view(b, t, h, w)).movedim(-1, 1)  # (B, C, T, h, w)
        dtype = cond_latent.dtype if cond_latent is not None else torch.float32
        codes = codes.to(dtype)
        if p:
            codes[:, :, :p] = cond_latent[:, :, :p]
        return codes

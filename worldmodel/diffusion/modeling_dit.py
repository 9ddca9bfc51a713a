"""The diffusion transformer (DiT, Peebles & Xie, arXiv 2212.09748) of the Cosmos world model
(arXiv 2501.03575, Sec. 5.2), over tokenizer latents (B, C, T, h, w).

What Cosmos adds to DiT, all here: 3D-factorised RoPE in self-attention, QK-norm, cross-attention
to text embeddings, AdaLN-LoRA, and Video2World conditioning (the input carries clean condition
latents and their mask). Beyond Cosmos: per-latent-frame action vectors, embedded and added both to
their frame's tokens and to their frame's adaLN conditioning, so that ``c`` and every shift /
scale / gate are per frame, (B, T', D), broadcast over the frame's tokens.

Tokens stay laid out as (B, T', S, D), frame-major with S = h'·w' tokens per frame, so per-frame
modulation is a broadcast; attention flattens them to (B, T'·S, D) and attends over all of them.

The network is ``F`` of EDM: it sees preconditioned inputs and noise levels and knows nothing of
sigma itself (that is ``worldmodel.diffusion.denoiser``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.conditioning.inputs import NOTHING_DROPPED, UNCONDITIONED, Conditioning, NullInputs
from worldmodel.diffusion.configuration_dit import DiTConfig
from worldmodel.diffusion.rope import apply_rope, rope_3d


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


# ------------------------------------------------------------------------------------------------
# Embedders
# ------------------------------------------------------------------------------------------------


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) scalars -> (B, dim) ``[cos(t·f), sin(t·f)]`` features, f geometric in [1/max_period, 1]
    (Vaswani et al., arXiv 1706.03762, Sec. 3.5; DiT's ``TimestepEmbedder``)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([args.cos(), args.sin()], dim=-1)


class NoiseLevelEmbedder(nn.Module):
    """EDM's ``c_noise`` (B,) -> (B, D): sinusoidal features, then an MLP."""

    def __init__(self, hidden: int, frequency_dim: int) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(c_noise, self.frequency_dim))


class ActionEmbedder(nn.Module):
    """Per-frame action vectors (B, T', pt·A) -> (B, T', D), with a learned null embedding that
    stands for "no action" (missing actions, and classifier-free guidance dropout)."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.null = nn.Parameter(torch.zeros(hidden))

    def forward(
        self, actions: torch.Tensor | None, drop: torch.Tensor | None, batch: int, frames: int
    ) -> torch.Tensor:
        """``drop``: (B,) bool, True where the sample's actions are replaced by the null embedding."""
        if actions is None:
            return self.null.expand(batch, frames, -1)
        emb = self.mlp(actions)  # (B, T', D)
        if drop is not None:
            emb = torch.where(drop[:, None, None], self.null.to(emb.dtype), emb)
        return emb


class CameraEmbedder(nn.Module):
    """Per-token camera maps (B, T', S, patch·camera_dim) -> (B, T', S, D), added to the tokens.

    Zero-initialised, so a camera-conditioned model warm-started from one without camera input
    computes exactly the same function at step 0 (post-training starts from the base model).
    Dropped or absent cameras contribute nothing: "no camera" is the base model's input.
    """

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, hidden)

    def forward(self, camera: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        emb = self.proj(camera)
        if drop is not None:
            emb = emb * (~drop).to(emb.dtype)[:, None, None, None]
        return emb


# ------------------------------------------------------------------------------------------------
# Blocks
# ------------------------------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self, hidden: int, mlp_ratio: float) -> None:
        super().__init__()
        inner = int(hidden * mlp_ratio)
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class SelfAttention(nn.Module):
    """Full multi-head self-attention over all (t, h, w) tokens, with 3D RoPE and QK-norm."""

    def __init__(self, hidden: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        head_dim = hidden // heads
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D); cos, sin: (N, head_dim / 2)."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        q = apply_rope(self.q_norm(q), cos, sin)  # (B, H, N, d)
        k = apply_rope(self.k_norm(k), cos, sin)  # (B, H, N, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class CrossAttention(nn.Module):
    """Tokens attend to text embeddings (B, L, text_dim); padded text positions are masked out."""

    def __init__(self, hidden: int, context_dim: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(context_dim, 2 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        head_dim = hidden // heads
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, D); context: (B, L, text_dim); context_mask: (B, L) bool, True = a real token."""
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads))  # (B, H, N, d)
        k, v = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        out = F.scaled_dot_product_attention(q, self.k_norm(k), v, attn_mask=context_mask[:, None, None])
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class AdaLNModulation(nn.Module):
    """``c`` (B, T', D) -> shift, scale, gate (each (B, T', 1, D)) for each of ``n`` sublayers.

    Rank 0: DiT's adaLN, one full linear D -> n·3D (arXiv 2212.09748, Sec. 3.2). Rank r > 0:
    AdaLN-LoRA (arXiv 2501.03575, Sec. 5.2), per sublayer a rank-r map D -> r -> 3D added to the
    ``base`` modulation (B, T', 3D) that all blocks share, which cuts the adaLN parameters of a
    block from 3n·D² to n·r·(D + 3D).
    """

    def __init__(self, hidden: int, n: int, rank: int) -> None:
        super().__init__()
        self.n = n
        self.lora = (
            nn.ModuleList(
                nn.Sequential(
                    nn.SiLU(), nn.Linear(hidden, rank, bias=False), nn.Linear(rank, 3 * hidden, bias=False)
                )
                for _ in range(n)
            )
            if rank
            else None
        )
        self.full = None if rank else nn.Sequential(nn.SiLU(), nn.Linear(hidden, n * 3 * hidden))

    def last_layers(self) -> list[nn.Linear]:
        """The output linears, zeroed at init so every block starts as the identity (adaLN-Zero)."""
        return [m[-1] for m in self.lora] if self.lora is not None else [self.full[-1]]

    def forward(self, c: torch.Tensor, base: torch.Tensor | None) -> list[torch.Tensor]:
        """c: (B, T', D); base: (B, T', 3D), required with LoRA."""
        full = self.full is not None
        mod = self.full(c) if full else torch.cat([m(c) + base for m in self.lora], dim=-1)  # (B, T', n·3D)
        return list(mod[:, :, None].chunk(3 * self.n, dim=-1))


class DiTBlock(nn.Module):
    """Self-attention -> cross-attention to text (if ``text_dim``) -> MLP, each pre-norm and
    adaLN-Zero modulated by the per-frame conditioning ``c``."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        hidden = config.hidden
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(hidden, config.heads, config.qk_norm)
        self.cross_attn = None
        if config.text_dim:
            self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
            self.cross_attn = CrossAttention(hidden, config.text_dim, config.heads, config.qk_norm)
        self.norm3 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(hidden, config.mlp_ratio)
        n = 3 if config.text_dim else 2
        self.adaLN_modulation = AdaLNModulation(hidden, n, config.adaln_lora_rank)

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        base: torch.Tensor | None,
        rope: tuple[torch.Tensor, torch.Tensor],
        context: torch.Tensor | None,
        context_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """x: (B, T', S, D) tokens; c: (B, T', D); base: (B, T', 3D) or None; returns (B, T', S, D)."""
        mods = self.adaLN_modulation(c, base)  # 3 per sublayer, each (B, T', 1, D)
        shift, scale, gate = mods[:3]
        h = modulate(self.norm1(x), shift, scale).flatten(1, 2)  # (B, N, D)
        x = x + gate * self.attn(h, *rope).view_as(x)
        if self.cross_attn is not None:
            shift, scale, gate = mods[3:6]
            h = modulate(self.norm2(x), shift, scale).flatten(1, 2)  # (B, N, D)
            x = x + gate * self.cross_attn(h, context, context_mask).view_as(x)
        shift, scale, gate = mods[-3:]
        return x + gate * self.mlp(modulate(self.norm3(x), shift, scale))


class FinalLayer(nn.Module):
    """adaLN-modulated norm and a linear to the patch's latent values (DiT's ``FinalLayer``)."""

    def __init__(self, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x: (B, T', S, D); c: (B, T', D); returns (B, T', S, out_dim)."""
        shift, scale = self.adaLN_modulation(c)[:, :, None].chunk(2, dim=-1)  # (B, T', 1, D) each
        return self.linear(modulate(self.norm_final(x), shift, scale))


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------


class DiT(nn.Module):
    """EDM's network ``F``: (B, 2C + 1, T, h, w) Video2World input -> (B, C, T, h, w).

    Args of ``forward``:
        x: (B, 2C + 1, T, h, w), ``cat[c_in·x_noisy (unconditioned frames), condition (conditioned
            frames), mask]`` as built by ``Denoiser``.
        c_noise, c_noise_aug: (B,) EDM noise-level inputs of the noisy frames and of the
            condition's noise augmentation.
        cond: a ``Conditioning`` whose ``actions`` (B, T, action_dim) (one vector per latent frame;
            None: the null action), ``camera`` (B, camera_dim, T, h, w) (a camera map per latent
            cell) and ``text`` (B, L, text_dim) embeddings with ``text_mask`` (B, L) bool (True = a
            real token, default all real; a row without real tokens counts as no text) are read.
        null: (B,) bool per input, True = replace that sample's text / actions / camera by the
            learned null (classifier-free guidance).
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        hidden, patch = config.hidden, math.prod(config.patch_size)
        self.x_embedder = nn.Linear(config.in_channels * patch, hidden)
        self.sigma_embedder = NoiseLevelEmbedder(hidden, config.frequency_dim)
        self.aug_embedder = NoiseLevelEmbedder(hidden, config.frequency_dim)
        self.action_embedder = (
            ActionEmbedder(config.patch_size[0] * config.action_dim, hidden) if config.action_dim else None
        )
        self.camera_embedder = (
            CameraEmbedder(config.camera_dim * patch, hidden) if config.camera_dim else None
        )
        if config.text_dim:
            self.null_text = nn.Parameter(torch.randn(config.text_dim) * 0.02)
            self.text_pool = nn.Linear(config.text_dim, hidden)
        self.adaln_base = (
            nn.Sequential(nn.SiLU(), nn.Linear(hidden, 3 * hidden)) if config.adaln_lora_rank else None
        )
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_layer = FinalLayer(hidden, patch * config.latent_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier linears; zero adaLN outputs and the output layer, so F = 0 at init (DiT's adaLN-Zero)."""

        def _basic_init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        self.apply(_basic_init)
        for embedder in (self.sigma_embedder, self.aug_embedder):
            for layer in (embedder.mlp[0], embedder.mlp[2]):
                nn.init.normal_(layer.weight, std=0.02)
        zeroed = [layer for block in self.blocks for layer in block.adaLN_modulation.last_layers()]
        zeroed += [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        if self.camera_embedder is not None:
            zeroed.append(self.camera_embedder.proj)
        if self.adaln_base is not None:
            zeroed.append(self.adaln_base[-1])
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def check_inputs(self, x: torch.Tensor, cond: Conditioning) -> None:
        """Shape checks with messages that name the expected shape (no device sync)."""
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"DiT input must be (B, {cfg.in_channels}, T, h, w) (2·{cfg.latent_channels} latent "
                f"channels + mask), got {tuple(x.shape)}"
            )
        b, _, t, h, w = x.shape
        if any(n % p for n, p in zip((t, h, w), cfg.patch_size, strict=True)):
            raise ValueError(
                f"latent (T, h, w) = {(t, h, w)} must be divisible by patch_size {cfg.patch_size}"
            )
        if t > cfg.max_latent_frames:
            raise ValueError(f"{t} latent frames exceed max_latent_frames={cfg.max_latent_frames}")
        actions, camera, text, text_mask = cond.actions, cond.camera, cond.text, cond.text_mask
        if actions is not None:
            if not cfg.action_dim:
                raise ValueError("actions given, but this model has action_dim=0 (no action conditioning)")
            if tuple(actions.shape) != (b, t, cfg.action_dim):
                raise ValueError(
                    f"actions must be (B, T, action_dim) = {(b, t, cfg.action_dim)}, one vector per latent "
                    f"frame, got {tuple(actions.shape)}"
                )
        if camera is not None:
            if not cfg.camera_dim:
                raise ValueError("camera given, but this model has camera_dim=0 (no camera conditioning)")
            if tuple(camera.shape) != (b, cfg.camera_dim, t, h, w):
                raise ValueError(
                    f"camera must be (B, camera_dim, T, h, w) = {(b, cfg.camera_dim, t, h, w)}, one map per "
                    f"latent frame at the latent resolution, got {tuple(camera.shape)}"
                )
        if text is not None:
            if not cfg.text_dim:
                raise ValueError("text given, but this model has text_dim=0 (no text conditioning)")
            if text.ndim != 3 or text.shape[0] != b or text.shape[2] != cfg.text_dim:
                raise ValueError(
                    f"text must be (B, L, text_dim) = ({b}, L, {cfg.text_dim}), got {tuple(text.shape)}"
                )
            if text_mask is not None and (text_mask.shape != text.shape[:2] or text_mask.dtype != torch.bool):
                raise ValueError(
                    f"text_mask must be a bool (B, L) = {tuple(text.shape[:2])} tensor, "
                    f"got {text_mask.dtype} {tuple(text_mask.shape)}"
                )
        elif text_mask is not None:
            raise ValueError("text_mask given without text")

    def text_context(
        self, text: torch.Tensor | None, text_mask: torch.Tensor | None, drop: torch.Tensor | None, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text with the null substituted where dropped or absent: (B, L, text_dim) and its (B, L) mask.

        A dropped row becomes ``[null, ...]`` with only the first position real, which attends
        exactly like the single-token null context used when ``text`` is None.
        """
        if text is None:
            null = self.null_text.expand(batch, 1, -1)  # (B, 1, text_dim)
            return null, torch.ones(batch, 1, dtype=torch.bool, device=null.device)
        mask = text_mask if text_mask is not None else text.new_ones(text.shape[:2], dtype=torch.bool)
        empty = ~mask.any(dim=1)  # (B,)
        drop = empty if drop is None else drop | empty
        first_only = torch.zeros_like(mask)
        first_only[:, 0] = True
        text = torch.where(drop[:, None, None], self.null_text.to(text.dtype), text)  # (B, L, text_dim)
        return text, torch.where(drop[:, None], first_only, mask)

    def forward(
        self,
        x: torch.Tensor,
        c_noise: torch.Tensor,
        c_noise_aug: torch.Tensor,
        cond: Conditioning = UNCONDITIONED,
        null: NullInputs = NOTHING_DROPPED,
    ) -> torch.Tensor:
        self.check_inputs(x, cond)
        actions, camera = cond.actions, cond.camera
        cfg = self.config
        b, _, t, h, w = x.shape
        pt, ph, pw = cfg.patch_size
        grid = (t // pt, h // ph, w // pw)
        tokens = rearrange(x, "b c (t pt) (h ph) (w pw) -> b t (h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw)
        tokens = self.x_embedder(tokens)  # (B, T', S, D)
        if camera is not None and self.camera_embedder is not None:
            patches = rearrange(
                camera, "b c (t pt) (h ph) (w pw) -> b t (h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw
            )
            tokens = tokens + self.camera_embedder(patches.to(tokens.dtype), null.camera)
        c = self.sigma_embedder(c_noise) + self.aug_embedder(c_noise_aug)  # (B, D)
        c = c[:, None].expand(-1, grid[0], -1)  # (B, T', D)
        if self.action_embedder is not None:
            if actions is not None:
                actions = rearrange(actions, "b (t pt) a -> b t (pt a)", pt=pt)  # (B, T', pt·A)
            a = self.action_embedder(actions, null.actions, b, grid[0])  # (B, T', D)
            tokens = tokens + a[:, :, None]
            c = c + a
        context = context_mask = None
        if cfg.text_dim:
            context, context_mask = self.text_context(cond.text, cond.text_mask, null.text, b)
            weights = context_mask[..., None].to(context.dtype)  # (B, L, 1)
            pooled = (context * weights).sum(1) / weights.sum(1)  # (B, text_dim)
            c = c + self.text_pool(pooled)[:, None]
        base = self.adaln_base(c) if self.adaln_base is not None else None  # (B, T', 3D)
        rope = rope_3d(cfg.head_dim, grid, cfg.rope_theta, device=x.device)
        for block in self.blocks:
            tokens = block(tokens, c, base, rope, context, context_mask)
        out = self.final_layer(tokens, c)  # (B, T', S, patch·C)
        return rearrange(
            out, "b t (h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)", h=grid[1], pt=pt, ph=ph, pw=pw
        )

"""The GPT of the autoregressive world model (Cosmos, arXiv 2501.03575, Sec. 5.3) over FSQ video tokens.

Split like nanoGPT's ``model.py``: ``CausalSelfAttention``, ``MLP``, ``Block`` and a ``GPT`` that
holds its ``ModuleDict``. From Cosmos' AR model: 3D RoPE over each token's (t, h, w) coordinate
plus learned absolute 3D position embeddings, QK-norm, cross-attention to text embeddings.
Beyond it: one action embedding per latent frame, added to that frame's tokens.

**Sequence layout.** A clip's tokens are the FSQ indices of its latent grid (T, h, w), flattened
in (t, h, w) order: N = T·h·w. Input position p holds the token *before* token p (position 0
holds the start-of-video token, id ``codebook_size``) and carries the coordinate of token p, the
one it predicts: its position embedding, its RoPE angles and its frame's action all describe the
target, so the first token of a frame already knows the action that leads into that frame.

**Factorised vocabulary.** A 64,000-way softmax needs a large model before it is worth its
parameters. An FSQ index is a tuple of digits, one per level (arXiv 2309.15505), so a token is
embedded as the sum of one small table per digit, and predicted by one small softmax per digit
from the same hidden state: p(token) = Π_i p(digit_i | past). The digits are independent given
the past (not chained); at 2M parameters this trains well, and the heads are one linear of
width Σ levels instead of Π levels.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.autoregressive.configuration_gpt import GPTConfig
from worldmodel.autoregressive.kv_cache import KVCache
from worldmodel.autoregressive.sampling import sample_logits
from worldmodel.diffusion.rope import apply_rope, rope_3d
from worldmodel.generators import Generators
from worldmodel.tokenizer.fsq import FSQ


@functools.lru_cache(maxsize=32)
def position_tables(
    grid: tuple[int, int, int], head_dim: int, theta: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(t, h, w) coordinates (N, 3) int64 and 3D RoPE ``(cos, sin)`` (N, head_dim/2) of every token of
    a (T, h, w) grid flattened in (t, h, w) order.

    Memoised: they depend only on the arguments, and a decoding step would otherwise spend more
    time rebuilding its one row than attending. Callers slice the tables and never write to them.
    """
    t, h, w = grid
    # The tables outlive this call: inference-mode tensors would be refused by a later backward.
    with torch.inference_mode(False):
        p = torch.arange(t * h * w, device=device)
        coords = torch.stack([p // (h * w), (p // w) % h, p % w], dim=-1)  # (N, 3)
        return coords, *rope_3d(head_dim, grid, theta, device=device)


# ------------------------------------------------------------------------------------------------
# Blocks
# ------------------------------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention with QK-norm and 3D RoPE; reads and writes a ``KVCache``."""

    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer  # its slot in the KV cache
        self.heads = config.heads
        self.c_attn = nn.Linear(config.hidden, 3 * config.hidden, bias=False)
        self.c_proj = nn.Linear(config.hidden, config.hidden, bias=False)
        # QK-norm: RMSNorm of each head's queries and keys, with one gain per channel for q and for k.
        # Queries and keys are normalised and rotated as one stacked tensor: a decoding step is
        # bound by the number of kernel launches, not by arithmetic.
        self.qk_gain = nn.Parameter(torch.ones(2, 1, 1, 1, config.head_dim)) if config.qk_norm else None

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: KVCache | None
    ) -> torch.Tensor:
        """x: (B, n, D) at positions ``cache.length ..`` (0 without a cache); rope: (n, head_dim/2) each."""
        qkv = rearrange(self.c_attn(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        qk = qkv[:2]  # (2, B, H, n, d)
        if self.qk_gain is not None:
            qk = F.rms_norm(qk, (qk.shape[-1],), eps=1e-6) * self.qk_gain
        q, k = apply_rope(qk, *rope).unbind(0)  # (B, H, n, d) each
        v = qkv[2]  # (B, H, n, d)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.update(self.layer, k, v)  # (B, H, start + n, d)
        n = q.shape[2]
        if n == 1:  # one new token may see every stored one
            y = F.scaled_dot_product_attention(q, k, v)
        elif start == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # a block of new tokens after a stored prefix: query i sees keys up to start + i
            keys = torch.arange(start + n, device=x.device)
            mask = keys[None] <= keys[start:, None]  # (n, start + n)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, n, d)
        return self.c_proj(rearrange(y, "b h n d -> b n (h d)"))


class CrossAttention(nn.Module):
    """Tokens attend to text embeddings (B, L, text_dim); padded text positions are masked out."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.q = nn.Linear(config.hidden, config.hidden, bias=False)
        self.kv = nn.Linear(config.text_dim, 2 * config.hidden, bias=False)
        self.c_proj = nn.Linear(config.hidden, config.hidden, bias=False)
        norm = (lambda: nn.RMSNorm(config.head_dim, eps=1e-6)) if config.qk_norm else nn.Identity
        self.q_norm, self.k_norm = norm(), norm()

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, n, D); context: (B, L, text_dim); context_mask: (B, L) bool, True = a real token."""
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads))  # (B, H, n, d)
        k, v = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        y = F.scaled_dot_product_attention(q, self.k_norm(k), v, attn_mask=context_mask[:, None, None])
        return self.c_proj(rearrange(y, "b h n d -> b n (h d)"))


class MLP(nn.Module):
    """SwiGLU feed-forward (Shazeer, arXiv 2002.05202, eq. 6): ``c_proj(silu(x W) ⊙ x V)``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        inner = int(config.hidden * config.mlp_ratio)
        self.c_fc = nn.Linear(config.hidden, 2 * inner, bias=False)  # W and V in one matmul
        self.c_proj = nn.Linear(inner, config.hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.c_fc(x).chunk(2, dim=-1)  # (B, n, inner) each
        return self.c_proj(F.silu(gate) * value)


class Block(nn.Module):
    """Two pre-norm (RMSNorm) residual lines, attention then MLP, with cross-attention to text
    between them when ``text_dim`` is set."""

    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.RMSNorm(config.hidden, eps=1e-6)
        self.attn = CausalSelfAttention(config, layer)
        self.cross_attn = None
        if config.text_dim:
            self.ln_x = nn.RMSNorm(config.hidden, eps=1e-6)
            self.cross_attn = CrossAttention(config)
        self.ln_2 = nn.RMSNorm(config.hidden, eps=1e-6)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        context: torch.Tensor | None,
        context_mask: torch.Tensor | None,
        cache: KVCache | None,
    ) -> torch.Tensor:
        """x: (B, n, D) -> (B, n, D)."""
        x = x + self.attn(self.ln_1(x), rope, cache)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.ln_x(x), context, context_mask)
        return x + self.mlp(self.ln_2(x))


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------


class GPT(nn.Module):
    """Causal transformer over the FSQ tokens of a latent grid; see the module docstring for the layout.

    ``forward(tokens, grid, ...)`` -> per-digit logits (B, n, Σ levels): the logits of digit i are
    the slice ``split(levels)[i]``. ``generate`` continues a prefix of tokens to the full grid.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden
        self.fsq = FSQ(config.levels)  # index <-> digits; derived buffers only, nothing to save
        # Digit i of a token is worth basis[i] in its index (FSQ's mixed-radix code).
        basis = torch.cumprod(torch.tensor([1, *config.levels[:-1]]), dim=0)
        self.register_buffer("digit_basis", basis, persistent=False)
        # Digit tables and heads are stacked: digit i owns rows / logits offset[i] .. offset[i] + levels[i].
        offset = torch.cumsum(torch.tensor([0, *config.levels[:-1]]), dim=0)
        self.register_buffer("digit_offset", offset, persistent=False)
        # Gathering the logits through pad_index gives one (K, max level) row per digit, padded with -inf,
        # so all digits are normalised and sampled in one batched call.
        j = torch.arange(max(config.levels))
        self.register_buffer("pad_valid", j[None] < torch.tensor(config.levels)[:, None], persistent=False)
        self.register_buffer(
            "pad_index", torch.where(self.pad_valid, offset[:, None] + j, 0), persistent=False
        )
        modules = {
            "wte": nn.Embedding(sum(config.levels), d),  # one table per digit, stacked
            "wse": nn.Embedding(1, d),  # the start-of-video token
            "wpe_t": nn.Embedding(config.max_frames, d),
            "wpe_h": nn.Embedding(config.max_height, d),
            "wpe_w": nn.Embedding(config.max_width, d),
            "h": nn.ModuleList(Block(config, layer) for layer in range(config.depth)),
            "ln_f": nn.RMSNorm(d, eps=1e-6),
        }
        if config.action_dim:
            modules["wae"] = nn.Linear(config.action_dim, d)
            modules["wne"] = nn.Embedding(1, d)  # "no action": unknown (context frames) or absent
        if config.text_dim:
            modules["wnt"] = nn.Embedding(1, config.text_dim)  # "no text"
        self.transformer = nn.ModuleDict(modules)
        self.lm_head = nn.Linear(d, sum(config.levels), bias=False)  # the per-digit heads side by side
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's init (nanoGPT): N(0, 0.02) for every linear and table, N(0, 0.02/√(2·depth)) for the
        projections into the residual stream, whose contributions add up over the blocks."""
        residual_std = 0.02 / math.sqrt(2 * self.config.depth)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=residual_std if name.endswith("c_proj") else 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def start_id(self) -> int:
        return self.config.codebook_size

    def check_grid(self, grid: tuple[int, int, int]) -> None:
        cfg = self.config
        window = (cfg.max_frames, cfg.max_height, cfg.max_width)
        if any(n > m for n, m in zip(grid, window, strict=True)):
            raise ValueError(
                f"latent grid (T, h, w) = {tuple(grid)} exceeds the model's window {window} "
                "(max_frames, max_height, max_width); use a shorter context or a smaller frame"
            )

    # -- embedders ----------------------------------------------------------------------------
    def token_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, n) ids in [0, codebook_size] -> (B, n, D): the sum of the digit tables, or the start."""
        digits = self.fsq.indices_to_digits(tokens.clamp(max=self.start_id - 1))  # (B, n, K)
        x = self.transformer.wte(digits + self.digit_offset).sum(dim=-2)  # (B, n, D)
        return torch.where((tokens == self.start_id)[..., None], self.transformer.wse.weight[0], x)

    def frame_embedding(
        self, actions: torch.Tensor | None, action_known: torch.Tensor | None, batch: int, frames: int
    ) -> torch.Tensor:
        """actions (B, T, A) and action_known (B, T) bool -> (B, T, D); the null where not known."""
        null = self.transformer.wne.weight[0]  # (D,)
        if actions is None:
            return null.expand(batch, frames, -1)
        emb = self.transformer.wae(actions)  # (B, T, D)
        return emb if action_known is None else torch.where(action_known[..., None], emb, null)

    def text_context(
        self, text: torch.Tensor | None, text_mask: torch.Tensor | None, drop: torch.Tensor | None, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text (B, L, text_dim) and mask (B, L), with the null text where ``drop`` (B,) or absent.

        A dropped row becomes ``[null, ...]`` with only its first position real, which attends
        exactly like the one-token null context used when ``text`` is None.
        """
        null = self.transformer.wnt.weight[0]  # (text_dim,)
        if text is None:
            return null.expand(batch, 1, -1), torch.ones(batch, 1, dtype=torch.bool, device=null.device)
        mask = text_mask if text_mask is not None else text.new_ones(text.shape[:2], dtype=torch.bool)
        drop = ~mask.any(dim=1) if drop is None else drop | ~mask.any(dim=1)  # (B,)
        first_only = torch.zeros_like(mask)
        first_only[:, 0] = True
        text = torch.where(drop[:, None, None], null.to(text.dtype), text)  # (B, L, text_dim)
        return text, torch.where(drop[:, None], first_only, mask)

    # -- forward ------------------------------------------------------------------------------
    def forward(
        self,
        tokens: torch.Tensor,
        grid: tuple[int, int, int],
        *,
        actions: torch.Tensor | None = None,
        action_known: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Per-digit logits (B, n, Σ levels) of the tokens at positions ``start .. start + n``.

        Args:
            tokens: (B, n) int64 input ids (the token before each position; ``start_id`` at 0).
            grid: the (T, h, w) latent grid of the whole sequence.
            actions: (B, T, action_dim), row t leads into frame t; action_known: (B, T) bool,
                False = use the null action (frames whose action is not known at inference).
            text: (B, L, text_dim); text_mask: (B, L) bool; drop_text: (B,) bool, True = null text.
            cache: positions start at ``cache.length`` (0 without a cache); the new keys and
                values are stored and ``cache.length`` advances by n.
        """
        cfg = self.config
        self.check_grid(grid)
        b, n = tokens.shape
        start = cache.length if cache is not None else 0
        if start + n > math.prod(grid):
            raise ValueError(f"positions {start}..{start + n} run past the grid {tuple(grid)}")
        coords, cos, sin = position_tables(tuple(grid), cfg.head_dim, cfg.rope_theta, tokens.device)
        coords, rope = coords[start : start + n], (cos[start : start + n], sin[start : start + n])  # (n, ·)
        x = self.token_embedding(tokens)  # (B, n, D)
        x = x + self.transformer.wpe_t(coords[:, 0]) + self.transformer.wpe_h(coords[:, 1])
        x = x + self.transformer.wpe_w(coords[:, 2])  # (B, n, D)
        if cfg.action_dim:
            x = x + self.frame_embedding(actions, action_known, b, grid[0])[:, coords[:, 0]]  # (B, n, D)
        context = context_mask = None
        if cfg.text_dim:
            context, context_mask = self.text_context(text, text_mask, drop_text, b)
        for block in self.transformer.h:
            x = block(x, rope, context, context_mask, cache)
        if cache is not None:
            cache.advance(n)
        return self.lm_head(self.transformer.ln_f(x))  # (B, n, Σ levels)

    def digit_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., Σ levels) -> (..., K, max level): one row per digit, padded with -inf."""
        return logits[..., self.pad_index].masked_fill(~self.pad_valid, float("-inf"))

    def token_nll(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """-log p(token) (B, N) under the factorised heads: the sum of the digits' cross-entropies.

        logits: (B, N, Σ levels); tokens: (B, N) target ids.
        """
        digits = self.fsq.indices_to_digits(tokens)  # (B, N, K)
        per_digit = self.digit_logits(logits.float())  # (B, N, K, max level)
        nll = F.cross_entropy(per_digit.flatten(0, -2), digits.flatten(), reduction="none")  # (B·N·K,)
        return nll.view_as(digits).sum(dim=-1)

    # -- generation ---------------------------------------------------------------------------
    def sample_token(self, logits: torch.Tensor, **sampling) -> torch.Tensor:
        """(B, Σ levels) logits -> (B,) token ids: each digit drawn from its own filtered softmax.

        ``sampling``: ``temperature``, ``top_k``, ``top_p``, ``generator`` of ``sample_logits``.
        """
        per_digit = self.digit_logits(logits)  # (B, K, max level)
        digits = sample_logits(per_digit.flatten(0, 1), **sampling).view(per_digit.shape[:2])  # (B, K)
        return (digits * self.digit_basis).sum(dim=-1)

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        grid: tuple[int, int, int],
        *,
        actions: torch.Tensor | None = None,
        action_known: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        generator: Generators = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Continue ``prefix`` (B, P) token ids to all T·h·w tokens of ``grid``: (B, N), first P = prefix.

        With the cache, one forward runs the start token and the prefix, then one per new token;
        without it every step re-runs the whole sequence (the baseline of
        ``benchmarks/ar_cache_speed.py``). Conditioning arguments are those of ``forward``.
        """
        b, p = prefix.shape
        total = math.prod(grid)
        out = torch.empty(b, total, dtype=torch.long, device=prefix.device)
        out[:, :p] = prefix
        start = torch.full((b, 1), self.start_id, dtype=torch.long, device=prefix.device)
        cond = {"actions": actions, "action_known": action_known, "text": text, "text_mask": text_mask}
        sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "generator": generator}
        cache = KVCache(self.config.depth, total) if use_cache else None
        feed = torch.cat([start, prefix], dim=1)  # (B, P + 1): every input known before the first draw
        for i in range(p, total):
            seq = feed if use_cache else torch.cat([start, out[:, :i]], dim=1)
            # Only the last position's logits are needed: they predict token i.
            logits = self(seq, grid, cache=cache, **cond)[:, -1]  # (B, Σ levels)
            out[:, i] = self.sample_token(logits, **sampling)
            feed = out[:, i : i + 1]
        return out

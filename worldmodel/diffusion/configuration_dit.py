"""The DiT backbone's configuration and its size presets (``DIT_MODELS``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from worldmodel.transformer_checks import check_transformer_config


@dataclass
class DiTConfig:
    """A diffusion transformer over tokenizer latents (B, C, T, h, w). Defaults: a tiny CPU model."""

    latent_channels: int = 4
    # C of the tokenizer latent; the network reads 2C + 1 channels (noisy, condition, mask).
    patch_size: tuple[int, int, int] = (1, 2, 2)
    # (t, h, w) latent cells per token; T, h and w must be divisible by it.
    hidden: int = 64
    depth: int = 2
    heads: int = 4
    # hidden / heads must be even and >= 6 (3D RoPE splits each head over t, h, w).
    mlp_ratio: float = 4.0
    adaln_lora_rank: int = 16
    # AdaLN-LoRA (arXiv 2501.03575, Sec. 5.2): rank of each block's adaLN map, added to one base
    # modulation shared by all blocks; 0 = a full-rank adaLN linear per block (DiT).
    qk_norm: bool = True
    # RMSNorm on queries and keys: keeps attention logits bounded in long / low-precision training.
    text_dim: int = 0
    # width of the text encoder's embeddings, read by cross-attention; 0 = no text conditioning.
    action_dim: int = 0
    # width of the per-latent-frame action vectors; 0 = no action conditioning.
    camera_dim: int = 0
    # channels of the per-latent-cell camera map (6 for Plücker rays); 0 = no camera conditioning.
    max_latent_frames: int = 16
    # the longest latent window the model accepts (RoPE is not trusted far beyond training lengths).
    rope_theta: float = 10000.0
    frequency_dim: int = 256
    # width of the sinusoidal features of the noise levels (DiT's TimestepEmbedder).

    def __post_init__(self) -> None:
        self.patch_size = tuple(self.patch_size)
        if len(self.patch_size) != 3 or any(p < 1 for p in self.patch_size):
            raise ValueError(f"patch_size must be three positive ints (t, h, w), got {self.patch_size}")
        check_transformer_config(
            self,
            sizes=("latent_channels", "hidden", "depth", "heads", "max_latent_frames", "frequency_dim"),
            widths=("adaln_lora_rank", "text_dim", "action_dim", "camera_dim"),
        )
        if self.max_latent_frames % self.patch_size[0]:
            raise ValueError(
                f"max_latent_frames ({self.max_latent_frames}) must be divisible by patch_size[0] "
                f"({self.patch_size[0]})"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def in_channels(self) -> int:
        """Noisy latent, clean condition latent and the condition mask (Video2World input)."""
        return 2 * self.latent_channels + 1


DIT_MODELS: dict[str, DiTConfig] = {
    # Tests: seconds on a CPU.
    "DiT-tiny": DiTConfig(hidden=64, depth=2, heads=4, adaln_lora_rank=16),
    # ~3M parameters: trains on a CPU or a small GPU in minutes to hours (shipped checkpoints).
    "DiT-XS": DiTConfig(hidden=192, depth=6, heads=3, adaln_lora_rank=32),
    # DiT-S / DiT-B widths and depths (Peebles & Xie, arXiv 2212.09748, Table 1).
    "DiT-S": DiTConfig(hidden=384, depth=12, heads=6, adaln_lora_rank=64),
    "DiT-B": DiTConfig(hidden=768, depth=12, heads=12, adaln_lora_rank=128),
}


def get_config(name: str, **overrides) -> DiTConfig:
    """A preset from ``DIT_MODELS`` with fields overridden, e.g. ``latent_channels=16, action_dim=4``."""
    if name not in DIT_MODELS:
        raise ValueError(f"unknown DiT preset {name!r}; choose one of {sorted(DIT_MODELS)}")
    return replace(DIT_MODELS[name], **overrides)

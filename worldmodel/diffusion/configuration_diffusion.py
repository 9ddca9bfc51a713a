"""Configuration of the diffusion world model: the DiT backbone plus EDM's training and sampling settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from worldmodel.conditioning import TextEncoderConfig
from worldmodel.diffusion.configuration_dit import DiTConfig


@dataclass
class DiffusionConfig:
    """``DiffusionWorldModel``'s config. Defaults: EDM's (arXiv 2206.00364, Table 1) and a tiny DiT."""

    dit: DiTConfig = field(default_factory=DiTConfig)
    text: TextEncoderConfig | None = None
    # the text encoder nested in the model (Text2World); its output width must equal dit.text_dim.
    sigma_data: float = 0.5
    # std of the (normalised) tokenizer latents; the preconditioning assumes data at this scale.
    p_mean: float = -1.2
    p_std: float = 1.2
    # training noise levels: ln(sigma) ~ N(p_mean, p_std²).
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    # the sampling schedule (eq. 5).
    aug_p_mean: float = -3.0
    aug_p_std: float = 1.0
    # noise augmentation of the conditioning frames in training, ln(sigma_aug) ~ N(aug_p_mean, aug_p_std²):
    # at inference the condition comes from the tokenizer (or the model's own rollout), not the
    # training data, and a little noise on it in training makes the model robust to that gap (Cosmos).
    inference_sigma_aug: float = 0.05
    # sigma_aug at sampling time: the median of the training distribution, exp(aug_p_mean).
    text_drop_prob: float = 0.1
    action_drop_prob: float = 0.1
    camera_drop_prob: float = 0.1
    # classifier-free guidance dropout: the text / actions / camera of a training sample are replaced
    # by the null with this probability, independently.

    def __post_init__(self) -> None:
        if self.text is not None and self.text.dim != self.dit.text_dim:
            raise ValueError(f"dit.text_dim ({self.dit.text_dim}) must equal text.dim ({self.text.dim})")
        for name in ("sigma_data", "p_std", "sigma_min", "rho", "aug_p_std"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max ({self.sigma_max}) must be > sigma_min ({self.sigma_min})")
        if self.inference_sigma_aug < 0:
            raise ValueError(f"inference_sigma_aug must be >= 0, got {self.inference_sigma_aug}")
        for name in ("text_drop_prob", "action_drop_prob", "camera_drop_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

"""Configuration of the autoregressive world model: the GPT backbone, its text encoder, sampling defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from worldmodel.autoregressive.configuration_gpt import GPTConfig
from worldmodel.conditioning import TextEncoderConfig


@dataclass
class ARConfig:
    """``AutoregressiveWorldModel``'s config. Defaults: a tiny GPT, plain sampling from the model."""

    gpt: GPTConfig = field(default_factory=GPTConfig)
    text: TextEncoderConfig | None = None
    # the text encoder nested in the model (Text2World); its output width must equal gpt.text_dim.
    text_drop_prob: float = 0.1
    # share of training clips whose caption is replaced by the learned null text, so the model also
    # predicts video without a prompt (Video2World use of a text-trained model).
    temperature: float = 1.0
    # sampling defaults (``sample`` may override them): logits / temperature, 0 = greedy.
    top_k: int = 0
    # keep the k most probable values of each FSQ digit (0 = all).
    top_p: float = 1.0
    # nucleus sampling per digit: keep the fewest values whose probability sums to >= top_p (1 = all).

    def __post_init__(self) -> None:
        if self.text is not None and self.text.dim != self.gpt.text_dim:
            raise ValueError(f"gpt.text_dim ({self.gpt.text_dim}) must equal text.dim ({self.text.dim})")
        if not 0 <= self.text_drop_prob <= 1:
            raise ValueError(f"text_drop_prob must be in [0, 1], got {self.text_drop_prob}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

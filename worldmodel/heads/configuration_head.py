"""Config of a head on a world model's latents (reward, success, optional dense progress and value)."""

from __future__ import annotations

from dataclasses import dataclass

from worldmodel.latent_shape import checked_latent_shape

ARCHS = ("mlp", "conv")


@dataclass
class RewardHeadConfig:
    """Shape of a ``RewardHead`` and the target statistics it predicts in; defaults fit a CI8x8
    tokenizer on 32 px frames."""

    latent_channels: int = 16
    """channels of the world model's latents"""
    latent_size: tuple[int, int] = (4, 4)
    """(h, w) of one frame's latent"""
    hidden: int = 128
    """width of the MLP's two hidden layers"""
    reward_mean: float = 0.0
    """mean of the training rewards: the head predicts rewards standardised by it and ``reward_std``"""
    reward_std: float = 1.0
    """standard deviation of the training rewards (> 0)"""
    arch: str = "mlp"
    """"mlp" (the flattened latent) or "conv" (3x3 convolutions, then max and mean over positions)"""
    progress: bool = False
    """a third output: dense task progress (the clips' ``progress.npy``, recorded by the simulator)
    for planners"""
    progress_mean: float = 0.0
    """mean of the training progress targets (the head predicts them standardised)"""
    progress_std: float = 1.0
    """standard deviation of the training progress targets (> 0)"""
    reward_min: float | None = None
    """smallest training reward: predictions are clipped to [``reward_min``, ``reward_max``], the
    range the simulator pays (a regression to Fetch's {-1, 0} otherwise strays to -1.75); None does
    not clip (heads saved before the range was recorded)"""
    reward_max: float | None = None
    """largest training reward (see ``reward_min``)"""
    value: bool = False
    """one more output: the discounted return-to-go under the data's policies
    (``training.returns.episode_values``), a planner's terminal value; heads saved before it have none"""
    gamma: float = 0.95
    """discount of the value output's returns, in [0, 1): a horizon of about 1 / (1 - gamma) steps"""
    value_mean: float = 0.0
    """mean of the training returns: the head predicts (return - value_mean) / value_std, as it does
    rewards, so ``RewardHead.value`` gives returns in the rewards' units (Fetch: -1 / (1 - gamma) .. 0)"""
    value_std: float = 1.0
    """standard deviation of the training returns (> 0)"""

    def __post_init__(self) -> None:
        self.latent_size = checked_latent_shape(self.latent_channels, self.latent_size)
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if not self.reward_std > 0:
            raise ValueError(f"reward_std must be > 0, got {self.reward_std}")
        if None not in (self.reward_min, self.reward_max) and self.reward_min > self.reward_max:
            raise ValueError(f"reward_min must be <= reward_max, got {self.reward_min} > {self.reward_max}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if not self.progress_std > 0:
            raise ValueError(f"progress_std must be > 0, got {self.progress_std}")
        if not 0 <= self.gamma < 1:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")
        if not self.value_std > 0:
            raise ValueError(f"value_std must be > 0, got {self.value_std}")

    @property
    def outputs(self) -> int:
        """Columns of the head's output: reward, success logit, then progress and value if present."""
        return 2 + int(self.progress) + int(self.value)

    @property
    def value_column(self) -> int | None:
        """The value's column: the last, after progress when there is one (None without a value)."""
        return 2 + int(self.progress) if self.value else None

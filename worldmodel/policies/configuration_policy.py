"""Config of a policy on a world model's latents (an actor with a critic beside it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from worldmodel.latent_shape import checked_latent_shape


@dataclass
class LatentPolicyConfig:
    """Shape of a ``LatentPolicy`` and the action box it acts in; defaults fit a CI8x8 tokenizer on
    64 px frames (16 x 8 x 8 latents) and Fetch's 4-d actions."""

    latent_channels: int = 16
    """channels of the world model's latents"""
    latent_size: tuple[int, int] = (8, 8)
    """(h, w) of one frame's latent"""
    frames: int = 1
    """K, the latent frames the policy sees (the newest last); a stateless expert such as Fetch's
    needs only the current one"""
    action_dim: int = 4
    """size of an action"""
    action_low: list[float] = field(default_factory=list)
    """the action box's lower corner: the world model's ``action_space`` (its training actions);
    empty: -1 in every dimension"""
    action_high: list[float] = field(default_factory=list)
    """the action box's upper corner; empty: 1 in every dimension"""
    hidden: int = 32
    """channels of the convolutions and width of the actor's and critic's hidden layer"""
    init_std: float = 0.3
    """the Gaussian's initial standard deviation, in units of half the box: the exploration an
    actor-critic starts with (behaviour cloning fits the mean only)"""

    def __post_init__(self) -> None:
        self.latent_size = checked_latent_shape(self.latent_channels, self.latent_size)
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        if self.action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {self.action_dim}")
        self.action_low = [float(x) for x in self.action_low or [-1.0] * self.action_dim]
        self.action_high = [float(x) for x in self.action_high or [1.0] * self.action_dim]
        if len(self.action_low) != self.action_dim or len(self.action_high) != self.action_dim:
            raise ValueError(
                f"action_low and action_high must have action_dim={self.action_dim} entries, got "
                f"{len(self.action_low)} and {len(self.action_high)}"
            )
        if any(lo >= hi for lo, hi in zip(self.action_low, self.action_high, strict=True)):
            raise ValueError(
                f"action_low must be below action_high, got {self.action_low} and {self.action_high}"
            )
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")

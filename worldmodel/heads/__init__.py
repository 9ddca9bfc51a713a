"""Heads on a world model's latents: reward, success, dense progress and value (``RewardHead``).

Importing this package registers the heads with ``worldmodel.hub`` (``kind: "head"``).
"""

from worldmodel.heads.configuration_head import RewardHeadConfig
from worldmodel.heads.modeling_head import (
    PROGRESS,
    REWARD,
    SUCCESS,
    ConvPool,
    RewardHead,
    frame_latents,
    latent_norm_record,
)

REWARD_HEAD_DIR = "reward_head"
"""the reward head's checkpoint folder inside its world model's checkpoint, where envs find it"""

__all__ = [
    "PROGRESS",
    "REWARD",
    "REWARD_HEAD_DIR",
    "SUCCESS",
    "ConvPool",
    "RewardHead",
    "RewardHeadConfig",
    "frame_latents",
    "latent_norm_record",
]

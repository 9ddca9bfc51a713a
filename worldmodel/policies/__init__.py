"""Policies on a world model's latents (``LatentPolicy``): behaviour-cloned, or trained in imagination.

Importing this package registers them with ``worldmodel.hub`` (``kind: "policy"``).
"""

from worldmodel.policies.configuration_policy import LatentPolicyConfig
from worldmodel.policies.modeling_policy import LatentEncoder, LatentPolicy

__all__ = ["LatentEncoder", "LatentPolicy", "LatentPolicyConfig"]

"""EDM diffusion world model: DiT, EDM math, samplers (arXiv 2501.03575 Sec. 5.2; arXiv 2206.00364)."""

from worldmodel.diffusion.configuration_diffusion import DiffusionConfig
from worldmodel.diffusion.configuration_dit import DIT_MODELS, DiTConfig, get_config
from worldmodel.diffusion.denoiser import Denoiser
from worldmodel.diffusion.edm import (
    c_noise,
    cfg_combine,
    edm_scalings,
    karras_sigmas,
    loss_weight,
    sample_sigma_lognormal,
)
from worldmodel.diffusion.modeling_diffusion import DiffusionWorldModel
from worldmodel.diffusion.modeling_dit import DiT
from worldmodel.diffusion.rope import apply_rope, rope_3d, rope_frequencies
from worldmodel.diffusion.samplers import SAMPLERS, sample_euler, sample_heun

__all__ = [
    "DIT_MODELS",
    "SAMPLERS",
    "Denoiser",
    "DiT",
    "DiTConfig",
    "DiffusionConfig",
    "DiffusionWorldModel",
    "apply_rope",
    "c_noise",
    "cfg_combine",
    "edm_scalings",
    "get_config",
    "karras_sigmas",
    "loss_weight",
    "rope_3d",
    "rope_frequencies",
    "sample_euler",
    "sample_heun",
    "sample_sigma_lognormal",
]

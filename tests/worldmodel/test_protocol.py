"""Both model families are WorldFoundationModels: one Conditioning, only their own sampling options."""

import torch

from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.diffusion import DiffusionConfig, DiffusionWorldModel
from worldmodel.protocol import WorldFoundationModel


def test_both_families_follow_the_protocol_with_their_own_options() -> None:
    diffusion, ar = DiffusionWorldModel(DiffusionConfig()), AutoregressiveWorldModel(ARConfig())
    assert isinstance(diffusion, WorldFoundationModel) and isinstance(ar, WorldFoundationModel)
    assert diffusion.sample_options == {"steps", "sampler", "guidance"}
    assert not diffusion.sample_options & ar.sample_options  # nothing taken only to be ignored


def test_conditioning_map_touches_only_the_given_inputs() -> None:
    cond = Conditioning(cond_mask=torch.tensor([[True, False]]), actions=torch.ones(1, 2, 3))
    doubled = cond.map(lambda v: torch.cat([v, v]))
    assert doubled.cond_mask.shape == (2, 2) and doubled.actions.shape == (2, 2, 3)
    assert doubled.text is None and doubled.camera is None

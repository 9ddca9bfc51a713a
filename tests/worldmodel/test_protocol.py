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


def test_trained_nulls_are_the_inputs_training_dropped() -> None:
    from worldmodel.autoregressive.configuration_gpt import GPTConfig
    from worldmodel.diffusion.configuration_dit import DiTConfig

    def dit(**sizes: int) -> DiTConfig:
        return DiTConfig(hidden=32, depth=1, heads=2, adaln_lora_rank=0, **sizes)

    actions = DiffusionWorldModel(DiffusionConfig(dit=dit(action_dim=4)))
    assert actions.trained_nulls == {"actions"}
    never = DiffusionWorldModel(DiffusionConfig(dit=dit(action_dim=4), action_drop_prob=0.0))
    assert never.trained_nulls == frozenset()
    # A camera model's pose vector (its action input) is dropped with the camera, never alone.
    camera = DiffusionConfig(dit=dit(action_dim=10, camera_dim=6), action_drop_prob=0.0)
    assert DiffusionWorldModel(camera).trained_nulls == {"actions", "camera"}
    # The GPT's null action is what every context frame is predicted with.
    gpt = AutoregressiveWorldModel(ARConfig(gpt=GPTConfig(hidden=32, depth=1, heads=2, action_dim=4)))
    assert gpt.trained_nulls == {"actions"}

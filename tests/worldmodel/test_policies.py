"""LatentPolicy: a Gaussian actor squashed into the action box, a critic, saved as a hub "policy"."""

from pathlib import Path

import numpy as np
import pytest
import torch

from worldmodel import hub
from worldmodel.policies import LatentPolicy, LatentPolicyConfig

TINY = {"latent_channels": 3, "latent_size": (4, 4), "action_dim": 2, "hidden": 8}


def tiny(**changes: object) -> LatentPolicy:
    box = {"action_low": [-2.0, 0.0], "action_high": [2.0, 1.0]}
    return LatentPolicy(LatentPolicyConfig(**{**TINY, **box, **changes}))


def test_policy_mean_stays_inside_the_action_box_for_any_latent() -> None:
    torch.manual_seed(0)
    policy = tiny()
    actions = policy.act(100 * torch.randn(64, 3, 4, 4))
    assert actions.shape == (64, 2) and actions.dtype == np.float32
    assert (actions[:, 0] >= -2).all() and (actions[:, 0] <= 2).all()
    assert (actions[:, 1] >= 0).all() and (actions[:, 1] <= 1).all()
    assert policy.value(torch.randn(5, 3, 4, 4)).shape == (5,)


def test_policy_reads_k_frames_and_refuses_other_shapes() -> None:
    policy = tiny(frames=2)
    assert policy.act(np.zeros((3, 2, 3, 4, 4), np.float32)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"reads latents \(B, 2, 3, 4, 4\)"):
        policy.act(np.zeros((3, 3, 4, 4), np.float32))  # one frame for a 2-frame policy


def test_policy_round_trips_through_the_hub_as_kind_policy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = tiny()
    hub.save(policy, tmp_path / "bc", extra={"cloned_policies": ["expert"]})
    assert hub.read_config(tmp_path / "bc")["kind"] == "policy"
    loaded = hub.load(tmp_path / "bc", expect_kind="policy")
    z = torch.randn(4, 3, 4, 4)
    np.testing.assert_array_equal(loaded.act(z), policy.act(z))
    torch.testing.assert_close(loaded.distribution(z).stddev, policy.distribution(z).stddev)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frames": 0}, "frames must be >= 1"),
        ({"action_low": [0.0]}, "must have action_dim=2 entries"),
        ({"action_low": [1.0, 1.0], "action_high": [1.0, 2.0]}, "action_low must be below action_high"),
        ({"init_std": 0.0}, "init_std must be > 0"),
    ],
)
def test_bad_policy_configs_are_clear_errors(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatentPolicyConfig(**{**TINY, "action_low": [-1.0, -1.0], "action_high": [1.0, 1.0], **changes})

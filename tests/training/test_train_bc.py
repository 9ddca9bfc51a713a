"""Behaviour cloning on latents (``training.train_bc``): fits a known mapping, and clones recorded
Fetch episodes into a policy that loads for its world model only."""

from pathlib import Path

import numpy as np
import pytest
import torch

from envs.latent_policy import load_latent_policy
from training.data import DataError
from training.train_bc import BCTrainArgs, Demonstrations, bc_batches, bc_loss, evaluate, train_bc
from worldmodel import hub
from worldmodel.policies import LatentPolicy, LatentPolicyConfig
from worldmodel.world import WorldModel


def known_mapping(n: int, seed: int) -> Demonstrations:
    """Latents (n, 1, 2, 2, 2) and the actions a fixed rule gives them: a steering read off one cell."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 1, 2, 2, 2, generator=g)
    actions = torch.stack([torch.tanh(2 * z[:, 0, 0, 0, 0]), -torch.tanh(z[:, 0, 1, 1, 1])], dim=1)
    return Demonstrations(z, actions)


@pytest.mark.usefixtures("one_thread")
def test_behaviour_cloning_fits_a_known_mapping_from_latents_to_actions() -> None:
    torch.manual_seed(0)
    train, heldout = known_mapping(512, 0), known_mapping(128, 1)
    policy = LatentPolicy(LatentPolicyConfig(latent_channels=2, latent_size=(2, 2), action_dim=2, hidden=16))
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    get_batch = bc_batches(train, 64, seed=0)
    for step in range(400):
        loss, _ = bc_loss(policy, get_batch(step, 0), step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = evaluate(policy, heldout, train.actions.mean(0))
    assert metrics["action_mse"] < 0.1 * metrics["mean_action_mse"], metrics


def test_train_bc_clones_recorded_episodes_into_a_policy_for_its_world_model(
    fetch_world: Path, tmp_path: Path
) -> None:
    shards = fetch_world.parent / "shards"
    args = {"wfm": str(fetch_world), "data": [str(shards)], "steps": 3, "eval_every": 3, "batch_size": 8}
    everyone = ["expert", "noisy_expert", "random"]
    metrics = train_bc(BCTrainArgs(**args, out=str(tmp_path / "bc"), policies=everyone))
    assert {"eval/action_mse", "eval/mean_action_mse"} <= set(metrics)
    payload = hub.read_config(tmp_path / "bc")
    assert payload["kind"] == "policy" and payload["cloned_policies"] == everyone
    world = WorldModel.from_pretrained(fetch_world)
    policy = load_latent_policy(tmp_path / "bc", world)
    z = world.encode(np.zeros((2, 1, *world.frame_size, 3), np.uint8))[:, :, 0]  # (2, C, h, w)
    actions = policy.act(z)
    assert actions.shape == (2, world.action_dim)
    assert (np.abs(actions) <= 1).all()  # the model's action box

    with pytest.raises(DataError, match=r"no clip .* was recorded by \['nobody'\] \(recorded by: \["):
        train_bc(BCTrainArgs(**args, out=str(tmp_path / "none"), policies=["nobody"]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"out": ""}, "out must name"), ({"policies": []}, "policies must name"), ({"frames": 0}, ">= 1")],
)
def test_bad_bc_settings_are_clear_errors(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BCTrainArgs(**{"wfm": "w", "data": ["d"], "out": "o", **changes})

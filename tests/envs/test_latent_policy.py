"""Latent policies in the real simulator (``envs.latent_policy``): the controller encodes the frames
it is shown, the evaluation runs every policy from the same starts, loading checks the latents."""

from pathlib import Path

import numpy as np
import pytest
import torch

from envs.latent_policy import LatentPolicyController, evaluate_in_simulator, load_latent_policy
from tests.latent_square import LatentSquareWorld
from tests.pushed_square import CornerSim, RandomPolicy, draw_square
from worldmodel import hub
from worldmodel.hub import CheckpointError
from worldmodel.policies import LatentPolicy, LatentPolicyConfig


class ToCorner(LatentPolicy):
    """A LatentPolicy whose mean action steps the square toward (0, 0), read off its latent."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -2 * torch.sign(self.stack(z)[:, -2:, 0, 0])  # the newest frame's corner


def square_config(frames: int = 1) -> LatentPolicyConfig:
    box = {"action_low": [-2.0, -2.0], "action_high": [2.0, 2.0]}
    return LatentPolicyConfig(
        latent_channels=2, latent_size=(1, 1), frames=frames, action_dim=2, hidden=4, **box
    )


def square_policy(frames: int = 1) -> LatentPolicy:
    return ToCorner(square_config(frames))


def test_controller_encodes_the_newest_frames_and_returns_the_policy_action() -> None:
    world = LatentSquareWorld()
    seen = []
    policy = square_policy(frames=2)
    policy.act = lambda z: seen.append(np.asarray(z)) or np.zeros((1, 2), np.float32)
    controller = LatentPolicyController(policy, world)
    controller.reset()
    controller(draw_square(np.array([10.0, 4.0])))
    controller(draw_square(np.array([8.0, 2.0])))
    assert seen[0].shape == (1, 2, 2, 1, 1)  # (B, K, C, h, w)
    np.testing.assert_array_equal(seen[0][0, :, :, 0, 0], [[10, 4], [10, 4]])  # first frame repeated
    np.testing.assert_array_equal(seen[1][0, :, :, 0, 0], [[10, 4], [8, 2]])  # oldest first


def test_controller_refuses_a_state_observation_without_a_render() -> None:
    controller = LatentPolicyController(square_policy(), LatentSquareWorld())
    with pytest.raises(ValueError, match="obs_mode='pixels' or pass render=sim.render"):
        controller({"observation": np.zeros(25)})


def test_evaluate_in_simulator_runs_each_policy_from_the_same_starts() -> None:
    world, sim = LatentSquareWorld(), CornerSim()
    to_corner = LatentPolicyController(square_policy(), world)
    results = evaluate_in_simulator(
        sim,
        {"to corner": lambda rng: to_corner, "again": lambda rng: to_corner, "random": RandomPolicy},
        episodes=3,
        steps=12,
        seed=5,
        context_frames=2,
        action_space=sim.action_space,
    )
    assert list(results) == ["to corner", "again", "random"]
    for r in results.values():
        assert set(r) == {"success_rate", "mean_return", "returns", "success"} and len(r["returns"]) == 3
    assert results["to corner"]["returns"] == results["again"]["returns"]  # same starts, same policy
    assert results["to corner"]["success_rate"] == 1.0  # 12 steps of 2 px cross the 24 px field
    assert results["to corner"]["mean_return"] > results["random"]["mean_return"]


def test_load_latent_policy_refuses_another_world_models_latents(tmp_path: Path) -> None:
    world = LatentSquareWorld()
    world.norm = type("Norm", (), {"mean": [0.0], "std": [1.0]})()
    hub.save(LatentPolicy(square_config()), tmp_path / "p", extra={"latent_mean": [0.0], "latent_std": [2.0]})
    with pytest.raises(CheckpointError, match="trained on another world model's latents"):
        load_latent_policy(tmp_path / "p", world)
    hub.save(LatentPolicy(square_config()), tmp_path / "p", extra={"latent_mean": [0.0], "latent_std": [1.0]})
    assert isinstance(load_latent_policy(tmp_path / "p", world), LatentPolicy)

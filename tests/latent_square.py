"""An exact latent-space stand-in for a world model of the pushed-square world (not a learned model).

A "latent frame" is the square's top-left corner, (C=2, h=1, w=1): ``encode`` reads it off
frames, ``rollout_latents`` applies CornerSim's dynamics to it, ``decode`` draws it. A planner
driving it sees exactly what ``CornerSim`` will do, so its failures are the planner's own.
"""

from typing import Any

import numpy as np
import torch

from tests.pushed_square import SIZE, SUCCESS_PX, PerfectSquareWorld, draw_square, square_position


class LatentSquareWorld(PerfectSquareWorld):
    """``PerfectSquareWorld`` with the latent API (``encode``, ``rollout_latents``, ``decode``)."""

    latent_shape = (2, 1, 1)
    device = torch.device("cpu")  # where a latent-mode env keeps its latents

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict[str, Any]] = []

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B, K, H, W, 3) -> positions (B, 2, K, 1, 1)."""
        pos = np.array([[square_position(f) for f in clip] for clip in frames], np.float32)  # (B, K, 2)
        return torch.from_numpy(pos).permute(0, 2, 1)[..., None, None]

    def rollout_latents(
        self, context: torch.Tensor, actions: np.ndarray, *, seed: Any = 0, steps: int | None = None
    ) -> torch.Tensor:
        """Positions (B, 2, K, 1, 1) moved by actions (B, H, A) -> positions (B, 2, H, 1, 1)."""
        self.rollouts.append({"batch": context.shape[0], "actions": np.array(actions)})
        pos = context[:, :, -1, 0, 0].numpy().astype(float)  # (B, 2)
        out = []
        for t in range(actions.shape[1]):
            pos = np.clip(pos + np.round(actions[:, t]), 0, SIZE - 8)
            out.append(pos.astype(np.float32))
        return torch.from_numpy(np.stack(out, axis=2))[..., None, None]

    def decode(self, z: torch.Tensor) -> np.ndarray:
        """Positions (B, 2, T, 1, 1) -> uint8 (B, T, H, W, 3)."""
        pos = z[:, :, :, 0, 0].permute(0, 2, 1).numpy()  # (B, T, 2)
        return np.array([[draw_square(p) for p in clip] for clip in pos])


def corner_latent_reward(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CornerSim's reward and success read off latents (N, 2, 1, 1): minus the distance to (0, 0)."""
    distance = np.linalg.norm(latents[:, :, 0, 0], axis=1)
    return -distance, distance <= SUCCESS_PX

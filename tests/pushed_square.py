"""The pushed-square toy world shared by tests: a white 8x8 square on green, moved by 2-d actions.

Actions fully determine the motion, so a world model can learn it in seconds and an exact
stand-in (``PerfectSquareWorld``) can be written down.
"""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from curation.sample import ClipSample
from curation.shards import ShardWriter
from curation.video_io import encode_video
from worldmodel.info import WorldModelInfo

SIZE = 32
SUCCESS_PX = 4.0


def draw_square(pos: np.ndarray, size: int = SIZE) -> np.ndarray:
    frame = np.full((size, size, 3), (40, 80, 40), np.uint8)
    x, y = np.round(pos).astype(int)
    frame[y : y + 8, x : x + 8] = 250
    return frame


def square_position(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(frame[..., 0] > 200)
    return np.array([xs.min(), ys.min()], float) if len(xs) else np.zeros(2)


def pushed_square_clip(seed: int, t: int = 10, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A clip of ``t`` frames from (12, 12) and the ``t - 1`` integer actions that moved it."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(-2, 3, size=(t - 1, 2)).astype(np.float32)
    pos = np.array([12.0, 12.0])
    frames = np.zeros((t, size, size, 3), np.uint8)
    for k in range(t):
        if k:
            pos = np.clip(pos + actions[k - 1], 0, size - 8)
        frames[k] = draw_square(pos, size)
    return frames, actions


def square_clip_sample(
    key: str, frames: np.ndarray, arrays: dict[str, np.ndarray], **meta: Any
) -> ClipSample:
    """A 10 fps clip of ``SIZE`` px square frames ``(T, H, W, 3)`` with its per-step ``arrays``."""
    meta = {"source": "test", "start_s": 0.0, "end_s": 1.0, "fps": 10.0, **meta}
    meta |= {"width": SIZE, "height": SIZE, "num_frames": len(frames)}
    return ClipSample(key, encode_video(frames, 10.0), meta, arrays=arrays)


def write_square_shards(out: Path, clips: int = 14, t: int = 10, **meta: Any) -> None:
    """``clips`` pushed-square clips (``pushed_square_clip(i, t)``) with their actions, as shards.

    With 14 clips, push-13 falls in the trainers' held-out split (keys are split by hash).
    """
    with ShardWriter(out) as writer:
        for i in range(clips):
            frames, actions = pushed_square_clip(i, t)
            writer.write(square_clip_sample(f"push-{i}", frames, {"actions": actions}, **meta))


class CornerSim(gym.Env[np.ndarray, np.ndarray]):
    """Pushed square (the observation is the frame) paid minus its distance to the top-left corner."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
        self.action_space = gym.spaces.Box(-2, 2, (2,), np.float32)
        self.render_mode = "rgb_array"
        self.pos = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.integers(0, SIZE - 8, size=2).astype(float)
        return self.render(), {"is_success": bool(np.linalg.norm(self.pos) <= SUCCESS_PX)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.pos = np.clip(self.pos + np.round(action), 0, SIZE - 8)
        distance = float(np.linalg.norm(self.pos))
        return self.render(), -distance, False, False, {"is_success": distance <= SUCCESS_PX}

    def render(self) -> np.ndarray:
        return draw_square(self.pos)


class RandomPolicy:
    """Uniform actions in CornerSim's box (``envs.evaluate``'s policy interface)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def reset(self) -> None:
        pass

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-2, 2, size=2).astype(np.float32)


def corner_reward(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
    """CornerSim's reward and success, read off a frame."""
    distance = float(np.linalg.norm(square_position(obs)))
    return -distance, distance <= SUCCESS_PX


class PerfectSquareWorld:
    """A stand-in WorldModel whose predict is CornerSim's exact dynamics (not a learned model)."""

    context_frames = 2
    action_dim = 2
    frame_size = (SIZE, SIZE)
    # No tokenizer or latents behind it: only the fields an env or planner reads are real.
    info = WorldModelInfo(
        tokenizer="(none: exact dynamics)",
        latent_mean=(0.0,),
        latent_std=(1.0,),
        sigma_data=1.0,
        context_frames=context_frames,
        frame_size=frame_size,
        task="robot",
        action_space={"low": [-2.0, -2.0], "high": [2.0, 2.0]},
    )

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict(
        self, context: np.ndarray, *, actions: np.ndarray, horizon: int, seed: int, steps: int
    ) -> np.ndarray:
        batched = context.ndim == 5
        context, actions = (context, actions) if batched else (context[None], actions[None])
        self.calls.append({"batch": len(context), "actions": actions.copy()})
        out = np.empty((len(context), horizon, SIZE, SIZE, 3), np.uint8)
        for b in range(len(context)):
            pos = square_position(context[b, -1])
            for t in range(horizon):
                pos = np.clip(pos + np.round(actions[b, t]), 0, SIZE - 8)
                out[b, t] = draw_square(pos)
        return out if batched else out[0]

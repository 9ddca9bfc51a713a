"""The learned simulator: an action-conditioned ``WorldModel`` as a Gymnasium environment.

``WorldModelEnv`` is one rollout, ``WorldModelVectorEnv`` advances N rollouts with one batched
model call per step. Both start from real frames (given, or rendered by a matching ground-truth
simulator) and draw all randomness, the model's sampling noise included, from ``np_random``, so a
seed fixes a whole episode. ``obs_mode="pixels"`` (the default) observes uint8 frames, each step a
``WorldModel.predict``; ``obs_mode="latent"`` observes the model's latent frames and steps with
``WorldModel.rollout_latents``, which decodes nothing (``render()`` decodes), for agents and
planners that work in the model's latent space. ``make_world_env`` and ``make_world_vector_env``
build them from a checkpoint folder; ``envs.registration``'s lazy entry points call them for
``worldfm/<Task>-WM-v0``. The seed, settings and action checks here (``draw_seed``,
``check_env_settings``, and ``envs.actions.check_actions``) are also ``envs.driving_world_env``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import check_actions
from worldmodel.world import WorldModel

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[SupportsFloat, bool]]
"""``reward_fn(prev_obs, action, obs) -> (reward, terminated)`` for one transition, on the env's
observations (uint8 frames; in latent mode float32 latent frames)."""
SimFactory = Callable[[], gym.Env]
"""Builds the ground-truth simulator whose renders start episodes."""

# Seeds drawn from np_random (simulator resets, model noise) lie in [0, 2**31 - 1), as Fetch's do.
SEED_HIGH = 2**31 - 1
OBS_MODES = ("pixels", "latent")
DEFAULT_RENDER_FPS = 25
"""``render_fps`` of a checkpoint that records no frame rate: the Fetch simulators' 25 fps, at which
the shipped robot models' clips were recorded."""


def render_fps(world: WorldModel) -> float:
    """A learned env's ``metadata["render_fps"]``: its training clips' frame rate, else the default."""
    return float(world.info.fps or DEFAULT_RENDER_FPS)


def draw_seed(rng: np.random.Generator) -> int:
    """A simulator-reset or model-noise seed from ``rng``, in ``[0, SEED_HIGH)``: every learned env
    draws its seeds here, so one ``reset(seed=...)`` fixes a whole episode."""
    return int(rng.integers(SEED_HIGH))


def check_env_settings(render_mode: str | None, render_modes: list[str], sampler_steps: int | None) -> None:
    """The constructor checks of every learned env: a known ``render_mode``, ``sampler_steps`` >= 1."""
    if render_mode not in (None, *render_modes):
        raise ValueError(f"render_mode must be one of {render_modes} or None")
    if sampler_steps is not None and sampler_steps < 1:
        raise ValueError(f"sampler_steps must be >= 1, got {sampler_steps}")


def check_obs_mode(obs_mode: str) -> None:
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {list(OBS_MODES)}, got {obs_mode!r}")


def zero_reward(prev_obs: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
    """The default ``RewardFn``: reward 0, never terminated."""
    return 0.0, False


def resolve_reward_fn(world: WorldModel, reward_fn: RewardFn | None, obs_mode: str = "pixels") -> RewardFn:
    """The reward a ``WorldModelEnv`` uses: the user's ``reward_fn``, else the checkpoint's, else zero.

    The checkpoint's learned reward/done head is the ``reward_head/`` checkpoint in its folder
    (``worldfm train reward``; ``envs.learned_reward.LearnedReward``), found when ``world``
    knows its folder (``world.directory``). A checkpoint that declares a head
    (``world_model.reward_head`` in its ``config.json``) that cannot be found needs an explicit
    ``reward_fn`` rather than silently scoring every step 0. In latent mode the head scores the
    latent observations themselves (it reads latents; nothing is encoded).
    """
    if reward_fn is not None:
        return reward_fn
    directory = getattr(world, "directory", None)
    if directory is not None:
        # Imported here: envs.learned_reward builds on this module's RewardFn.
        from envs.learned_reward import LearnedReward, has_reward_head

        if has_reward_head(directory):
            return LearnedReward.from_checkpoint(directory, world, obs_mode=obs_mode)
    if world.info.reward_head is not None:
        raise ValueError(
            "this checkpoint declares a learned reward head (world_model.reward_head), but no "
            "reward_head/ was found in its folder; pass reward_fn=(prev_obs, action, obs) -> "
            "(reward, terminated), e.g. envs.learned_reward.LearnedReward.from_checkpoint(folder)"
        )
    return zero_reward


def world_spaces(world: WorldModel, obs_mode: str = "pixels") -> tuple[spaces.Box, spaces.Box]:
    """``(observation_space, action_space)`` of one rollout of an action-conditioned ``world``.

    The action box is the range of the actions the model was trained on (``world_model.action_space``
    in the checkpoint): outside it the model's predictions are extrapolation. Pixel observations are
    uint8 ``(H, W, 3)`` frames; latent ones the model's normalised latent frames, float32
    ``world.latent_shape`` (C, h, w), unbounded.
    """
    check_obs_mode(obs_mode)
    box = world.info.action_space
    if world.action_dim == 0 or box is None:
        raise ValueError(
            "WorldModelEnv needs an action-conditioned (robot post-trained) checkpoint, made by "
            "`worldfm train posttrain --task robot`; this one predicts video without actions"
        )
    if world.frame_size is None:
        raise ValueError("the checkpoint's world_model section has no frame_size; WorldModelEnv needs it")
    h, w = world.frame_size
    if obs_mode == "latent":
        observation_space = spaces.Box(-np.inf, np.inf, world.latent_shape, np.float32)
    else:
        observation_space = spaces.Box(0, 255, (h, w, 3), np.uint8)
    low = np.asarray(box.low, np.float32)
    high = np.asarray(box.high, np.float32)
    return observation_space, spaces.Box(low, high, dtype=np.float32)


def simulator_context(sim: gym.Env, seed: int, num_frames: int) -> np.ndarray:
    """Reset ``sim`` with ``seed`` and render ``num_frames`` frames, stepping it with zero actions.

    Returns uint8 ``(num_frames, H, W, 3)``. The same ``(sim, seed)`` gives the same frames, which
    is how a paired simulator is lined up with a ``WorldModelEnv`` episode (``info["sim_reset_seed"]``).
    """
    sim.reset(seed=seed)
    frames = [sim.render()]
    zero = np.zeros(sim.action_space.shape, sim.action_space.dtype)
    for _ in range(num_frames - 1):
        sim.step(zero)
        frames.append(sim.render())
    return np.stack(frames)


class _EpisodeStarts:
    """Context frames for a new episode: the user's, or a fresh reset of the ground-truth simulator.

    The simulator is made on first use and reused: it only renders the first frames of each episode.
    """

    def __init__(
        self, sim_factory: SimFactory | None, context_frames: int, frame_shape: tuple[int, ...]
    ) -> None:
        self.sim_factory = sim_factory
        self.context_frames = context_frames
        self.frame_shape = tuple(frame_shape)
        self._sim: gym.Env | None = None

    def __call__(self, rng: np.random.Generator, frames: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Returns uint8 ``(context_frames, H, W, 3)`` and the reset info."""
        if frames is not None:
            return self._check(frames, "options['frames']"), {}
        if self.sim_factory is None:
            raise ValueError(
                "a world-model episode starts from real frames: pass reset(options={'frames': "
                f"{self._wanted}}}) or build the env with sim_factory= (a matching ground-truth simulator)"
            )
        if self._sim is None:
            self._sim = self.sim_factory()
        seed = draw_seed(rng)
        frames = simulator_context(self._sim, seed, self.context_frames)
        return self._check(frames, "the simulator's frames"), {"sim_reset_seed": seed}

    @property
    def _wanted(self) -> str:
        h, w, c = self.frame_shape
        return f"uint8 (K, {h}, {w}, {c}) with K >= {self.context_frames}"

    def _check(self, frames: Any, what: str) -> np.ndarray:
        k = self.context_frames
        if (
            not isinstance(frames, np.ndarray)
            or frames.dtype != np.uint8
            or frames.ndim != 4
            or frames.shape[1:] != self.frame_shape
            or len(frames) < k
        ):
            got = (
                f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            )
            raise ValueError(f"{what} must be {self._wanted}, got {got}")
        return frames[-k:].copy()

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None


class _PixelRollouts:
    """The last ``context_frames`` frames of N rollouts, stepped by ``WorldModel.predict``."""

    def __init__(self, world: WorldModel, num_envs: int, sampler_steps: int | None) -> None:
        self.world = world
        self.sampler_steps = sampler_steps
        h, w = world.frame_size
        self.frames = np.zeros((num_envs, world.context_frames, h, w, 3), np.uint8)  # (N, K, H, W, 3)

    def start(self, index: np.ndarray, frames: np.ndarray) -> None:
        """Start the rollouts ``index`` from uint8 ``frames`` (M, K, H, W, 3)."""
        self.frames[index] = frames

    def advance(self, index: np.ndarray, actions: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Step the rollouts ``index`` by ``actions`` (M, A) in one model call: (prev obs, obs), (M, ...)."""
        context = self.frames[index]  # (M, K, H, W, 3)
        new = self.world.predict(
            context, actions=actions[:, None], horizon=1, seed=seed, steps=self.sampler_steps
        )[:, 0]  # (M, H, W, 3)
        self.frames[index] = np.concatenate([context[:, 1:], new[:, None]], axis=1)
        return context[:, -1], new

    def observations(self) -> np.ndarray:
        return self.frames[:, -1].copy()  # (N, H, W, 3)

    def render(self) -> np.ndarray:
        return self.frames[:, -1].copy()  # (N, H, W, 3)


class _LatentRollouts:
    """The last ``context_frames`` latent frames of N rollouts, stepped by
    ``WorldModel.rollout_latents``: nothing is decoded but what ``render`` asks for."""

    def __init__(self, world: WorldModel, num_envs: int, sampler_steps: int | None) -> None:
        self.world = world
        self.sampler_steps = sampler_steps
        shape = (num_envs, world.latent_shape[0], world.context_frames, *world.latent_shape[1:])
        self.latents = torch.zeros(shape, device=world.device)  # (N, C, K, h, w)

    def start(self, index: np.ndarray, frames: np.ndarray) -> None:
        """Start the rollouts ``index`` from uint8 ``frames`` (M, K, H, W, 3), encoded in one call."""
        self.latents[torch.as_tensor(index)] = self.world.encode(frames)

    def advance(self, index: np.ndarray, actions: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Step the rollouts ``index`` by ``actions`` (M, A) in one model call: (prev obs, obs),
        each (M, C, h, w)."""
        rows = torch.as_tensor(index)
        context = self.latents[rows]  # (M, C, K, h, w)
        new = self.world.rollout_latents(
            context, actions[:, None], seed=seed, steps=self.sampler_steps
        )  # (M, C, 1, h, w)
        self.latents[rows] = torch.cat([context[:, :, 1:], new], dim=2)
        return context[:, :, -1].cpu().numpy(), new[:, :, 0].cpu().numpy()

    def observations(self) -> np.ndarray:
        # A copy: on CPU .numpy() would share memory with the latents the next step overwrites.
        return self.latents[:, :, -1].cpu().numpy().copy()  # (N, C, h, w) float32

    def render(self) -> np.ndarray:
        return self.world.decode(self.latents[:, :, -1:])[:, 0]  # (N, H, W, 3)


def _rollouts(
    world: WorldModel, num_envs: int, sampler_steps: int | None, obs_mode: str
) -> _PixelRollouts | _LatentRollouts:
    kind = _LatentRollouts if obs_mode == "latent" else _PixelRollouts
    return kind(world, num_envs, sampler_steps)


class WorldModelEnv(gym.Env[np.ndarray, np.ndarray]):
    """A learned simulator: each step is one frame predicted by an action-conditioned world model.

    ## Description
    A world model post-trained on a robot's (or any agent's) recorded episodes predicts the next
    camera frame from the last ``context_frames`` frames and the action taken. This env rolls it
    forward one action at a time, so agents can be trained and planned in the model instead of the
    simulator, and (with ``envs.rerun_recorder.RerunRecorder``) compared to the real thing.

    ## Action Space
    ``Box(low, high, (A,), float32)``: the range of the actions in the model's training data
    (``world_model.action_space`` in the checkpoint), e.g. Fetch's gripper displacement and finger
    command. Out-of-range actions are clipped into the box; a wrong shape or NaN is a ``ValueError``.

    ## Observation Space
    ``obs_mode="pixels"``: ``Box(0, 255, (H, W, 3), uint8)``, the current frame at the model's
    ``frame_size``. ``obs_mode="latent"``: ``Box(-inf, inf, (C, h, w), float32)``, the model's
    normalised latent of the current frame (``WorldModel.latent_shape``); the episode is rolled out
    in latents, never decoded but by ``render()``, and starts from ``encode`` of its start frames.

    ## Rewards
    ``reward_fn(prev_obs, action, obs) -> (reward, terminated)`` on the observations when given;
    otherwise the learned reward head saved beside the checkpoint (``worldfm train reward``), if
    any, which reads latents (in latent mode the observations themselves); otherwise 0 per step.

    ## Starting State
    Real frames: ``reset(options={"frames": uint8 (K, H, W, 3)})`` (the last ``context_frames`` are
    used), or, by default, the ground-truth simulator from ``sim_factory`` reset with a seed drawn
    from ``np_random`` and stepped ``context_frames - 1`` times with zero actions. That seed is
    ``info["sim_reset_seed"]``; ``simulator_context`` replays it.

    ## Episode End
    ``terminated`` comes from ``reward_fn`` (a world model has no terminal state of its own). With
    ``success_ends_episode=False`` that flag is reported as ``info["is_success"]`` instead and the
    episode runs on, as goal-conditioned robot simulators do (Fetch never terminates; the registered
    ``worldfm/Fetch*-WM-v0`` ids are made so, so that the two worlds end episodes alike).
    ``truncated`` is never set here: ``gym.make`` adds ``TimeLimit`` from the registered
    ``max_episode_steps`` (50 for ``worldfm/<Task>-WM-v0``).

    ## Arguments
    - ``world``: an action-conditioned ``WorldModel``.
    - ``sim_factory``: builds the matching ground-truth simulator (``render()`` frames of the model's
      size) used to start episodes when ``reset`` is given no frames.
    - ``reward_fn``: see Rewards.
    - ``sampler_steps``: diffusion sampler steps per predicted frame (fewer: faster, blurrier);
      None uses the checkpoint's recommended count.
    - ``render_mode``: ``"rgb_array"`` (``render()`` returns the current frame) or ``None``.
    - ``obs_mode``: ``"pixels"`` or ``"latent"``; see Observation Space.
    - ``success_ends_episode``: see Episode End.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": DEFAULT_RENDER_FPS}

    def __init__(
        self,
        world: WorldModel,
        *,
        sim_factory: SimFactory | None = None,
        reward_fn: RewardFn | None = None,
        sampler_steps: int | None = None,
        render_mode: str | None = "rgb_array",
        obs_mode: str = "pixels",
        success_ends_episode: bool = True,
    ) -> None:
        check_env_settings(render_mode, self.metadata["render_modes"], sampler_steps)
        self.success_ends_episode = success_ends_episode
        self.metadata = {**self.metadata, "render_fps": render_fps(world)}
        self.observation_space, self.action_space = world_spaces(world, obs_mode)
        self.world = world
        self.context_frames = world.context_frames
        self.sampler_steps = sampler_steps
        self.render_mode = render_mode
        self.obs_mode = obs_mode
        self.reward_fn = resolve_reward_fn(world, reward_fn, obs_mode)
        h, w = world.frame_size
        self._starts = _EpisodeStarts(sim_factory, world.context_frames, (h, w, 3))
        self._rollout = _rollouts(world, 1, sampler_steps, obs_mode)
        self._started = False
        self._one = np.zeros(1, np.int64)  # the index of the only rollout

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        frames, info = self._starts(self.np_random, (options or {}).get("frames"))
        self._rollout.start(self._one, frames[None])
        self._started = True
        return self._rollout.observations()[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._started:
            raise ResetNeeded("WorldModelEnv: call reset() before step(); an episode needs start frames")
        a = check_actions(action, self.action_space)
        prev, obs = self._rollout.advance(self._one, a[None], draw_seed(self.np_random))
        reward, done = self.reward_fn(prev[0], a, obs[0])
        if self.success_ends_episode:
            return obs[0], float(reward), bool(done), False, {}
        return obs[0], float(reward), False, False, {"is_success": bool(done)}

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 ``(H, W, 3)``, decoded in latent mode (``None`` when
        ``render_mode`` is ``None``)."""
        if self.render_mode is None:
            return None
        if not self._started:
            raise ResetNeeded("WorldModelEnv: call reset() before render()")
        return self._rollout.render()[0]

    def close(self) -> None:
        self._starts.close()


class WorldModelVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """``num_envs`` ``WorldModelEnv`` rollouts advanced by one batched model call per step.

    Spaces, rewards, starting states and ``obs_mode`` are those of ``WorldModelEnv``; observations
    are batched to ``(num_envs, H, W, 3)`` (latent mode: ``(num_envs, C, h, w)``, stepped by one
    ``WorldModel.rollout_latents`` call that decodes nothing, rewarded by one reward-head call) and
    actions to ``(num_envs, A)``. Sub-environments truncate after
    ``max_episode_steps`` steps and autoreset as Gymnasium 1.x vector envs do
    (``metadata["autoreset_mode"]``):

    - ``NEXT_STEP`` (default): the step after an episode ends resets that sub-environment (its action
      is ignored, reward 0, terminated and truncated False) and returns its first frame.
    - ``SAME_STEP``: the ending step already returns the next episode's first frame; the last frame
      is ``info["final_obs"][i]``.
    - ``DISABLED``: ended sub-environments must be reset with
      ``reset(options={"reset_mask": mask})`` before the next step.

    ``reset(options=...)`` takes ``"frames"``: uint8 ``(num_envs, K, H, W, 3)`` start frames, and
    ``"reset_mask"``: bool ``(num_envs,)`` to reset only some sub-environments.

    One model seed per step is drawn from ``np_random`` for the whole batch, so a vector env is
    reproducible from its own seed, but its rollouts differ from those of N separate ``WorldModelEnv``.
    ``render()`` returns each sub-environment's current frame (decoded, in latent mode).
    """

    metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": DEFAULT_RENDER_FPS,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        world: WorldModel,
        num_envs: int = 1,
        *,
        sim_factory: SimFactory | None = None,
        reward_fn: RewardFn | None = None,
        sampler_steps: int | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = "rgb_array",
        obs_mode: str = "pixels",
        success_ends_episode: bool = True,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        check_env_settings(render_mode, self.metadata["render_modes"], sampler_steps)
        self.metadata = {
            **self.metadata,
            "autoreset_mode": AutoresetMode(autoreset_mode),
            "render_fps": render_fps(world),
        }
        self.num_envs = num_envs
        self.success_ends_episode = success_ends_episode
        self.single_observation_space, self.single_action_space = world_spaces(world, obs_mode)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.world = world
        self.context_frames = world.context_frames
        self.sampler_steps = sampler_steps
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.obs_mode = obs_mode
        self.reward_fn = resolve_reward_fn(world, reward_fn, obs_mode)
        self._rewards = _batch_reward_fn(self.reward_fn, obs_mode)
        h, w = world.frame_size
        self._starts = _EpisodeStarts(sim_factory, world.context_frames, (h, w, 3))
        self._rollouts = _rollouts(world, num_envs, sampler_steps, obs_mode)
        self._started = False
        self._steps = np.zeros(num_envs, np.int64)
        # Sub-environments whose episode ended on the last step (NEXT_STEP resets them on this one).
        self._ended = np.zeros(num_envs, bool)

    @property
    def autoreset_mode(self) -> AutoresetMode:
        return self.metadata["autoreset_mode"]

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        mask = options.get("reset_mask")
        if mask is None:
            mask = np.ones(self.num_envs, bool)
        elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,)):
            raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},)")
        if not self._started and not mask.all():
            raise ResetNeeded("WorldModelVectorEnv: the first reset() must reset every sub-environment")
        frames = options.get("frames")
        if frames is not None and len(frames) != self.num_envs:
            raise ValueError(
                f"options['frames'] must hold one (K, H, W, 3) stack per sub-environment: "
                f"({self.num_envs}, K, H, W, 3), got {len(frames)} stacks"
            )
        infos = self._reset_envs(mask, frames, {})
        return self._rollouts.observations(), infos

    def _reset_envs(self, mask: np.ndarray, frames: Any, infos: dict[str, Any]) -> dict[str, Any]:
        index = np.flatnonzero(mask)
        starts = []
        for i in index:
            start, info = self._starts(self.np_random, None if frames is None else frames[i])
            starts.append(start)
            infos = self._add_info(infos, info, i)
        self._rollouts.start(index, np.stack(starts))
        self._started = True
        self._steps[mask] = 0
        self._ended[mask] = False
        return infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise ResetNeeded("WorldModelVectorEnv: call reset() before step()")
        a = check_actions(actions, self.single_action_space, (self.num_envs,))
        if self.autoreset_mode is AutoresetMode.DISABLED and self._ended.any():
            raise ValueError(
                f"sub-environments {np.flatnonzero(self._ended).tolist()} have ended; with "
                "autoreset_mode=DISABLED reset them with reset(options={'reset_mask': mask}) first"
            )
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            resetting = self._ended.copy()
        else:
            resetting = np.zeros(self.num_envs, bool)
        rewards = np.zeros(self.num_envs, np.float64)
        done = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        stepping = np.flatnonzero(~resetting)
        if len(stepping):
            prev, obs = self._rollouts.advance(stepping, a[stepping], draw_seed(self.np_random))
            rewards[stepping], done[stepping] = self._rewards(prev, a[stepping], obs)
            self._steps[stepping] += 1
            if self.max_episode_steps is not None:
                truncated[stepping] = self._steps[stepping] >= self.max_episode_steps
        terminated = done if self.success_ends_episode else np.zeros(self.num_envs, bool)
        ended = terminated | truncated
        infos: dict[str, Any] = {}
        if not self.success_ends_episode:
            # Vector-info convention: the value array and its "_key" mask of envs that set it.
            infos = {"is_success": done.copy(), "_is_success": ~resetting}
        if resetting.any():
            infos = self._reset_envs(resetting, None, infos)
        if self.autoreset_mode is AutoresetMode.SAME_STEP and ended.any():
            final = self._rollouts.observations()
            for i in np.flatnonzero(ended):
                infos = self._add_info(infos, {"final_obs": final[i], "final_info": {}}, i)
            infos = self._reset_envs(ended, None, infos)
        else:
            self._ended = ended
        return self._rollouts.observations(), rewards, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        """The current frame of each sub-environment, uint8 ``(H, W, 3)``, decoded in one call in
        latent mode (``None`` when ``render_mode`` is ``None``)."""
        if self.render_mode is None:
            return None
        if not self._started:
            raise ResetNeeded("WorldModelVectorEnv: call reset() before render()")
        return tuple(self._rollouts.render())

    def close_extras(self, **kwargs: Any) -> None:
        self._starts.close()


def _batch_reward_fn(
    reward_fn: RewardFn, obs_mode: str
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``fn(prev (M, ...), actions (M, A), obs (M, ...)) -> (rewards (M,), terminated (M,))``.

    In latent mode a learned head scores the whole batch in one call (there is nothing to encode,
    so that call is the whole cost); in pixel mode each transition is scored on its own, as always.
    """
    if obs_mode == "latent":
        # Imported here: envs.learned_reward builds on this module's RewardFn.
        from envs.learned_reward import as_batch_reward_fn

        return as_batch_reward_fn(reward_fn)

    def each(prev: np.ndarray, actions: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [reward_fn(p, a, o) for p, a, o in zip(prev, actions, obs, strict=True)]
        return np.array([float(r) for r, _ in out], np.float64), np.array([bool(d) for _, d in out], bool)

    return each


def _sim_factory(
    sim_factory: SimFactory | None, sim_id: str | None, sim_kwargs: Mapping[str, Any] | None
) -> SimFactory | None:
    # Registered specs carry the simulator as an id (specs must stay serialisable); callers may
    # pass a factory instead, which wins.
    if sim_factory is not None or sim_id is None:
        return sim_factory
    return partial(gym.make, sim_id, **dict(sim_kwargs or {}))


def make_world_env(
    checkpoint: str | os.PathLike,
    *,
    device: str = "cpu",
    precision: str | None = None,
    sim_factory: SimFactory | None = None,
    sim_id: str | None = None,
    sim_kwargs: Mapping[str, Any] | None = None,
    reward_fn: RewardFn | None = None,
    sampler_steps: int | None = None,
    render_mode: str | None = "rgb_array",
    obs_mode: str = "pixels",
    success_ends_episode: bool = True,
) -> WorldModelEnv:
    """Gymnasium entry point: a ``WorldModelEnv`` on the world-model checkpoint ``checkpoint``.

    ``sim_id`` / ``sim_kwargs`` name the matching ground-truth simulator (``gym.make(sim_id,
    **sim_kwargs)``) when no ``sim_factory`` is given; ``precision`` ("fp32" / "bf16", default the
    checkpoint's) is ``WorldModel``'s; the rest are ``WorldModelEnv``'s arguments.
    """
    return WorldModelEnv(
        WorldModel.from_pretrained(checkpoint, device=device, precision=precision),
        sim_factory=_sim_factory(sim_factory, sim_id, sim_kwargs),
        reward_fn=reward_fn,
        sampler_steps=sampler_steps,
        render_mode=render_mode,
        obs_mode=obs_mode,
        success_ends_episode=success_ends_episode,
    )


def make_world_vector_env(
    checkpoint: str | os.PathLike,
    num_envs: int = 1,
    *,
    device: str = "cpu",
    precision: str | None = None,
    sim_factory: SimFactory | None = None,
    sim_id: str | None = None,
    sim_kwargs: Mapping[str, Any] | None = None,
    reward_fn: RewardFn | None = None,
    sampler_steps: int | None = None,
    max_episode_steps: int | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    render_mode: str | None = "rgb_array",
    obs_mode: str = "pixels",
    success_ends_episode: bool = True,
) -> WorldModelVectorEnv:
    """Gymnasium vector entry point: ``gym.make_vec(id, n, vectorization_mode="vector_entry_point")``."""
    return WorldModelVectorEnv(
        WorldModel.from_pretrained(checkpoint, device=device, precision=precision),
        num_envs,
        sim_factory=_sim_factory(sim_factory, sim_id, sim_kwargs),
        reward_fn=reward_fn,
        sampler_steps=sampler_steps,
        max_episode_steps=max_episode_steps,
        autoreset_mode=autoreset_mode,
        render_mode=render_mode,
        obs_mode=obs_mode,
        success_ends_episode=success_ends_episode,
    )

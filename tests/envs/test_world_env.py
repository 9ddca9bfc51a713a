"""WorldModelEnv / WorldModelVectorEnv on a tiny world model trained in seconds on pushed squares."""

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from app.cli import main
from envs.registration import register_world_model_envs, simulator_for
from envs.sim.fetch import FetchSimEnv
from envs.world_env import (
    SEED_HIGH,
    WorldModelEnv,
    WorldModelVectorEnv,
    make_world_env,
    simulator_context,
)
from tests.pushed_square import SIZE, CornerSim, draw_square, write_square_shards
from tests.tiny_worlds import tiny_training_args
from worldmodel.info import WorldModelInfo
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import WorldModel

TEST_ID = "worldfm/TestPush-WM-v0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CI8x8-tiny tokenizer, a video-only DiT-tiny and its robot post-trained (action) version."""
    root = tmp_path_factory.mktemp("world_env")
    shards = root / "shards"
    write_square_shards(shards)
    common = tiny_training_args(shards)
    tok, wfm, robot = root / "tok", root / "wfm", root / "robot"
    assert main(["train", "tokenizer", "--config", "CI8x8-tiny", "--out", str(tok), *common]) == 0
    wfm_args = ["--tokenizer", str(tok), "--dit", "DiT-tiny", *common]
    assert main(["train", "diffusion", "--out", str(wfm), *wfm_args]) == 0
    robot_args = ["--task", "robot", "--from", str(wfm), "--out", str(robot), *wfm_args]
    assert main(["train", "posttrain", *robot_args]) == 0
    return {"root": root, "tok": tok, "wfm": wfm, "robot": robot}


@pytest.fixture(scope="module")
def world(trained: dict[str, Path]) -> WorldModel:
    return WorldModel.from_pretrained(trained["robot"])


@pytest.fixture
def env(world: WorldModel) -> Iterator[WorldModelEnv]:
    env = WorldModelEnv(world, sim_factory=CornerSim, sampler_steps=2)
    yield env
    env.close()


@pytest.fixture
def registered(trained: dict[str, Path]) -> Iterator[str]:
    gym.register(
        TEST_ID,
        entry_point="envs.world_env:make_world_env",
        vector_entry_point="envs.world_env:make_world_vector_env",
        kwargs={"checkpoint": str(trained["robot"]), "sampler_steps": 2},
        max_episode_steps=3,
    )
    yield TEST_ID
    gym.registry.pop(TEST_ID)


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    for a in actions:
        frames.append(env.step(a)[0])
    return frames


def test_env_passes_gymnasium_check_env(env: WorldModelEnv) -> None:
    with warnings.catch_warnings():
        # The action box is the training data's range (here +-2 pixels), not a normalised [-1, 1].
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        check_env(env.unwrapped, skip_render_check=True)


def test_env_spaces_come_from_the_checkpoint(env: WorldModelEnv, world: WorldModel) -> None:
    assert env.observation_space == gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
    box = world.info.action_space
    np.testing.assert_array_equal(env.action_space.low, np.asarray(box.low, np.float32))
    np.testing.assert_array_equal(env.action_space.high, np.asarray(box.high, np.float32))
    assert env.action_space.shape == (2,) and env.metadata["render_modes"] == ["rgb_array"]


def test_env_reset_same_seed_same_obs(env: WorldModelEnv) -> None:
    actions = np.array([[1, 0], [0, -2], [2, 2]], np.float32)
    first = rollout(env, 3, actions)
    second = rollout(env, 3, actions)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = rollout(env, 4, actions)
    assert not np.array_equal(first[0], other[0])


def test_step_is_one_predict_call_seeded_from_np_random(env: WorldModelEnv, world: WorldModel) -> None:
    obs, info = env.reset(seed=5)
    action = np.array([1.0, -1.0], np.float32)
    frame, reward, terminated, truncated, step_info = env.step(action)
    assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8 and frame in env.observation_space
    assert (reward, terminated, truncated, step_info) == (0.0, False, False, {})
    np.testing.assert_array_equal(env.render(), frame)
    # Replay the env's draws: the simulator's reset seed, then the model's noise seed.
    rng = np.random.default_rng(5)
    sim_seed, model_seed = int(rng.integers(SEED_HIGH)), int(rng.integers(SEED_HIGH))
    assert info == {"sim_reset_seed": sim_seed}
    context = simulator_context(CornerSim(), sim_seed, world.context_frames)
    np.testing.assert_array_equal(obs, context[-1])
    expected = world.predict(context, actions=action[None], horizon=1, seed=model_seed, steps=2)[0]
    np.testing.assert_array_equal(frame, expected)


def test_reset_from_user_frames_keeps_the_last_context_frames(env: WorldModelEnv, world: WorldModel) -> None:
    frames = np.stack([draw_square(np.array([p, p], float)) for p in (0, 5, 10)])
    obs, info = env.reset(seed=0, options={"frames": frames})
    np.testing.assert_array_equal(obs, frames[-1])
    assert info == {}
    action = np.array([2.0, 0.0], np.float32)
    frame = env.step(action)[0]
    seed = int(np.random.default_rng(0).integers(SEED_HIGH))
    expected = world.predict(frames[-2:], actions=action[None], horizon=1, seed=seed, steps=2)[0]
    np.testing.assert_array_equal(frame, expected)


def test_reset_needs_frames_of_the_model_size_or_a_simulator(world: WorldModel) -> None:
    env = WorldModelEnv(world, sampler_steps=2)
    with pytest.raises(ValueError, match="starts from real frames.*sim_factory"):
        env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be uint8 \(K, 32, 32, 3\) with K >= 2"):
        env.reset(options={"frames": np.zeros((2, 16, 16, 3), np.uint8)})
    with pytest.raises(ValueError, match="K >= 2"):
        env.reset(options={"frames": np.zeros((1, SIZE, SIZE, 3), np.uint8)})


def test_step_before_reset_raises_reset_needed(env: WorldModelEnv) -> None:
    with pytest.raises(ResetNeeded, match="call reset"):
        env.step(np.zeros(2, np.float32))


def test_bad_actions_are_errors_and_out_of_range_actions_are_clipped(env: WorldModelEnv) -> None:
    env.reset(seed=1)
    with pytest.raises(ValueError, match=r"action must have shape \(2,\), got \(3,\)"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0]))
    high = env.action_space.high
    clipped = rollout(env, 1, [high])[-1]
    beyond = rollout(env, 1, [high + 10])[-1]
    np.testing.assert_array_equal(clipped, beyond)


def test_video_only_checkpoint_is_refused(trained: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"action-conditioned \(robot post-trained\) checkpoint"):
        make_world_env(trained["wfm"])


def test_reward_fn_sets_reward_and_termination(world: WorldModel) -> None:
    seen: list[tuple[Any, ...]] = []

    def reward_fn(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        seen.append((prev, action, obs))
        return 1.5, True

    env = WorldModelEnv(world, sim_factory=CornerSim, reward_fn=reward_fn, sampler_steps=2)
    start, _ = env.reset(seed=0)
    obs, reward, terminated, _, _ = env.step(np.array([9.0, 0.0]))
    assert (reward, terminated) == (1.5, True)
    prev, action, frame = seen[0]
    np.testing.assert_array_equal(prev, start)
    np.testing.assert_array_equal(frame, obs)
    np.testing.assert_array_equal(action, np.minimum([9.0, 0.0], env.action_space.high))


def test_success_reported_in_info_lets_the_episode_run_on_like_fetch(world: WorldModel) -> None:
    def solved(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        return 0.0, True

    env = WorldModelEnv(
        world, sim_factory=CornerSim, reward_fn=solved, sampler_steps=2, success_ends_episode=False
    )
    env.reset(seed=0)
    for _ in range(2):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert (terminated, truncated, info) == (False, False, {"is_success": True})
    vec = WorldModelVectorEnv(
        world, 3, sim_factory=CornerSim, reward_fn=solved, sampler_steps=2, success_ends_episode=False
    )
    vec.reset(seed=0)
    _, _, terminated, _, infos = vec.step(vec.action_space.sample())
    assert not terminated.any()
    np.testing.assert_array_equal(infos["is_success"], [True, True, True])
    np.testing.assert_array_equal(infos["_is_success"], [True, True, True])


def test_registered_fetch_twins_report_success_rather_than_terminate() -> None:
    from envs.registration import NEVER_TERMINATING_SIMS, SIM_ENVS, _learned_env

    assert set(SIM_ENVS) >= NEVER_TERMINATING_SIMS
    kind, kwargs = _learned_env(SHIPPED_CHECKPOINTS / "fetchpush-wm-dit", {})
    assert (kind, kwargs["sim_id"], kwargs["success_ends_episode"]) == (
        "action",
        "worldfm/FetchPush-v0",
        False,
    )
    # A user's own choice wins.
    _, kwargs = _learned_env(SHIPPED_CHECKPOINTS / "fetchpush-wm-dit", {"success_ends_episode": True})
    assert kwargs["success_ends_episode"] is True


def test_checkpoint_reward_head_needs_an_explicit_reward_fn(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    world.info = world.info.replace(reward_head={"path": "reward_head"})
    with pytest.raises(ValueError, match="learned reward head.*reward_fn"):
        WorldModelEnv(world)
    WorldModelEnv(world, reward_fn=lambda prev, action, obs: (0.0, False))


def test_fetch_simulator_starts_episodes(world: WorldModel) -> None:
    env = WorldModelEnv(world, sim_factory=lambda: FetchSimEnv("push", size=SIZE), sampler_steps=2)
    obs, info = env.reset(seed=0)
    sim = FetchSimEnv("push", size=SIZE)
    expected = simulator_context(sim, info["sim_reset_seed"], world.context_frames)
    sim.close()
    env.close()
    np.testing.assert_array_equal(obs, expected[-1])
    assert obs.std() > 10  # a rendered table scene, not a blank buffer


def test_gym_make_truncates_at_max_episode_steps(registered: str) -> None:
    env = gym.make(registered, sim_factory=CornerSim)
    env.reset(seed=0)
    truncations = [env.step(env.action_space.sample())[3] for _ in range(3)]
    env.close()
    assert truncations == [False, False, True]


def count_predict_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch ``WorldModel.predict`` to record the batch size of each call."""
    calls: list[int] = []
    predict = WorldModel.predict

    def counting(self: WorldModel, context: np.ndarray, **kwargs: Any) -> np.ndarray:
        calls.append(len(context) if context.ndim == 5 else 1)
        return predict(self, context, **kwargs)

    monkeypatch.setattr(WorldModel, "predict", counting)
    return calls


def test_make_vec_steps_all_envs_with_one_predict_call(
    registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = gym.make_vec(
        registered, num_envs=4, vectorization_mode="vector_entry_point", sim_factory=CornerSim
    )
    assert isinstance(envs.unwrapped, WorldModelVectorEnv)
    assert envs.single_observation_space.shape == (SIZE, SIZE, 3) and envs.single_action_space.shape == (2,)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    calls = count_predict_calls(monkeypatch)
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (4, SIZE, SIZE, 3) and obs.dtype == np.uint8
    assert infos["_sim_reset_seed"].all()
    envs.action_space.seed(0)
    for step in range(1, 4):
        obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert obs.shape == (4, SIZE, SIZE, 3) and obs in envs.observation_space
        assert calls == [4] * step
        assert rewards.shape == (4,) and not terminated.any()
    assert truncated.all()  # registered max_episode_steps=3
    # NEXT_STEP autoreset: the step after truncation starts new episodes without predicting.
    obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
    assert calls == [4] * 3 and not truncated.any() and infos["_sim_reset_seed"].all()
    assert len(envs.render()) == 4
    envs.close()


def test_vector_env_same_seed_same_obs(world: WorldModel) -> None:
    envs = WorldModelVectorEnv(world, 3, sim_factory=CornerSim, sampler_steps=2)
    actions = np.ones((3, 2), np.float32)
    runs = []
    for _ in range(2):
        obs, _ = envs.reset(seed=7)
        runs.append((obs, envs.step(actions)[0]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0][0], runs[0][0][1])  # sub-environments start apart
    envs.close()


def test_vector_env_same_step_autoreset_reports_final_obs(world: WorldModel) -> None:
    envs = WorldModelVectorEnv(
        world, 2, sim_factory=CornerSim, sampler_steps=2, max_episode_steps=1, autoreset_mode="SameStep"
    )
    envs.reset(seed=0)
    obs, _, _, truncated, infos = envs.step(np.zeros((2, 2), np.float32))
    assert truncated.all() and infos["_final_obs"].all()
    for i in range(2):
        assert infos["final_obs"][i].shape == (SIZE, SIZE, 3)
        assert not np.array_equal(infos["final_obs"][i], obs[i])
    # The new one-step episodes are stepped at once: no NEXT_STEP-style reset step in between.
    assert envs.step(np.zeros((2, 2), np.float32))[3].all()
    envs.close()


def test_vector_env_disabled_autoreset_needs_masked_resets(world: WorldModel) -> None:
    envs = WorldModelVectorEnv(
        world, 4, sim_factory=CornerSim, sampler_steps=2, max_episode_steps=1, autoreset_mode="Disabled"
    )
    envs.reset(seed=0)
    actions = np.zeros((4, 2), np.float32)
    before = envs.step(actions)[0]
    mask = np.array([True, True, False, False])
    obs, _ = envs.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(obs[2:], before[2:])
    with pytest.raises(ValueError, match=r"sub-environments \[2, 3\] have ended.*reset_mask"):
        envs.step(actions)
    envs.reset(options={"reset_mask": ~mask})
    assert envs.step(actions)[3].all()
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": [True] * 4})
    envs.close()


def test_vector_env_bad_input_is_a_clear_error(world: WorldModel) -> None:
    envs = WorldModelVectorEnv(world, 2, sampler_steps=2)
    with pytest.raises(ResetNeeded):
        envs.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="one .* stack per sub-environment"):
        envs.reset(options={"frames": np.zeros((3, 2, SIZE, SIZE, 3), np.uint8)})
    frames = np.zeros((2, 2, SIZE, SIZE, 3), np.uint8)
    obs, _ = envs.reset(options={"frames": frames})
    assert obs.shape == (2, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match=r"action must have shape \(2, 2\)"):
        envs.step(np.zeros(2, np.float32))


def test_register_world_model_envs_finds_action_checkpoints(trained: dict[str, Path]) -> None:
    ids = register_world_model_envs(trained["root"])  # tok/, wfm/ (no actions) and robot/
    try:
        assert ids == ["worldfm/Robot-WM-v0"]
        spec = gym.spec(ids[0])
        assert spec.kwargs == {"checkpoint": str(trained["robot"])}
        assert spec.max_episode_steps == 50
        assert spec.entry_point == "envs.registration:make_learned_env"
        assert spec.vector_entry_point == "envs.registration:make_learned_vector_env"
        # The lazy entry point reads the checkpoint at gym.make and builds its WorldModelEnv.
        env = gym.make(ids[0], sim_factory=CornerSim, sampler_steps=1)
        assert isinstance(env.unwrapped, WorldModelEnv) and env.action_space.shape == (2,)
        env.close()
        envs = gym.make_vec(ids[0], 2, sim_factory=CornerSim, sampler_steps=1)
        assert isinstance(envs.unwrapped, WorldModelVectorEnv)
        envs.close()
    finally:
        gym.registry.pop("worldfm/Robot-WM-v0", None)


def test_register_world_model_envs_names_ids_and_simulators(tmp_path: Path) -> None:
    base = {"tokenizer": "../tok", "latent_mean": [0.0], "latent_std": [1.0], "sigma_data": 0.5}
    base["context_frames"] = 1
    robot = base | {"task": "robot", "action_space": {"low": [-1], "high": [1], "dim": 1}}
    configs = {
        "fetchpush-wm-dit": {"kind": "diffusion", "world_model": robot},
        "mine": {"kind": "diffusion", "world_model": robot | {"env_id": "worldfm/Mine-WM-v0"}},
        "video-only": {"kind": "diffusion", "world_model": base | {"task": None}},
        "tokenizer": {"kind": "tokenizer"},
    }
    for name, config in configs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    ids = register_world_model_envs(tmp_path)
    try:
        assert ids == ["worldfm/FetchPush-WM-v0", "worldfm/Mine-WM-v0"]
        assert gym.spec("worldfm/Mine-WM-v0").kwargs == {"checkpoint": str(tmp_path / "mine")}
        # At gym.make, the folder's task names the simulator that starts episodes.
        fetch = simulator_for(
            tmp_path / "fetchpush-wm-dit",
            WorldModelInfo.from_dict(configs["fetchpush-wm-dit"]["world_model"]),
        )
        assert fetch == {"id": "worldfm/FetchPush-v0", "kwargs": {}}
        assert (
            simulator_for(tmp_path / "mine", WorldModelInfo.from_dict(configs["mine"]["world_model"])) is None
        )
    finally:
        for env_id in ids:
            gym.registry.pop(env_id, None)


def test_bf16_precision_predicts_what_fp32_does_and_is_chosen_for_the_machine(
    trained: dict[str, Path], tmp_path: Path, monkeypatch, capfd
) -> None:
    import shutil

    import torch

    from worldmodel import hub, precision

    fp32 = WorldModel.from_pretrained(trained["robot"])
    bf16 = WorldModel.from_pretrained(trained["robot"], precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    context = np.stack([draw_square(np.array([10.0, 12.0]))] * fp32.context_frames)
    actions = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    a = fp32.predict(context, actions=actions, horizon=2, seed=3, steps=2).astype(int)
    b = bf16.predict(context, actions=actions, horizon=2, seed=3, steps=2).astype(int)
    assert np.abs(a - b).mean() < 4.0
    latents = bf16.encode(context[None])
    assert latents.dtype == torch.float32

    # A checkpoint measured to lose nothing in bf16 runs in bf16 only where the hardware has bf16
    # units; an explicit argument or WORLDFM_PRECISION still wins.
    copy = tmp_path / "robot-bf16"
    shutil.copytree(trained["robot"], copy)
    hub.update_section(copy, "world_model", {"bf16_cost_db": 0.01, "tokenizer": str(trained["tok"])})
    monkeypatch.setattr("worldmodel.world.bf16_is_fast", lambda device: (False, "an AVX2 CPU"))
    assert WorldModel.from_pretrained(copy).precision == "fp32"
    assert "robot-bf16 runs in fp32 on an AVX2 CPU (bf16 is slow on this hardware" in capfd.readouterr().err
    monkeypatch.setattr("worldmodel.world.bf16_is_fast", lambda device: (True, "an AMX CPU"))
    assert WorldModel.from_pretrained(copy).precision == "bf16"
    assert WorldModel.from_pretrained(copy, precision="fp32").precision == "fp32"
    monkeypatch.setenv(precision.PRECISION_ENV, "fp32")
    assert WorldModel.from_pretrained(copy).precision == "fp32"
    monkeypatch.delenv(precision.PRECISION_ENV)
    env = make_world_env(copy, sim_factory=CornerSim, precision="fp32")
    assert env.world.precision == "fp32"
    env.close()
    # Checkpoints from before the cost was recorded stored the sweep's winner: "bf16" reads as free.
    config = json.loads((copy / "config.json").read_text())
    old = {k: v for k, v in config["world_model"].items() if k not in ("info_version", "bf16_cost_db")}
    config["world_model"] = old | {"precision": "bf16"}  # a version-0 section, as they were written
    (copy / "config.json").write_text(json.dumps(config))
    assert WorldModel.from_pretrained(copy).precision == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        WorldModel.from_pretrained(trained["robot"], precision="fp16")


# -- latent observation mode -------------------------------------------------------------------


def test_latent_env_passes_gymnasium_check_env(world: WorldModel) -> None:
    env = WorldModelEnv(world, sim_factory=CornerSim, sampler_steps=2, obs_mode="latent")
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, world.latent_shape, np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        # Latents are unbounded by design: the model's samples have no hard range.
        warnings.filterwarnings("ignore", message=".*Box observation space m.* value is .*infinity")
        check_env(env, skip_render_check=True)
    env.close()


def test_latent_env_observes_the_latents_rollout_latents_gives_and_renders_them_decoded(
    world: WorldModel,
) -> None:
    seen: list[tuple[np.ndarray, ...]] = []

    def reward_fn(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        seen.append((prev, obs))
        return 0.0, False

    env = WorldModelEnv(world, sim_factory=CornerSim, sampler_steps=2, obs_mode="latent", reward_fn=reward_fn)
    obs, info = env.reset(seed=5)
    action = np.array([1.0, -1.0], np.float32)
    latent, *_ = env.step(action)
    # Replay the env's draws: the simulator's reset seed, then the model's noise seed.
    rng = np.random.default_rng(5)
    sim_seed, model_seed = int(rng.integers(SEED_HIGH)), int(rng.integers(SEED_HIGH))
    assert info == {"sim_reset_seed": sim_seed}
    context = world.encode(simulator_context(CornerSim(), sim_seed, world.context_frames)[None])
    np.testing.assert_array_equal(obs, context[0, :, -1].numpy())
    expected = world.rollout_latents(context, action[None, None], seed=model_seed, steps=2)
    assert latent.dtype == np.float32 and latent in env.observation_space
    np.testing.assert_array_equal(latent, expected[0, :, 0].numpy())
    np.testing.assert_array_equal(env.render(), world.decode(expected)[0, 0])
    np.testing.assert_array_equal(seen[0][0], obs)  # the reward sees latents
    np.testing.assert_array_equal(seen[0][1], latent)
    env.close()


def test_latent_make_vec_steps_all_envs_in_one_rollout_call_without_decoding(
    registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = gym.make_vec(
        registered,
        num_envs=4,
        vectorization_mode="vector_entry_point",
        sim_factory=CornerSim,
        obs_mode="latent",
    )
    assert isinstance(envs.unwrapped, WorldModelVectorEnv)
    world = envs.unwrapped.world
    assert envs.single_observation_space.shape == world.latent_shape
    calls: dict[str, list[int]] = {"rollout_latents": [], "decode": [], "predict": []}
    for name in calls:
        original = getattr(WorldModel, name)

        def counting(
            self: WorldModel, *args: Any, _name: str = name, _f: Any = original, **kwargs: Any
        ) -> Any:
            calls[_name].append(len(args[0]) if args and args[0] is not None else 0)
            return _f(self, *args, **kwargs)

        monkeypatch.setattr(WorldModel, name, counting)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, *world.latent_shape) and obs.dtype == np.float32
    envs.action_space.seed(0)
    for _ in range(3):
        obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert obs in envs.observation_space and rewards.shape == (4,)
    assert calls == {"rollout_latents": [4] * 3, "decode": [], "predict": []}
    assert truncated.all()  # registered max_episode_steps=3
    frames = envs.render()
    assert len(frames) == 4 and frames[0].shape == (SIZE, SIZE, 3) and calls["decode"] == [4]
    envs.close()


def test_latent_vector_env_same_step_autoreset_reports_final_latents(world: WorldModel) -> None:
    envs = WorldModelVectorEnv(
        world,
        2,
        sim_factory=CornerSim,
        sampler_steps=2,
        max_episode_steps=1,
        autoreset_mode="SameStep",
        obs_mode="latent",
    )
    envs.reset(seed=0)
    obs, _, _, truncated, infos = envs.step(np.zeros((2, 2), np.float32))
    assert truncated.all() and infos["_final_obs"].all()
    for i in range(2):
        assert infos["final_obs"][i].shape == world.latent_shape
        assert not np.array_equal(infos["final_obs"][i], obs[i])
    envs.close()


def test_unknown_obs_mode_is_a_clear_error(world: WorldModel) -> None:
    with pytest.raises(ValueError, match=r"obs_mode must be one of \['pixels', 'latent'\]"):
        WorldModelEnv(world, obs_mode="tokens")

"""The learned reward / success head in use: trained by `worldfm train reward` on pushed-square shards
whose reward is minus the square's distance to the top-left corner (success within 4 px), saved in
the world model's checkpoint (``reward_head/``), loaded back and used as a WorldModelEnv's reward."""

from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from curation.shards import ShardWriter
from envs.learned_reward import LearnedReward, as_batch_reward_fn, has_reward_head, load_reward_head
from envs.world_env import WorldModelEnv
from tests.pushed_square import SIZE, SUCCESS_PX, CornerSim, draw_square, square_clip_sample
from tests.tiny_worlds import train_tiny_robot_world
from worldmodel import hub
from worldmodel.heads import REWARD_HEAD_DIR, RewardHead, RewardHeadConfig, frame_latents, latent_norm_record
from worldmodel.hub import CheckpointError
from worldmodel.world import LatentNorm, WorldModel


def write_corner_shards(out: Path, clips: int = 24, t: int = 10) -> None:
    """Random starts; half the clips walk toward the corner, so success frames exist."""
    with ShardWriter(out) as writer:
        for i in range(clips):
            rng = np.random.default_rng(i)
            pos = rng.integers(0, SIZE - 8, size=2).astype(float)
            toward = i % 2 == 0
            positions, actions = [pos], []
            for _ in range(t - 1):
                a = -rng.integers(1, 3, size=2) if toward else rng.integers(-2, 3, size=2)
                positions.append(np.clip(positions[-1] + a, 0, SIZE - 8))
                actions.append(a)
            frames = np.stack([draw_square(p) for p in positions])
            distance = np.linalg.norm(positions, axis=1)
            arrays = {
                "actions": np.asarray(actions, np.float32),
                "rewards": -distance[1:].astype(np.float32),
                "success": distance <= SUCCESS_PX,
            }
            writer.write(square_clip_sample(f"corner-{i}", frames, arrays))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny robot post-trained world model on corner shards, and a reward head trained on its latents."""
    root = tmp_path_factory.mktemp("reward_head")
    shards = root / "shards"
    write_corner_shards(shards)
    robot = train_tiny_robot_world(root, shards)
    reward_args = ["--wfm", str(robot), "--data", str(shards), "--steps", "300", "--heldout-fraction", "0.25"]
    assert main(["train", "reward", *reward_args]) == 0
    return {"shards": shards, "robot": robot}


@pytest.fixture(scope="module")
def world(trained: dict[str, Path]) -> WorldModel:
    return WorldModel.from_pretrained(trained["robot"])


def probe_frames(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Square frames at random positions and in the corner, and their true corner distances."""
    rng = np.random.default_rng(123)
    positions = rng.integers(0, SIZE - 8, size=(n, 2)).astype(float)
    positions[:4] = [[0, 0], [2, 0], [1, 2], [2, 2]]
    return np.stack([draw_square(p) for p in positions]), np.linalg.norm(positions, axis=1)


def test_train_reward_saves_a_head_that_beats_the_mean_reward_on_heldout_clips(
    trained: dict[str, Path],
) -> None:
    assert has_reward_head(trained["robot"])
    head_dir = trained["robot"] / REWARD_HEAD_DIR
    # A hub checkpoint of kind "head", alone: a run of seconds is rerun, not resumed.
    assert {hub.WEIGHTS_FILE, hub.CONFIG_FILE} <= {p.name for p in head_dir.iterdir()}
    assert not (head_dir / "training_state").exists()
    assert not any(p.name.endswith(".tmp") for p in head_dir.iterdir())
    saved = hub.read_config(head_dir)
    assert saved["kind"] == "head" and saved["model"] == "RewardHead"
    metrics = saved["metrics"]
    assert metrics["eval/reward_mse"] < 0.25 * metrics["eval/mean_reward_mse"]
    assert metrics["eval/success_accuracy"] >= metrics["eval/majority_success_accuracy"]


def test_learned_rewards_stay_in_the_range_of_the_training_rewards(world: WorldModel, trained: dict) -> None:
    config = hub.load(trained["robot"] / REWARD_HEAD_DIR).config
    # The corner world pays minus the distance: at most 0, and far from it on random starts.
    assert config.reward_min < config.reward_max <= 0.0
    noise = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3), dtype=np.uint8)
    rewards, _ = LearnedReward.from_checkpoint(trained["robot"], world).score(
        np.concatenate([noise, probe_frames()[0]])
    )
    assert config.reward_min <= rewards.min() and rewards.max() <= config.reward_max


def test_learned_reward_ranks_frames_by_distance_to_the_corner(world: WorldModel, trained: dict) -> None:
    reward = LearnedReward.from_checkpoint(trained["robot"], world)
    frames, distance = probe_frames()
    predicted, success = reward.score(frames)
    assert predicted.shape == success.shape == (len(frames),)
    # Frames the model never saw: the head must order them as minus the distance does.
    assert np.corrcoef(predicted, -distance)[0, 1] > 0.7
    assert success[distance <= SUCCESS_PX].mean() > success[distance > 3 * SUCCESS_PX].mean()


def test_saved_head_round_trips_exactly(world: WorldModel, tmp_path: Path) -> None:
    torch.manual_seed(0)
    h, w = (s // world.tokenizer.spatial_factor for s in world.frame_size)
    head = RewardHead(RewardHeadConfig(world.tokenizer.latent_channels, (h, w), 16, -3.0, 2.0)).eval()
    hub.save(head, tmp_path / REWARD_HEAD_DIR, extra={**latent_norm_record(world), "note": "test"})
    loaded = load_reward_head(tmp_path, world)
    assert loaded.config == head.config
    z = torch.randn(3, world.tokenizer.latent_channels, h, w)
    torch.testing.assert_close(head(z), loaded(z), rtol=0, atol=0)


def test_head_trained_on_another_world_models_latents_is_refused(trained: dict[str, Path]) -> None:
    other = WorldModel.from_pretrained(trained["robot"])
    other.norm = LatentNorm(tuple(m + 1 for m in other.norm.mean), other.norm.std, other.norm.sigma_data)
    with pytest.raises(CheckpointError, match="another world model's latents"):
        load_reward_head(trained["robot"], other)
    with pytest.raises(CheckpointError, match="worldfm train reward"):
        load_reward_head(trained["shards"])


def test_batched_reward_matches_one_transition_at_a_time(world: WorldModel, trained: dict) -> None:
    reward = LearnedReward.from_checkpoint(trained["robot"], world)
    frames, _ = probe_frames(5)
    actions = np.zeros((5, 2), np.float32)
    batched = as_batch_reward_fn(reward)(frames, actions, frames)
    single = [reward(f, a, f) for f, a in zip(frames, actions, strict=True)]
    np.testing.assert_allclose(batched[0], [r for r, _ in single], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batched[1], [d for _, d in single])


def test_plain_reward_fn_is_batched_by_calling_it_per_transition() -> None:
    def reward_fn(prev: np.ndarray, action: np.ndarray, obs: np.ndarray) -> tuple[float, bool]:
        return float(action.sum()), bool(action[0] > 0)

    rewards, done = as_batch_reward_fn(reward_fn)(
        np.zeros((2, 1)), np.array([[1.0, 2.0], [-1.0, 0.0]]), np.zeros((2, 1))
    )
    np.testing.assert_array_equal(rewards, [3.0, -1.0])
    np.testing.assert_array_equal(done, [True, False])


def test_world_env_scores_steps_with_the_head_in_the_checkpoint_folder(trained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(trained["robot"])
    # WorldModel.from_pretrained is to record its folder; until it does, set it as it would.
    world.directory = trained["robot"]
    env = WorldModelEnv(world, sim_factory=CornerSim, sampler_steps=2)
    assert isinstance(env.reward_fn, LearnedReward)
    obs, _ = env.reset(seed=0)
    frame, reward, terminated, _, _ = env.step(np.array([-2.0, -2.0], np.float32))
    expected, success = env.reward_fn.score(frame[None])
    assert reward == pytest.approx(float(expected[0]), rel=1e-5)
    assert terminated == bool(success[0] > 0.5)
    env.close()


def test_conv_head_saved_in_a_checkpoint_loads_as_conv(world: WorldModel, tmp_path: Path) -> None:
    c = world.tokenizer.latent_channels
    h, w = (s // world.tokenizer.spatial_factor for s in world.frame_size)
    head = RewardHead(RewardHeadConfig(c, (h, w), 16, arch="conv")).eval()
    hub.save(head, tmp_path / REWARD_HEAD_DIR, extra=latent_norm_record(world))
    assert load_reward_head(tmp_path, world).config.arch == "conv"


def test_progress_objective_needs_a_head_with_a_progress_output(world: WorldModel, trained: dict) -> None:
    head = load_reward_head(trained["robot"], world)
    assert not head.config.progress
    with pytest.raises(ValueError, match="--progress"):
        LearnedReward(world, head, objective="progress")
    with pytest.raises(ValueError, match="objective must be"):
        LearnedReward(world, head, objective="speed")


def test_progress_without_recorded_progress_labels_is_a_clear_error(
    trained: dict[str, Path], tmp_path: Path, capsys
) -> None:
    args = ["train", "reward", "--wfm", str(trained["robot"]), "--data", str(trained["shards"])]
    assert main([*args, "--out", str(tmp_path / "head"), "--steps", "1", "--progress"]) == 2
    err = capsys.readouterr().err
    assert "progress.npy" in err and "worldfm simulate fetch" in err and "drop --progress" in err


def test_imagined_rollouts_label_predicted_frames_with_the_recorded_steps(
    world: WorldModel, trained: dict
) -> None:
    from training.data import ClipDataset
    from training.train_reward import imagined_targets, load_targets

    arrays = ("actions", "rewards", "success")
    clips = ClipDataset([str(trained["shards"])], frames=2, size=(SIZE, SIZE), arrays=arrays)
    keys = {clips.clips[0].key}
    clip = clips.clips[0]
    horizon, k = 3, world.context_frames
    out = imagined_targets(world, clips, keys, horizon=horizon, stride=2, batch=4, seed=0)
    starts = range(0, len(clip.frames) - k - horizon + 1, 2)
    assert len(out) == len(starts) * horizon
    # Predicted frame i of the rollout from s is recorded frame s+K+i: reward row s+K+i-1.
    expected = np.concatenate([clip.arrays["rewards"][s + k - 1 : s + k - 1 + horizon] for s in starts])
    np.testing.assert_allclose(out.rewards.numpy(), expected)
    real = load_targets(world, clips, keys)
    assert out.latents.shape[1:] == real.latents.shape[1:]


def test_value_targets_are_the_returns_to_go_of_the_recorded_frames(world: WorldModel, trained: dict) -> None:
    from training.data import ClipDataset
    from training.returns import episode_values
    from training.train_reward import imagined_targets, load_targets

    clips = ClipDataset(
        [str(trained["shards"])], frames=2, size=(SIZE, SIZE), arrays=("actions", "rewards", "success")
    )
    clip, gamma, horizon, k = clips.clips[0], 0.8, 3, world.context_frames
    returns = episode_values(clip.arrays["rewards"], gamma)  # one per frame
    real = load_targets(world, clips, {clip.key}, gamma=gamma)
    np.testing.assert_allclose(real.values.numpy(), returns[1:], rtol=1e-6)  # frames 1..T-1
    assert load_targets(world, clips, {clip.key}).values is None
    imagined = imagined_targets(
        world, clips, {clip.key}, horizon=horizon, stride=2, batch=4, seed=0, gamma=gamma
    )
    # Predicted frame i of the rollout from s stands for recorded frame s+K+i.
    starts = range(0, len(clip.frames) - k - horizon + 1, 2)
    expected = np.concatenate([returns[s + k : s + k + horizon] for s in starts])
    np.testing.assert_allclose(imagined.values.numpy(), expected, rtol=1e-6)


def test_head_without_a_value_output_has_no_terminal_value(world: WorldModel, trained: dict) -> None:
    reward = LearnedReward.from_checkpoint(trained["robot"], world)
    assert not reward.has_value
    with pytest.raises(ValueError, match="worldfm train reward --value"):
        reward.value(np.zeros((1, *world.latent_shape), np.float32))


def test_value_head_beats_the_mean_return_and_scores_latents_as_a_terminal_value(
    world: WorldModel, trained: dict, tmp_path: Path
) -> None:
    args = ["--wfm", str(trained["robot"]), "--data", str(trained["shards"]), "--out", str(tmp_path)]
    # A short horizon: half the corner clips are random walks, whose far future no frame foretells.
    args += ["--steps", "300", "--heldout-fraction", "0.25", "--value", "--gamma", "0.5"]
    assert main(["train", "reward", *args]) == 0
    metrics = hub.read_config(tmp_path / REWARD_HEAD_DIR)["metrics"]
    assert metrics["eval/value_mse"] < 0.5 * metrics["eval/mean_value_mse"]
    head = load_reward_head(tmp_path, world)
    assert head.has_value and head.config.gamma == 0.5
    reward = LearnedReward(world, head)
    frames, distance = probe_frames()
    latents = frame_latents(world, frames).cpu().numpy()  # (B, C, h, w), as a latent rollout ends
    values = reward.value(latents)
    assert values.shape == (len(frames),) and values.dtype == np.float64
    with torch.no_grad():
        column = head(torch.from_numpy(latents))[:, head.config.value_column]
    np.testing.assert_allclose(values, head.value(column).numpy(), rtol=1e-6)
    # Squares nearer the corner have less distance left to pay: a higher value.
    assert np.corrcoef(values, -distance)[0, 1] > 0.7


def test_terminal_value_scores_the_last_latents_of_a_rollout_one_per_element(fetch_world: Path) -> None:
    # How a latent-space planner uses it: the values of the latents its B rollouts end in.
    world = WorldModel.from_pretrained(fetch_world)
    reward = LearnedReward.from_checkpoint(fetch_world, world)
    assert reward.has_value
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, world.context_frames, *world.frame_size, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, size=(3, 2, world.action_dim)).astype(np.float32)
    with torch.no_grad():
        rollout = world.rollout_latents(world.encode(frames), actions, steps=1)  # (B, C, H, h, w)
    values = reward.value(rollout[:, :, -1])
    assert values.shape == (3,) and np.isfinite(values).all()
    alone = [reward.value(rollout[b : b + 1, :, -1])[0] for b in range(3)]
    np.testing.assert_allclose(values, alone, rtol=1e-5, atol=1e-5)

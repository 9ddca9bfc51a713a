"""Post-training: camera control (Plücker rays), multi-view driving (trajectory), fine-tuning / LoRA."""

from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from curation.shards import read_samples
from curation.video_io import read_video
from tests.posttrained import COMMON
from worldmodel import hub
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import WorldModel


def _first_sample(folder: Path) -> dict:
    return next(iter(read_samples(folder, decode_video=False)))


def test_camera_model_predicts_at_requested_poses_and_depends_on_them(posttrained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(posttrained["camera"])
    assert world.camera_dim == 6 and world.context_frames == 1 and world.action_dim == 0
    sample = _first_sample(posttrained["orbit"])
    frames, _ = read_video(sample["frames"])
    poses = sample["camera"][:4]
    out = world.predict(frames[:1], camera=poses, horizon=3, seed=0, steps=2)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, world.predict(frames[:1], camera=poses, horizon=3, seed=0, steps=2))
    # Same context, same noise, other poses: only the camera input changes the frames (3 training
    # steps leave the zero-initialised camera layer near zero, so give it weights first).
    torch.nn.init.normal_(world.wfm.denoiser.backbone.camera_embedder.proj.weight, std=0.5)
    out = world.predict(frames[:1], camera=poses, horizon=3, seed=0, steps=2)
    turned = poses.copy()
    turned[1:, :3, 3] += np.array([0.5, 0.0, 0.0], dtype=poses.dtype)
    assert not np.array_equal(out, world.predict(frames[:1], camera=turned, horizon=3, seed=0, steps=2))


def test_bad_camera_input_is_a_clear_error(posttrained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(posttrained["camera"])
    sample = _first_sample(posttrained["orbit"])
    frames, _ = read_video(sample["frames"])
    with pytest.raises(ValueError, match=r"camera must be \(4, 4, 4\)"):
        world.predict(frames[:1], camera=sample["camera"][:3], horizon=3)
    scaled = sample["camera"][:4].copy()
    scaled[2, :3, :3] *= 1.5
    with pytest.raises(ValueError, match=r"camera\[2\] is not a rigid.*not orthonormal"):
        world.predict(frames[:1], camera=scaled, horizon=3)
    reflected = sample["camera"][:4].copy()
    reflected[1, :3, 0] *= -1
    with pytest.raises(ValueError, match="reflection"):
        world.predict(frames[:1], camera=reflected, horizon=3)
    with pytest.raises(ValueError, match="camera-conditioned: pass camera="):
        world.predict(frames[:1], horizon=3)
    with pytest.raises(ValueError, match="not trained with trajectory"):
        world.predict(frames[:1], camera=sample["camera"][:4], trajectory=np.zeros((4, 3)), horizon=3)


def test_driving_model_tiles_three_views_and_follows_the_trajectory(posttrained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(posttrained["drive"])
    assert world.views == ("left", "front", "right") and world.frame_size == (32, 96)
    assert world.uses_trajectory and world.action_dim == 0
    sample = _first_sample(posttrained["driving"])
    views = {v: read_video(sample["views"][v])[0][:2] for v in world.views}
    context = world.tile_views(views)
    assert context.shape == (2, 32, 96, 3)
    np.testing.assert_array_equal(world.split_views(context)["right"], views["right"])
    trajectory = sample["trajectory"][:5]
    out = world.predict(context, trajectory=trajectory, horizon=3, seed=0, steps=2)
    assert out.shape == (3, 32, 96, 3)
    assert set(world.split_views(out)) == {"left", "front", "right"}
    swerve = trajectory.copy()
    swerve[2:, 2] += 0.4  # heading changes after the context: a different ego motion
    assert not np.array_equal(out, world.predict(context, trajectory=swerve, horizon=3, seed=0, steps=2))


def test_driving_input_mismatches_are_clear_errors(posttrained: dict[str, Path]) -> None:
    world = WorldModel.from_pretrained(posttrained["drive"])
    sample = _first_sample(posttrained["driving"])
    views = {v: read_video(sample["views"][v])[0][:2] for v in ("front", "left")}
    with pytest.raises(
        ValueError, match=r"generates the views \['left', 'front', 'right'\].*2 view\(s\) for 3"
    ):
        world.tile_views(views)
    single = read_video(sample["views"]["front"])[0][:2]
    with pytest.raises(ValueError, match=r"trained on \(32, 96\) frames"):
        world.predict(single, trajectory=sample["trajectory"][:5], horizon=3)
    context = np.concatenate([single] * 3, axis=2)
    with pytest.raises(ValueError, match=r"trajectory must be \(T, 3\)"):
        world.predict(context, trajectory=np.zeros((5, 2)), horizon=3)
    with pytest.raises(ValueError, match=r"trajectory must be \(5, 3\)"):
        world.predict(context, trajectory=np.zeros((4, 3)), horizon=3)
    with pytest.raises(ValueError, match="trajectory-conditioned"):
        world.predict(context, horizon=3)


def test_lora_fine_tune_exports_an_ordinary_merged_checkpoint(posttrained: dict[str, Path]) -> None:
    payload = hub.read_config(posttrained["lora"])
    assert payload["world_model"]["lora"] == {"rank": 2, "alpha": 2, "merged": True}
    assert payload["world_model"]["task"] == "camera"  # inherited from --from
    names = hub.load(posttrained["lora"]).state_dict().keys()
    assert not any(n.endswith(("lora_a", "lora_b")) or ".base." in n for n in names)
    assert set(names) == set(hub.load(posttrained["camera"]).state_dict().keys())
    world = WorldModel.from_pretrained(posttrained["lora"])
    sample = _first_sample(posttrained["orbit"])
    frames, _ = read_video(sample["frames"])
    assert world.predict(frames[:1], camera=sample["camera"][:3], horizon=2, steps=1).shape == (2, 32, 32, 3)


def test_posttrain_needs_a_task_or_a_checkpoint(posttrained: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert (
        main(["train", "posttrain", "--data", str(posttrained["orbit"]), "--out", str(tmp_path / "x")]) == 2
    )
    assert "pass --task" in capsys.readouterr().err
    bad = ["train", "posttrain", "--task", "camera", "--from", str(posttrained["base"])]
    bad += ["--data", str(posttrained["driving"]), "--out", str(tmp_path / "y"), *COMMON]
    assert main(bad) == 2
    assert "camera.npy" in capsys.readouterr().err
    lora_without_base = ["train", "posttrain", "--task", "camera", "--tokenizer", str(posttrained["base"])]
    lora_without_base += [
        "--data",
        str(posttrained["orbit"]),
        "--lora-rank",
        "2",
        "--out",
        str(tmp_path / "z"),
    ]
    assert main(lora_without_base) == 2
    assert "--from" in capsys.readouterr().err


def test_eval_reports_the_gain_over_the_same_model_without_camera(posttrained: dict[str, Path]) -> None:
    from training.eval_wfm import evaluate_wfm

    result = evaluate_wfm(posttrained["camera"], clips=2, horizon=2, steps=1, batch_size=2)
    assert {"psnr", "no_camera_psnr", "camera_gain_db", "copy_last_psnr"} <= set(result)
    assert result["camera_gain_db"] == pytest.approx(result["psnr"] - result["no_camera_psnr"])
    driving = evaluate_wfm(posttrained["drive"], clips=2, horizon=2, steps=1, batch_size=2)
    for view in ("left", "front", "right"):
        assert {f"psnr_{view}", f"no_trajectory_psnr_{view}", f"copy_last_psnr_{view}"} <= set(driving)


def test_dit_without_camera_equals_its_base_until_the_camera_layer_trains() -> None:
    from worldmodel.conditioning.inputs import Conditioning, NullInputs
    from worldmodel.diffusion.configuration_dit import DiTConfig
    from worldmodel.diffusion.modeling_dit import DiT

    torch.manual_seed(0)
    base = DiT(DiTConfig(latent_channels=4))
    with_camera = DiT(DiTConfig(latent_channels=4, camera_dim=6))
    with_camera.load_state_dict(base.state_dict(), strict=False)
    for p in base.parameters():  # adaLN-zero makes an untrained DiT output 0: give it real weights
        p.data.normal_(0, 0.05)
    with_camera.load_state_dict(base.state_dict(), strict=False)
    x, sigma = torch.randn(2, 9, 3, 4, 4), torch.rand(2)
    camera = Conditioning(camera=torch.randn(2, 6, 3, 4, 4))
    torch.testing.assert_close(with_camera(x, sigma, sigma, camera), base(x, sigma, sigma))
    with_camera.camera_embedder.proj.weight.data.normal_()
    assert not torch.allclose(with_camera(x, sigma, sigma, camera), base(x, sigma, sigma))
    dropped = torch.tensor([True, True])
    torch.testing.assert_close(
        with_camera(x, sigma, sigma, camera, NullInputs(camera=dropped)), base(x, sigma, sigma)
    )
    with pytest.raises(ValueError, match=r"camera must be \(B, camera_dim, T, h, w\)"):
        with_camera(x, sigma, sigma, camera.replace(camera=camera.camera[:, :, :2]))


def test_driving_world_env_steers_a_learned_world(posttrained: dict[str, Path]) -> None:
    from gymnasium.utils.env_checker import check_env

    from envs.driving_world_env import DrivingWorldModelEnv, make_driving_world_env

    env = make_driving_world_env(posttrained["drive"], sampler_steps=1)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (32, 96, 3) and set(info["views"]) == {"left", "front", "right"}
    speed = info["speed"]
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
    assert obs.shape == (32, 96, 3) and info["speed"] > speed and reward > 0
    assert not terminated and not truncated
    with pytest.raises(ValueError, match=r"action must have shape \(2,\)"):
        env.step(np.zeros(3, dtype=np.float32))
    env.close()
    # Without a simulator an episode starts from the caller's frames, poses and speed.
    bare = DrivingWorldModelEnv(env.world, sampler_steps=1)
    with pytest.raises(ValueError, match="starts from real frames"):
        bare.reset(seed=0)
    frames = np.zeros((env.world.context_frames, 32, 96, 3), np.uint8)
    obs, info = bare.reset(options={"frames": frames, "speed": 5.0})
    assert info["speed"] == 5.0 and "sim_reset_seed" not in info
    with pytest.raises(ValueError, match="not a multi-view driving model"):
        make_driving_world_env(posttrained["camera"])


def test_shipped_style_driving_checkpoint_registers_a_driving_wm_env(
    posttrained: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    import gymnasium as gym

    from envs.registration import register_world_model_envs

    shutil.copytree(posttrained["drive"], tmp_path / "driving-wm-dit")
    shutil.copytree(posttrained["drive"].parent / "tok", tmp_path / "tok")
    env_id = "worldfm/Driving-WM-v0"
    shipped = gym.registry.pop(env_id, None)  # `import envs` registered the shipped one under this id
    try:
        assert register_world_model_envs(tmp_path) == [env_id]
        spec = gym.spec(env_id)
        assert spec.kwargs == {"checkpoint": str(tmp_path / "driving-wm-dit")}
        assert spec.vector_entry_point is None  # make_vec falls back to sync sub-envs
        env = gym.make(env_id, sampler_steps=1)
        assert env.action_space.shape == (2,) and env.observation_space.shape == (32, 96, 3)
        env.close()
    finally:
        gym.registry.pop(env_id, None)
        if shipped is not None:
            gym.registry[env_id] = shipped


def test_lora_fine_tune_of_the_shipped_world_model_on_own_shards_trains_saves_loads_and_predicts(
    tmp_path: Path,
) -> None:
    shipped = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit"
    shards, out = tmp_path / "mine", tmp_path / "mine-wm"
    # Seed 6 puts episode 1 in the held-out split, so the fine-tune can evaluate.
    assert (
        main(["simulate", "fetch", "--episodes", "4", "--frames", "6", "--seed", "6", "--out", str(shards)])
        == 0
    )
    # --from by name: the shipped model is found from any folder, and so is its tokenizer.
    assert main(["train", "posttrain", "--from", "fetchpush-wm-dit", "--data", str(shards), "--out", str(out)]
                + ["--lora-rank", "4", *COMMON]) == 0  # fmt: skip
    payload = hub.read_config(out)
    # Outside the checkout the shipped tokenizer is named, not reached by a path into it.
    assert payload["world_model"]["tokenizer"] == "tokenizer-ci8x8-fetch64"
    assert payload["world_model"]["task"] == "robot" and payload["world_model"]["lora"]["merged"]
    assert payload["config"]["p_mean"] == hub.read_config(shipped)["config"]["p_mean"]  # inherited
    world = WorldModel.from_pretrained(out)
    frames, _ = read_video(_first_sample(shards)["frames"])
    out_frames = world.predict(frames[:2], actions=np.zeros((3, 4), np.float32), horizon=3, steps=1)
    assert out_frames.shape == (3, 64, 64, 3)


def test_strided_windows_keep_frames_and_camera_poses_aligned(posttrained: dict[str, Path]) -> None:
    from training.data import ClipDataset
    from training.latents import LatentClipDataset

    clips = ClipDataset(posttrained["orbit"], frames=2, size=32, arrays=("camera", "intrinsics"))
    data = LatentClipDataset(clips, hub.load(posttrained["tok"]), window=3, max_stride=3)
    batch = data.sample_batch(16, np.random.default_rng(0))
    by_key = {c.key: c for c in data.clips}
    strides = set()
    for i, key in enumerate(batch["key"]):
        clip, poses = by_key[key], batch["camera"][i].numpy()
        latents = batch["latents"][i].permute(1, 0, 2, 3).numpy()  # (window, C, h, w)
        matches = [
            (start, stride)
            for stride in (1, 2, 3)
            for start in range(len(clip.latents) - 2 * stride)
            if np.array_equal(clip.arrays["camera"][start : start + 2 * stride + 1 : stride], poses)
            and np.array_equal(clip.latents[start : start + 2 * stride + 1 : stride], latents)
        ]
        assert matches, f"window {i} is not a strided run of its clip"
        strides.add(matches[0][1])
    assert len(strides) > 1
    with pytest.raises(ValueError, match="per-frame arrays only"):
        LatentClipDataset(
            ClipDataset(posttrained["orbit"], frames=2, size=32, arrays=("actions",)),
            hub.load(posttrained["tok"]),
            window=2,
            max_stride=2,
        )


def test_eval_at_a_frame_stride_scores_every_nth_frame(posttrained: dict[str, Path]) -> None:
    from training.eval_wfm import evaluate_wfm

    result = evaluate_wfm(posttrained["camera"], clips=2, horizon=2, steps=1, batch_size=2, frame_stride=3)
    assert result["frame_stride"] == 3 and "camera_gain_db" in result


def test_fine_tunes_record_every_schedule_behind_their_weights(posttrained: dict[str, Path]) -> None:
    from training.model_card import lineage_lines

    source = hub.read_config(posttrained["lora"])["world_model"]["init_from"]
    assert Path(source["path"]) == posttrained["camera"]
    assert Path(source["init_from"]["path"]) == posttrained["base"]
    assert source["step"] == hub.read_config(posttrained["camera"])["training"]["step"]
    lines = lineage_lines(source)
    assert len(lines) == 2 and str(posttrained["camera"]) in lines[0] and str(posttrained["base"]) in lines[1]

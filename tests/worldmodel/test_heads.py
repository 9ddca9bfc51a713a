"""Heads on world-model latents (``worldmodel.heads``): their config, their shape properties, and
their checkpoints through ``worldmodel.hub`` (``kind: "head"``), the shipped one included."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from worldmodel import hub
from worldmodel.heads import PROGRESS, REWARD, REWARD_HEAD_DIR, SUCCESS, RewardHead, RewardHeadConfig

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "fetchpush-wm-dit"
# The head shipped until the coverage data (trained on fetch64 alone), in the layout before heads
# were hub checkpoints: reward_head.json + reward_head.safetensors beside the world model.
OLD_LAYOUT = Path(__file__).resolve().parent / "old_reward_head"

# The old head's outputs on `fixed_latents()`, computed with the code before heads moved into
# worldmodel/ (envs.reward_head.load_reward_head(...).all_outputs(z), commit 5a9e2df).
SHIPPED_OUTPUTS = [
    [-2.4728736877441406, -14.545218467712402, -1.3233646154403687],
    [-1.8944778442382812, -12.485808372497559, -0.8153117895126343],
    [-1.2385313510894775, -7.883689880371094, -0.7411047220230103],
]


def fixed_latents() -> torch.Tensor:
    return torch.randn(3, 16, 8, 8, generator=torch.Generator().manual_seed(0))  # (B, C, h, w)


def test_config_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="reward_std must be > 0"):
        RewardHeadConfig(reward_std=0.0)
    with pytest.raises(ValueError, match=r"latent_size must be \(h, w\)"):
        RewardHeadConfig(latent_size=(4,))
    with pytest.raises(ValueError, match="arch must be one of"):
        RewardHeadConfig(arch="transformer")
    with pytest.raises(ValueError, match="progress_std must be > 0"):
        RewardHeadConfig(progress_std=-1.0)
    with pytest.raises(ValueError, match="reward_min must be <= reward_max"):
        RewardHeadConfig(reward_min=0.0, reward_max=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\)"):
        RewardHeadConfig(value=True, gamma=1.0)
    with pytest.raises(ValueError, match="value_std must be > 0"):
        RewardHeadConfig(value=True, value_std=0.0)


def test_head_outputs_reward_success_and_progress_columns() -> None:
    z = torch.randn(5, 4, 3, 3)
    assert RewardHead(RewardHeadConfig(4, (3, 3), 8))(z).shape == (5, 2)
    head = RewardHead(RewardHeadConfig(4, (3, 3), 8, progress=True, progress_mean=-1.0, progress_std=2.0))
    out = head(z)
    assert out.shape == (5, 3) and (REWARD, SUCCESS, PROGRESS) == (0, 1, 2)
    torch.testing.assert_close(head.progress(out[:, PROGRESS]), out[:, PROGRESS] * 2.0 - 1.0)
    with pytest.raises(ValueError, match="--progress"):
        RewardHead(RewardHeadConfig(4, (3, 3), 8)).progress(out[:, 0])


def test_reward_is_clipped_to_the_training_rewards_range() -> None:
    standardised = torch.tensor([-5.0, 0.0, 5.0])
    clipped = RewardHead(RewardHeadConfig(4, (3, 3), 8, -0.5, 0.5, reward_min=-1.0, reward_max=0.0))
    torch.testing.assert_close(clipped.reward(standardised), torch.tensor([-1.0, -0.5, 0.0]))
    # A head saved without the range (older checkpoints) is not clipped.
    unclipped = RewardHead(RewardHeadConfig(4, (3, 3), 8, -0.5, 0.5))
    torch.testing.assert_close(unclipped.reward(standardised), torch.tensor([-3.0, -0.5, 2.0]))


@pytest.mark.parametrize("progress", [False, True])
def test_value_is_the_last_column_and_unnormalises_with_its_statistics(progress: bool) -> None:
    config = RewardHeadConfig(4, (3, 3), 8, progress=progress, value=True, value_mean=-5.0, value_std=3.0)
    head = RewardHead(config)
    out = head(torch.randn(5, 4, 3, 3))
    assert out.shape == (5, 3 + progress) and config.value_column == 2 + progress
    assert head.has_value
    column = out[:, config.value_column]
    torch.testing.assert_close(head.value(column), column * 3.0 - 5.0)


def test_head_without_a_value_output_says_so() -> None:
    head = RewardHead(RewardHeadConfig(4, (3, 3), 8, progress=True))
    assert not head.has_value and head.config.value_column is None
    with pytest.raises(ValueError, match="no value output.*--value"):
        head.value(torch.zeros(2))


def test_conv_head_scores_a_pattern_the_same_wherever_it_is() -> None:
    torch.manual_seed(0)
    head = RewardHead(RewardHeadConfig(4, (12, 12), 16, arch="conv")).eval()
    # Two 3x3 layers spread a point over 5x5: both stay clear of the zero-padded border.
    a, b = torch.zeros(1, 4, 12, 12), torch.zeros(1, 4, 12, 12)
    a[0, :, 3, 3] = torch.tensor([1.0, -2.0, 0.5, 3.0])
    b[0, :, 8, 7] = a[0, :, 3, 3]
    torch.testing.assert_close(head(a), head(b))


def test_head_round_trips_through_the_hub_as_kind_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = RewardHeadConfig(4, (3, 3), 8, -3.0, 2.0, arch="conv", progress=True, value=True, gamma=0.9)
    head = RewardHead(config).eval()
    hub.save(head, tmp_path / "head", extra={"note": "test"})
    assert hub.read_config(tmp_path / "head")["kind"] == "head"
    loaded = hub.load(tmp_path / "head", expect_kind="head")
    assert isinstance(loaded, RewardHead) and loaded.config == head.config
    z = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(loaded(z), head(z), rtol=0, atol=0)


def test_shipped_head_is_a_hub_checkpoint_with_progress_trained_on_the_coverage_episodes() -> None:
    head = hub.load(SHIPPED / REWARD_HEAD_DIR, expect_kind="head")
    assert head.config.arch == "conv" and head.config.progress
    payload = hub.read_config(SHIPPED / REWARD_HEAD_DIR)
    assert payload["data"] == ["data/fetch64", "data/fetch-cov"] and payload["imagined_horizon"] == 16
    assert payload["metrics"]["eval/progress_corr"] > 0.8


def test_head_in_the_old_layout_loads_and_scores_as_before() -> None:
    # Saved as reward_head.json + reward_head.safetensors beside the world model; the hub reads
    # them as the reward_head/ checkpoint.
    assert not (OLD_LAYOUT / REWARD_HEAD_DIR).exists()
    assert hub.is_checkpoint(OLD_LAYOUT / REWARD_HEAD_DIR)
    head = hub.load(OLD_LAYOUT / REWARD_HEAD_DIR, expect_kind="head")
    assert head.config.arch == "conv" and head.config.progress and not head.has_value
    with torch.no_grad():
        out = head(fixed_latents())
    torch.testing.assert_close(out, torch.tensor(SHIPPED_OUTPUTS), rtol=1e-5, atol=1e-5)
    # Its regression strays below Fetch's {-1, 0} (-2.47 standardised is a reward of -1.82), so the
    # rewards it pays are clipped to the range it was trained on.
    assert (head.config.reward_min, head.config.reward_max) == (-1.0, 0.0)
    unclipped = out[:, REWARD] * head.config.reward_std + head.config.reward_mean
    assert unclipped.min() < -1.0
    torch.testing.assert_close(head.reward(out[:, REWARD]), unclipped.clamp(-1.0, 0.0))
    payload = hub.read_config(OLD_LAYOUT / REWARD_HEAD_DIR)
    assert (
        len(payload["latent_mean"]) == head.config.latent_channels and "eval/reward_mse" in payload["metrics"]
    )


def test_old_layout_resaved_by_the_hub_keeps_every_tensor_bit_identical(tmp_path: Path) -> None:
    for name in ("reward_head.json", "reward_head.safetensors"):
        shutil.copy(OLD_LAYOUT / name, tmp_path / name)
    old = hub.load(tmp_path / REWARD_HEAD_DIR)
    payload = hub.read_config(tmp_path / REWARD_HEAD_DIR)
    extra = {
        k: v for k, v in payload.items() if k not in ("format", "format_version", "kind", "model", "config")
    }
    new_dir = tmp_path / "converted" / REWARD_HEAD_DIR
    hub.save(old, new_dir, extra=extra)
    before = load_file(str(tmp_path / "reward_head.safetensors"))
    after = load_file(str(new_dir / hub.WEIGHTS_FILE))
    assert before.keys() == after.keys()
    for key, tensor in before.items():
        assert torch.equal(tensor, after[key]) and tensor.dtype == after[key].dtype
    converted = hub.read_config(new_dir)
    assert {k: converted[k] for k in extra} == extra
    # Re-saving migrates the config: its fields as they were, the later ones (value) at their defaults.
    assert {k: converted["config"][k] for k in payload["config"]} == payload["config"]
    assert hub.config_from_dict(RewardHeadConfig, converted["config"]) == old.config
    with torch.no_grad():
        torch.testing.assert_close(hub.load(new_dir)(fixed_latents()), old(fixed_latents()), rtol=0, atol=0)


def test_a_head_directory_takes_precedence_over_old_files_beside_it(tmp_path: Path) -> None:
    for name in ("reward_head.json", "reward_head.safetensors"):
        shutil.copy(OLD_LAYOUT / name, tmp_path / name)
    head = RewardHead(RewardHeadConfig(4, (3, 3), 8)).eval()
    hub.save(head, tmp_path / REWARD_HEAD_DIR)
    assert hub.load(tmp_path / REWARD_HEAD_DIR).config == head.config

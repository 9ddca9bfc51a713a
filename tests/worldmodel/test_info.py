"""WorldModelInfo: every shipped checkpoint's section migrates and round-trips; bad values name the field."""

import json
import shutil
from pathlib import Path

import pytest

from worldmodel import hub
from worldmodel.info import INFO_VERSION, WorldModelInfo

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
WORLD_MODELS = sorted(
    p.parent.name
    for p in CHECKPOINTS.glob("*/config.json")
    if json.loads(p.read_text()).get("kind") in ("diffusion", "autoregressive")
)
MINIMAL = {"tokenizer": "../tok", "latent_mean": [0.0, 0.0], "latent_std": [1.0, 1.0], "sigma_data": 1.0}


def test_every_shipped_world_model_is_listed() -> None:
    assert {
        "fetchpush-wm-dit",
        "fetchpush-wm-ar",
        "fetch-t2w-dit",
        "orbit-camera-dit",
        "driving-wm-dit",
    } <= set(WORLD_MODELS)


@pytest.mark.parametrize("name", WORLD_MODELS)
def test_shipped_section_migrates_keeps_every_value_and_round_trips(name: str) -> None:
    section = json.loads((CHECKPOINTS / name / "config.json").read_text())["world_model"]
    info = WorldModelInfo.from_dict(section)
    written = info.to_dict()
    assert written["info_version"] == INFO_VERSION
    assert {k: written[k] for k in section} == section  # nothing lost or changed on the way
    assert WorldModelInfo.from_dict(written) == info
    assert json.loads(json.dumps(written)) == written
    assert hub.read_info(CHECKPOINTS / name) == info


def test_old_checkpoints_bf16_winner_reads_as_zero_cost() -> None:
    # Version 0 stored the eval sweep's winner; it chose bf16 only within 0.1 dB of fp32.
    old = {**MINIMAL, "context_frames": 2}
    assert WorldModelInfo.from_dict({**old, "precision": "bf16"}).bf16_cost_db == 0.0
    assert WorldModelInfo.from_dict({**old, "precision": "fp32"}).bf16_cost_db is None
    assert WorldModelInfo.from_dict({**old, "bf16_cost_db": 0.25, "precision": "bf16"}).bf16_cost_db == 0.25
    assert "precision" not in WorldModelInfo.from_dict({**old, "precision": "bf16"}).to_dict()


def test_info_action_space_is_typed_and_written_back_as_json() -> None:
    info = WorldModelInfo.from_dict(
        {**MINIMAL, "context_frames": 2, "action_space": {"low": [-1, -2], "high": [1, 2], "dim": 2}}
    )
    assert info.action_space.dim == 2 and info.action_space.low == (-1.0, -2.0)
    assert info.to_dict()["action_space"] == {"low": [-1.0, -2.0], "high": [1.0, 2.0], "dim": 2}
    assert info.context_frames == 2 and info.env_id is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"context_frames": 0}, "context_frames must be >= 1"),
        ({"latent_std": [1.0, 0.0]}, "latent_std must be > 0"),
        ({"latent_std": [1.0]}, "latent_std must have 2 values"),
        ({"tokenizer": ""}, "tokenizer must name the image tokenizer"),
        ({"conditioning": "joystick"}, "conditioning must be one of"),
        ({"conditioning": "trajectory"}, "'trajectory' needs trajectory_std"),
        ({"conditioning": "camera", "frame_size": [64, 64]}, "'camera' needs intrinsics, camera_scale"),
        ({"frame_size": [64]}, r"frame_size must be \(H, W\)"),
        ({"heldout_fraction": 1.5}, r"heldout_fraction must be in \[0, 1\)"),
        ({"sampler_steps": 0}, "sampler_steps must be >= 1"),
        ({"action_space": {"low": [1.0], "high": [-1.0]}}, "action_space needs low <= high"),
        ({"action_space": {"low": [0.0], "high": [1.0], "dim": 3}}, "action_space.dim is 3"),
        ({"sim_env": {"kwargs": {}}}, "sim_env must be"),
        ({"trajectory_std": [1.0, float("nan"), 1.0]}, "trajectory_std must be finite"),
        ({"residal_scale": 2.0}, r"unknown field\(s\) \['residal_scale'\]"),
        ({"info_version": INFO_VERSION + 1}, "newer than this worldfm reads"),
    ],
)
def test_invalid_values_raise_a_value_error_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldModelInfo.from_dict({**MINIMAL, "context_frames": 2, **changes})


def test_a_section_without_the_latent_norm_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"lacks \['context_frames'\]"):
        WorldModelInfo.from_dict(MINIMAL)


def test_update_section_goes_through_the_dataclass(tmp_path: Path) -> None:
    copy = tmp_path / "fetchpush-wm-dit"
    shutil.copytree(CHECKPOINTS / "fetchpush-wm-dit", copy)
    hub.update_section(copy, "world_model", {"sampler_steps": 4, "bf16_cost_db": 0.02}, remove=("precision",))
    section = json.loads((copy / "config.json").read_text())["world_model"]
    assert section["info_version"] == INFO_VERSION and section["sampler_steps"] == 4
    assert hub.update_info(copy, env_id="worldfm/Mine-WM-v0").env_id == "worldfm/Mine-WM-v0"
    assert hub.read_info(copy).bf16_cost_db == 0.02
    with pytest.raises(hub.CheckpointError, match="sampler_steps must be >= 1"):
        hub.update_section(copy, "world_model", {"sampler_steps": 0})
    assert hub.read_info(copy).sampler_steps == 4  # a refused update writes nothing

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

from worldmodel import hub


@dataclass
class InnerConfig:
    levels: tuple[int, ...] = (8, 5)


@dataclass
class TinyConfig:
    width: int = 8
    depth: int = 2
    inner: InnerConfig = field(default_factory=InnerConfig)
    name: str | None = None


@hub.register("tokenizer")
class TinyNet(nn.Module):
    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.Sequential(*[nn.Linear(config.width, config.width) for _ in range(config.depth)])
        self.head = nn.Linear(config.width, 2)
        self.tied = self.head  # shared parameters must survive safetensors

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


def test_checkpoint_round_trip_restores_config_and_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyNet(TinyConfig(width=6, depth=3, inner=InnerConfig((7, 7, 3)), name="t"))
    hub.save(model, tmp_path / "ckpt", extra={"posttrained_for": "robot"})
    loaded = hub.load(tmp_path / "ckpt")
    assert isinstance(loaded, TinyNet) and not loaded.training
    assert loaded.config == model.config
    assert loaded.config.inner.levels == (7, 7, 3)
    x = torch.randn(4, 6)
    torch.testing.assert_close(loaded(x), model(x))
    payload = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert payload["kind"] == "tokenizer" and payload["posttrained_for"] == "robot"
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]


def test_save_keeps_training_state_beside_the_weights(tmp_path: Path) -> None:
    (tmp_path / "ckpt" / "training_state").mkdir(parents=True)
    hub.save(TinyNet(TinyConfig()), tmp_path / "ckpt")
    hub.save(TinyNet(TinyConfig()), tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "training_state").is_dir()


def test_pickle_checkpoint_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    torch.save(TinyNet(TinyConfig()).state_dict(), tmp_path / "model.pt")
    with pytest.raises(hub.CheckpointError, match="pickle"):
        hub.load(tmp_path / "model.pt")
    with pytest.raises(hub.CheckpointError, match=r"pickle weights \['model.pt'\]"):
        hub.load(tmp_path)


def test_wrong_kind_names_the_kind_needed(tmp_path: Path) -> None:
    hub.save(TinyNet(TinyConfig()), tmp_path / "ckpt")
    with pytest.raises(hub.CheckpointError, match="'diffusion' checkpoint is needed"):
        hub.load(tmp_path / "ckpt", expect_kind="diffusion")


def test_missing_or_foreign_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(hub.CheckpointError, match="does not exist"):
        hub.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(hub.CheckpointError, match="no config.json"):
        hub.load(tmp_path / "empty")
    hub.save(TinyNet(TinyConfig()), tmp_path / "ckpt")
    payload = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    payload["config"]["colour"] = "red"
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(payload))
    with pytest.raises(hub.CheckpointError, match=r"\['colour'\] are unknown"):
        hub.load(tmp_path / "ckpt")


def test_newer_format_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    hub.save(TinyNet(TinyConfig()), tmp_path / "ckpt")
    payload = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    payload["format_version"] = hub.FORMAT_VERSION + 1
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(payload))
    with pytest.raises(hub.CheckpointError, match="upgrade worldfm"):
        hub.load(tmp_path / "ckpt")


def test_weights_that_do_not_match_the_config_are_rejected(tmp_path: Path) -> None:
    hub.save(TinyNet(TinyConfig(depth=2)), tmp_path / "ckpt")
    payload = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    payload["config"]["depth"] = 3
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(payload))
    with pytest.raises(hub.CheckpointError, match="does not match"):
        hub.load(tmp_path / "ckpt")


def test_unregistered_model_cannot_be_saved(tmp_path: Path) -> None:
    class Plain(nn.Module):
        config = TinyConfig()

    with pytest.raises(hub.CheckpointError, match="register"):
        hub.save(Plain(), tmp_path / "x")


def test_half_storage_halves_the_file_and_loads_as_float32(tmp_path) -> None:
    from worldmodel.tokenizer import CausalVideoTokenizer, get_config

    model = CausalVideoTokenizer(get_config("CI8x8-tiny"))
    directory = hub.save(model, tmp_path / "tok")
    before = (directory / "model.safetensors").stat().st_size
    hub.store_half(directory)
    assert (directory / "model.safetensors").stat().st_size < 0.6 * before
    loaded = hub.load(directory)
    assert hub.read_config(directory)["storage_dtype"] == "float16"
    for name, p in loaded.state_dict().items():
        original = model.state_dict()[name]
        assert p.dtype == original.dtype
        if p.is_floating_point():
            assert torch.equal(p, original.half().float())


def crafted(tmp_path: Path, **changes) -> Path:
    """A TinyNet checkpoint whose config.json is then edited: ``changes`` replace top-level keys,
    ``config__<key>`` keys of the model config (None deletes)."""
    folder = hub.save(TinyNet(TinyConfig()), tmp_path / "crafted")
    payload = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        target, key = (payload["config"], key[8:]) if key.startswith("config__") else (payload, key)
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    (folder / "config.json").write_text(json.dumps(payload))
    return folder


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The device of every TinyNet built (``"meta"`` costs no memory)."""
    seen: list[str] = []
    init = TinyNet.__init__

    def spy(self: TinyNet, config: TinyConfig) -> None:
        seen.append(str(torch.get_default_device()))
        init(self, config)

    monkeypatch.setattr(TinyNet, "__init__", spy)
    return seen


def test_config_that_does_not_fit_the_weights_is_refused_before_allocating(tmp_path: Path, builds) -> None:
    folder = crafted(tmp_path, config__width=4096)
    builds.clear()
    with pytest.raises(hub.CheckpointError, match=r"head.weight is \[2, 8\] in the file, \[2, 4096\] for"):
        hub.load(folder)
    assert builds == ["meta"]


def test_missing_weights_are_refused_before_the_model_is_built(tmp_path: Path, builds) -> None:
    folder = crafted(tmp_path, config__width=4096)
    (folder / "model.safetensors").unlink()
    builds.clear()
    with pytest.raises(hub.CheckpointError, match="no model.safetensors"):
        hub.load(folder)
    assert builds == []


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"format_version": "9"}, "format_version"),
        ({"format_version": True}, "format_version"),
        ({"kind": ["tokenizer"]}, "kind"),
        ({"model": None}, "model"),
        ({"config": [1, 2]}, "config"),
        ({"config__width": "8"}, "config.width"),
        ({"config__width": 8.5}, "config.width"),
        ({"config__depth": None, "config__name": 3}, "config.name"),
        ({"config__inner": {"levels": "85"}}, "config.inner.levels"),
        ({"config__inner": {"levels": [8, "5"]}}, r"config.inner.levels\[1\]"),
    ],
)
def test_bad_config_values_are_a_checkpoint_error_naming_the_key(tmp_path: Path, changes, named) -> None:
    with pytest.raises(hub.CheckpointError, match=named):
        hub.load(crafted(tmp_path, **changes))


def test_world_model_without_its_latent_norm_is_a_checkpoint_error(tmp_path: Path) -> None:
    from worldmodel.shipped import SHIPPED_CHECKPOINTS
    from worldmodel.world import WorldModel

    folder = tmp_path / "world"
    folder.mkdir()
    payload = json.loads((SHIPPED_CHECKPOINTS / "fetchpush-wm-dit" / "config.json").read_text())
    del payload["world_model"]["latent_mean"]
    (folder / "config.json").write_text(json.dumps(payload))
    with pytest.raises(hub.CheckpointError, match="latent_mean"):
        WorldModel.from_pretrained(folder)

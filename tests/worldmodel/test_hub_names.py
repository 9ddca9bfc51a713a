"""Checkpoint names: a path, then a shipped checkpoint, then a Hub repo id in the local Hub cache;
and a checkpoint written as a Hub repo (``save_pretrained`` / ``push_to_hub``) that loads back by id.

No test touches the network: the Hub cache is a folder each test builds in the snapshot layout
(``models--org--name/refs/main`` + ``snapshots/<commit>/``), and ``HfApi`` is replaced by a fake
that "uploads" into that folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
from huggingface_hub import ModelCard

from curation.classifiers import load_classifier
from worldmodel import hub, hub_repo
from worldmodel.shipped import SHIPPED_CHECKPOINTS
from worldmodel.world import WorldModel

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_repo(cache: Path, repo_id: str, files: Path) -> Path:
    """Put ``files`` into Hub cache ``cache`` as the ``main`` snapshot of model repo ``repo_id``,
    laid out as ``hf download`` leaves it; returns the snapshot folder."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / COMMIT
    shutil.copytree(files, snapshot)
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local Hub cache, offline. huggingface_hub reads HF_HUB_CACHE / HF_HUB_OFFLINE when
    it is imported, so its constants are set as the variables would have set them."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_shipped_names_resolve_from_any_working_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert hub.resolve("tokenizer-ci8x8-fetch64") == SHIPPED_CHECKPOINTS / "tokenizer-ci8x8-fetch64"
    assert hub.read_config("fetchpush-wm-dit")["kind"] == "diffusion"
    model, payload = load_classifier("category-mlp")  # a classifier loader takes the name too
    assert payload["config"]["task"] == "category" and not model.training
    assert "fetchpush-wm-dit" in hub.shipped_names()


def test_a_path_in_the_working_folder_wins_over_a_shipped_name(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(SHIPPED_CHECKPOINTS / "text-overlay-mlp", tmp_path / "category-mlp")
    monkeypatch.chdir(tmp_path)
    assert hub.resolve("category-mlp") == Path("category-mlp")
    assert hub.read_config("category-mlp")["config"]["task"] == "text-overlay"


def test_an_unknown_name_says_where_it_was_looked_for(hub_cache: Path) -> None:
    with pytest.raises(hub.CheckpointError, match="does not exist") as err:
        hub.load("someone/not-cached")
    message = str(err.value)
    assert "fetchpush-wm-dit" in message and "hf download" in message


def test_a_hub_repo_id_loads_from_the_local_cache_offline(hub_cache: Path, tmp_path: Path) -> None:
    repo = hub_repo.save_pretrained("fetchpush-wm-dit", tmp_path / "repo")
    snapshot = cache_repo(hub_cache, "robots/push-world", repo)
    assert hub.resolve("robots/push-world") == snapshot
    world = WorldModel.from_pretrained("robots/push-world", precision="fp32")
    shipped = WorldModel.from_pretrained("fetchpush-wm-dit", precision="fp32")
    assert world.directory == snapshot
    context = np.zeros((world.context_frames, 64, 64, 3), np.uint8)
    actions = np.zeros((2, world.action_dim), np.float32)
    # The same weights, found through the cache: the same frames for the same seed.
    np.testing.assert_array_equal(
        world.predict(context, actions=actions, horizon=2, seed=0),
        shipped.predict(context, actions=actions, horizon=2, seed=0),
    )


def test_save_pretrained_writes_a_self_contained_repo_with_a_model_card(tmp_path: Path) -> None:
    source = tmp_path / "my-run"
    shutil.copytree(SHIPPED_CHECKPOINTS / "fetchpush-wm-dit", source)
    (source / "training_state").mkdir()
    (source / "training_state" / "optimizer.safetensors").write_bytes(b"resume me")
    # The tokenizer beside the run, as a user's own training leaves it.
    shutil.copytree(SHIPPED_CHECKPOINTS / "tokenizer-ci8x8-fetch64", tmp_path / "tokenizer-ci8x8-fetch64")

    repo = hub_repo.save_pretrained(source, tmp_path / "repo", repo_id="me/my-run")

    assert (repo / "config.json").is_file() and (repo / "model.safetensors").is_file()
    assert (repo / "reward_head" / "model.safetensors").is_file()  # what lives beside the weights travels too
    assert not (repo / "training_state").exists()
    assert json.loads((repo / "config.json").read_text())["world_model"]["tokenizer"] == "tokenizer"
    assert hub.read_config(repo / "tokenizer")["kind"] == "tokenizer"
    card = ModelCard.load(repo / "README.md")
    assert card.data.library_name == "worldfm" and "world-model" in card.data.tags
    assert "## Held-out evaluation" in card.text  # the checkpoint's own card follows the metadata
    assert 'WorldModel.from_pretrained("me/my-run")' in card.text
    # The source is untouched: it still names its tokenizer beside it.
    assert hub.read_info(source).tokenizer == "../tokenizer-ci8x8-fetch64"


def test_save_pretrained_refuses_what_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    with pytest.raises(hub.CheckpointError, match="no config.json"):
        hub_repo.save_pretrained(tmp_path / "notes", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


class FakeHfApi:
    """Stands in for ``huggingface_hub.HfApi``: an upload lands in the local cache as a download would."""

    calls: list[tuple[str, str]] = []
    cache: Path

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def create_repo(self, repo_id: str, **kwargs) -> None:
        assert kwargs["exist_ok"] and kwargs["repo_type"] == "model"
        FakeHfApi.calls.append(("create_repo", repo_id))

    def upload_folder(self, *, repo_id: str, folder_path: Path, **kwargs) -> str:
        FakeHfApi.calls.append(("upload_folder", repo_id))
        cache_repo(FakeHfApi.cache, repo_id, Path(folder_path))
        return f"https://hub.example/{repo_id}/commit/{COMMIT}"


def test_push_to_hub_uploads_the_repo_that_then_loads_by_id(
    hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeHfApi.calls, FakeHfApi.cache = [], hub_cache
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    url = hub_repo.push_to_hub("tokenizer-ci8x8-fetch64", "me/tok", token="hf_test")
    assert FakeHfApi.calls == [("create_repo", "me/tok"), ("upload_folder", "me/tok")]
    assert url.endswith(COMMIT)
    tokenizer = hub.load("me/tok", expect_kind="tokenizer")
    assert tokenizer.spatial_factor == 8
    assert ModelCard.load(hub.resolve("me/tok") / "README.md").data.tags == ["worldfm", "video-tokenizer"]

"""The web app's model catalog skips a broken or crafted checkpoint folder with a warning."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from app.web.catalog import Catalog
from worldmodel.shipped import SHIPPED_CHECKPOINTS

TOKENIZER = SHIPPED_CHECKPOINTS / "tokenizer-ci8x8-fetch64"
WORLD = SHIPPED_CHECKPOINTS / "fetchpush-wm-dit"


def planted(root: Path, name: str, source: Path, edit) -> None:  # noqa: ANN001 - edits the payload
    (root / name).mkdir(parents=True)
    payload = json.loads((source / "config.json").read_text())
    edit(payload)
    (root / name / "config.json").write_text(json.dumps(payload))


def test_catalog_skips_bad_checkpoint_folders_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copytree(TOKENIZER, tmp_path / "good-tokenizer")
    planted(tmp_path, "string-version", TOKENIZER, lambda p: p.update(format_version="9"))
    planted(tmp_path, "dataset-not-an-object", TOKENIZER, lambda p: p.update(dataset="64"))
    planted(tmp_path, "size-not-a-number", TOKENIZER, lambda p: p.update(dataset={"size": "big"}))
    planted(tmp_path, "no-latent-mean", WORLD, lambda p: p["world_model"].pop("latent_mean"))
    planted(tmp_path, "context-a-string", WORLD, lambda p: p["world_model"].update(context_frames="2"))
    with caplog.at_level(logging.WARNING, logger="app.web.catalog"):
        entries = Catalog(tmp_path).entries()
    assert [e.name for e in entries] == ["good-tokenizer"]
    skipped = {r.getMessage().split()[2].rsplit("/", 1)[-1].rstrip(":") for r in caplog.records}
    assert skipped == {
        "string-version", "dataset-not-an-object", "size-not-a-number", "no-latent-mean", "context-a-string"
    }  # fmt: skip
    assert all(r.levelno == logging.WARNING for r in caplog.records)

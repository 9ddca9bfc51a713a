"""A checkpoint as a Hugging Face Hub model repo: ``save_pretrained`` and ``push_to_hub``.

The repo holds the checkpoint directory as it is (``config.json`` + ``model.safetensors`` and
whatever lives beside them: a reward head, a text tokenizer, training curves), its model card as
``README.md`` under a YAML metadata block (``library_name: worldfm``), and, for a world model, the
tokenizer it needs in ``tokenizer/`` so that the repo loads on its own:
``WorldModel.from_pretrained("org/name")`` once ``hf download org/name`` has put it in the local
Hub cache (``worldmodel.hub.resolve``). Resuming state (``training_state/``) is never copied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from worldmodel import hub

README = "README.md"
MODEL_CARD = "MODEL_CARD.md"
"""the card worldfm's trainers and the recipe write beside a checkpoint"""
BUNDLED_TOKENIZER = "tokenizer"
"""the folder of a world-model repo that holds its tokenizer"""
_NEVER_COPIED = ("training_state", README)
_KIND_TAGS = {
    "tokenizer": ["video-tokenizer"],
    "diffusion": ["world-model", "diffusion"],
    "autoregressive": ["world-model", "autoregressive"],
    "head": ["reward-model"],
    "classifier": ["video-classification"],
}


def save_pretrained(
    checkpoint: str | os.PathLike, directory: str | os.PathLike, *, repo_id: str | None = None
) -> Path:
    """Write ``checkpoint`` (a path, shipped name or cached Hub id) as a Hub repo folder in
    ``directory`` and return it; ``repo_id`` only names the repo in the card's usage lines."""
    source = hub.resolve(checkpoint)
    payload = hub.read_config(source)  # refuses what is not a worldfm checkpoint before copying
    out = Path(directory)
    if not source.is_dir():
        raise hub.CheckpointError(f"{source} is not a checkpoint directory; save_pretrained copies one")
    if out.resolve() == source.resolve():
        raise hub.CheckpointError(f"save_pretrained would copy {source} onto itself; pass another folder")
    shutil.copytree(source, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_NEVER_COPIED))
    if payload.get(hub.WORLD_MODEL_SECTION):
        info = hub.read_info(source)
        tokenizer = hub.tokenizer_path(source, info)
        # A tokenizer outside the checkpoint (``../tokenizer-...``, a shipped name, another repo)
        # would not travel with the repo: it goes in, and config.json names it there.
        if not tokenizer.resolve().is_relative_to(source.resolve()):
            shutil.copytree(
                tokenizer,
                out / BUNDLED_TOKENIZER,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(*_NEVER_COPIED),
            )
            hub.update_info(out, tokenizer=BUNDLED_TOKENIZER)
    (out / README).write_text(model_card(out, payload, repo_id=repo_id))
    return out


def model_card(directory: Path, payload: dict[str, Any], *, repo_id: str | None = None) -> str:
    """The repo's ``README.md``: a YAML metadata block, then the checkpoint's ``MODEL_CARD.md``
    (or a line saying what it is), then how to load it."""
    from huggingface_hub import ModelCard, ModelCardData

    kind = str(payload.get("kind"))
    data = ModelCardData(
        library_name="worldfm",
        license="apache-2.0",
        tags=["worldfm", *_KIND_TAGS.get(kind, [])],
    )
    card_path = directory / MODEL_CARD
    if card_path.is_file():
        body = card_path.read_text()
    else:
        body = f"# {directory.name}\n\nA worldfm {kind} checkpoint ({payload.get('model')}).\n"
    name = repo_id or "org/name"
    loader = (
        f'from worldmodel.world import WorldModel\nmodel = WorldModel.from_pretrained("{name}")'
        if kind in ("diffusion", "autoregressive")
        else f'from worldmodel import hub\nmodel = hub.load("{name}")'
    )
    usage = (
        "\n## Load\n\n"
        f"`pip install worldfm`, then `hf download {name}` (worldfm reads the local Hub cache and "
        f"never downloads by itself):\n\n```python\n{loader}\n```\n"
    )
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body.rstrip()}\n{usage}"))


def push_to_hub(
    checkpoint: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload ``checkpoint`` as Hub model repo ``repo_id`` (created if needed) in the layout of
    ``save_pretrained``; returns the commit's URL. The one call in worldfm that uses the network."""
    from huggingface_hub import HfApi

    with tempfile.TemporaryDirectory(prefix="worldfm-push-") as tmp:
        folder = save_pretrained(checkpoint, Path(tmp) / "repo", repo_id=repo_id)
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=folder,
            commit_message=commit_message or f"worldfm checkpoint {Path(str(checkpoint)).name}",
        )
    return str(getattr(commit, "commit_url", commit))

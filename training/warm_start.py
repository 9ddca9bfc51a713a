"""Start a run from another checkpoint's weights (fine-tuning, longer schedules, post-training)."""

from __future__ import annotations

import logging

from torch import nn

from worldmodel import hub

logger = logging.getLogger(__name__)


def initialise_from(model: nn.Module, path: str, *, kind: str) -> list[str]:
    """Copy ``path``'s weights into ``model`` wherever names and shapes match; returns their names.

    Only the weights move: the optimiser, schedule and step start fresh, unlike resuming
    from ``training_state/``. Raises ``ValueError`` when nothing matches, since that is
    always a wrong checkpoint rather than a partial fine-tune.
    """
    source = hub.load(path, expect_kind=kind).state_dict()
    target = model.state_dict()
    copied = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not copied:
        raise ValueError(
            f"{path} shares no weights with this model: pass a checkpoint of the same architecture"
        )
    model.load_state_dict(copied, strict=False)
    logger.info("initialised %d/%d tensors from %s", len(copied), len(target), path)
    return sorted(copied)


def lineage(path: str) -> dict:
    """What a warm-started run inherits: the source's path, steps and wall time (for model cards)."""
    payload = hub.read_config(path)
    training = payload.get("training", {})
    return {
        "path": str(path),
        "step": training.get("step"),
        "wall_time_s": training.get("wall_time_s"),
        "batch_size": training.get("config", {}).get("batch_size"),
        # The source's own ancestry, so a card can list every schedule behind the weights.
        # (a tokenizer records it under `dataset`, a world model under `world_model`)
        "init_from": (payload.get("dataset") or {}).get("init_from")
        or (payload.get("world_model") or {}).get("init_from"),
    }

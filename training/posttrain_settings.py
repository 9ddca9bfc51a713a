"""A post-training run's settings: the task's conditioning flags, and what it inherits from ``--from``.

Fine-tuning on one's own shards needs only the pre-trained checkpoint and the data: the task,
tokenizer, DiT size, context, frame size and noise levels are the pre-trained model's unless
given, and ``WFMTrainArgs``' defaults where neither names them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from training.train_wfm import WFMTrainArgs
from worldmodel import hub
from worldmodel.diffusion.configuration_dit import DIT_MODELS
from worldmodel.info import world_model_info

POSTTRAIN_TASKS: dict[str, dict[str, Any]] = {
    "robot": {"actions": True},
    "camera": {"camera": True},
    "driving": {"trajectory": True, "views": ("left", "front", "right")},
}
"""what each post-training task conditions on (``WFMTrainArgs`` fields)"""
INHERITED = ("tokenizer", "dit", "context_frames", "size", "p_mean", "p_std", "sigma_max")
"""the ``WFMTrainArgs`` fields a run takes from ``--from`` when it does not set them"""


def inherited_settings(init_from: str | Path) -> dict[str, Any]:
    """The task and ``INHERITED`` settings of the diffusion world model in ``init_from``."""
    try:
        payload = hub.read_config(init_from)
        info = world_model_info(payload) if payload.get("kind") == "diffusion" else None
        # --from may be a shipped name or a Hub repo id: its tokenizer is found beside it or by name.
        tokenizer = hub.tokenizer_path(hub.resolve(init_from), info) if info is not None else None
    except hub.CheckpointError as e:
        raise ValueError(str(e)) from None
    if info is None:
        raise ValueError(f"--from {init_from} is not a diffusion world-model checkpoint")
    dit = payload["config"]["dit"]
    preset = next(
        (
            n
            for n, c in DIT_MODELS.items()
            if (c.hidden, c.depth, c.heads) == (dit["hidden"], dit["depth"], dit["heads"])
        ),
        None,
    )
    return {
        "task": info.task or payload.get("posttrained_for"),
        "tokenizer": str(tokenizer),
        "dit": preset,
        "context_frames": info.context_frames,
        "size": info.frame_size[0] if info.frame_size else None,
        "residual": bool(info.residual_scale),
        **{name: payload["config"].get(name) for name in ("p_mean", "p_std", "sigma_max")},
    }


def posttrain_settings(
    *,
    posttrain: bool,
    task: str | None,
    init_from: str | None,
    given: dict[str, Any],
    residual: bool,
) -> dict[str, Any]:
    """The run's task flags and ``INHERITED`` settings: ``given`` (None = unset), else ``init_from``'s,
    else ``WFMTrainArgs``' defaults. Raises ``ValueError`` naming the missing or unknown option.

    ``posttrain``: a post-training run, which needs a task or a checkpoint to fine-tune.
    """
    base = inherited_settings(init_from) if init_from else {}
    chosen = task or base.get("task")
    if posttrain and chosen not in POSTTRAIN_TASKS and not init_from:
        raise ValueError(f"pass --task ({', '.join(POSTTRAIN_TASKS)}) or --from a checkpoint to fine-tune")
    if task is not None and task not in POSTTRAIN_TASKS:
        raise ValueError(f"--task {task} is not built; available: {', '.join(POSTTRAIN_TASKS)}")
    settings = {"task": chosen if chosen in POSTTRAIN_TASKS else None, **POSTTRAIN_TASKS.get(chosen, {})}
    defaults = {f.name: f.default for f in dataclasses.fields(WFMTrainArgs)}
    for name in INHERITED:
        value, inherited = given.get(name), base.get(name)
        settings[name] = (
            value if value is not None else (inherited if inherited is not None else defaults[name])
        )
    if not settings["tokenizer"]:
        raise ValueError(
            "pass --tokenizer (an image tokenizer checkpoint), or --from a world model that names one"
        )
    settings["residual"] = residual or base.get("residual", False)
    return settings

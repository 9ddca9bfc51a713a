"""Clip classifiers on clip embeddings: burned-in text and video type (category).

A ``ClipMLP`` maps one clip's input vector to class logits: what its config's ``inputs``
name, concatenated in order, of the clip embedding (``curation.embeddings``, default the
pooled latents of the shipped tokenizer) and the clip's text-line features
(``curation.text_features``, which keep the small burned-in text a 64 px latent loses).
``TASK_INPUTS`` gives each task's default: text overlay reads the text features alone
(adding the 272 embedding values, which carry no text, cost 3-4 points in
cross-validation), video type the embedding.
The vector is standardised with the training set's per-feature mean and std (buffers
saved with the weights), then goes through ``Linear -> GELU -> Dropout -> Linear``.
``TASKS`` names the two tasks and their classes.

Checkpoints are ``worldmodel.hub`` checkpoints of ``kind: "classifier"`` (``ClipMLP`` is
registered with the hub; ``training.train_classifier`` saves through it): ``config.json``
(the ``ClipMLPConfig``, the embedding model it was trained on, how it was trained;
``classifier_extra`` builds these fields) + ``model.safetensors``; a classifier reading
text features also stores their ``TextFeatureConfig`` there (``text_features``), so the
curate stage computes them exactly as training did. ``load_classifier`` reads them back;
``ClipClassifier`` is what the curate stages call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from curation.frame_sampling import sample_frames
from curation.text_features import NAME as TEXT_FEATURES_NAME
from curation.text_features import TextFeatureConfig, text_features
from worldmodel import hub

KIND = "classifier"
TASKS = {
    "text-overlay": ("clean", "text"),
    "category": ("manipulation", "driving", "camera_motion", "other"),
}
CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
DEFAULT_CHECKPOINTS = {
    "text-overlay": CHECKPOINTS / "text-overlay-mlp",
    "category": CHECKPOINTS / "category-mlp",
}
INPUTS = ("embedding", "text_features")
TASK_INPUTS = {"text-overlay": ("text_features",), "category": ("embedding",)}


class ClassifierError(ValueError):
    """A classifier cannot be built, loaded or used; the message says why and what to do."""


@dataclass(frozen=True)
class ClipMLPConfig:
    """Shape of a clip classifier.

    Attributes:
        task: one of ``TASKS``; fixes the classes.
        input_dim: input size: the embedding's (272 for the shipped CI8x8 tokenizer's pooled
            latents) plus, with text features, their ``TextFeatureConfig.dim``.
        hidden: width of the hidden layer.
        dropout: dropout after the hidden layer while training.
        classes: class names, in logit order (``TASKS[task]``).
        inputs: what the input vector concatenates, in ``INPUTS`` order: ``embedding``,
            ``text_features`` or both.
    """

    task: str = "text-overlay"
    input_dim: int = 272
    hidden: int = 64
    dropout: float = 0.1
    classes: tuple[str, ...] = field(default=())
    inputs: tuple[str, ...] = ("embedding",)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ClassifierError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.classes:
            object.__setattr__(self, "classes", TASKS[self.task])
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.classes != TASKS[self.task]:
            raise ClassifierError(f"classes of {self.task} must be {TASKS[self.task]}, got {self.classes}")
        if self.input_dim < 1 or self.hidden < 1:
            raise ClassifierError(f"input_dim and hidden must be >= 1, got {self.input_dim}, {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ClassifierError(f"dropout must be in [0, 1), got {self.dropout}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not self.inputs or self.inputs != tuple(i for i in INPUTS if i in self.inputs):
            raise ClassifierError(f"inputs must be a non-empty ordered subset of {INPUTS}, got {self.inputs}")


@hub.register(KIND)
class ClipMLP(nn.Module):
    """Standardise, then a one-hidden-layer MLP: ``x (B, D) -> logits (B, K)``."""

    def __init__(self, config: ClipMLPConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.input_dim))
        self.register_buffer("std", torch.ones(config.input_dim))
        self.net = nn.Sequential(
            nn.Linear(config.input_dim, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, len(config.classes)),
        )

    def set_standardisation(self, x: torch.Tensor) -> None:
        """Per-feature mean and std of the training embeddings ``x (N, D)``."""
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)  # (B, K)


def classifier_extra(
    config: ClipMLPConfig, *, embedding: str, text_features: dict[str, Any] | None = None, **more: Any
) -> dict[str, Any]:
    """The fields a classifier checkpoint stores beside its config (``hub.save(extra=...)``): the
    ``embedding`` model it was trained on (``curation.embeddings.embedder_name``), exactly when its
    inputs include them its ``text_features`` (``TextFeatureConfig.to_dict()``), and ``more`` as is
    (``embedder``: the spec; ``training``)."""
    if not embedding:
        raise ClassifierError("a classifier checkpoint needs the embedding model it was trained on")
    if ("text_features" in config.inputs) != (text_features is not None):
        raise ClassifierError(
            "a classifier checkpoint records text_features exactly when the model reads them"
        )
    return {"embedding": embedding, **({"text_features": text_features} if text_features else {}), **more}


def load_classifier(directory: str | os.PathLike, *, task: str | None = None) -> tuple[ClipMLP, dict]:
    """The model of a classifier checkpoint and its ``config.json`` payload.

    Raises:
        ClassifierError: not a classifier checkpoint, or (with ``task``) one for another task.
    """
    path = Path(directory)
    try:
        payload = hub.read_config(path)
    except hub.CheckpointError as e:
        raise ClassifierError(
            f"{e}; train one with `worldfm train classifier --task ... --out {path}`"
        ) from None
    if payload.get("kind") != KIND or payload.get("model") != ClipMLP.__name__:
        raise ClassifierError(f"{path} is a {payload.get('kind')!r} checkpoint, not a clip classifier")
    try:
        config = hub.config_from_dict(ClipMLPConfig, payload["config"])
    except hub.CheckpointError as e:
        raise ClassifierError(str(e)) from None
    if task is not None and config.task != task:
        raise ClassifierError(f"{path} is a {config.task} classifier, but a {task} classifier is needed here")
    try:
        model = hub.load(path, expect_kind=KIND)
    except hub.CheckpointError as e:
        raise ClassifierError(f"{path / hub.WEIGHTS_FILE} does not fit its config.json: {e}") from None
    return model, payload


def check_classifier(directory: str | os.PathLike, *, task: str, embedding: str) -> None:
    """Raise ``ClassifierError`` unless ``directory`` holds a ``task`` classifier trained on the
    ``embedding`` model's embeddings (read from config.json only, so a run can refuse early)."""
    path = Path(directory)
    try:
        payload = hub.read_config(path)
    except hub.CheckpointError as e:
        raise ClassifierError(
            f"{e}; pass a classifier checkpoint directory (shipped: {DEFAULT_CHECKPOINTS[task]})"
        ) from None
    if payload.get("kind") != KIND or payload.get("config", {}).get("task") != task:
        found = payload.get("config", {}).get("task") or payload.get("kind")
        raise ClassifierError(f"{path} is not a {task} classifier (it is {found!r})")
    if "embedding" in payload["config"].get("inputs", INPUTS[:1]) and payload.get("embedding") != embedding:
        raise ClassifierError(
            f"{path} was trained on {payload.get('embedding')} embeddings, but the embed stage makes "
            f"{embedding} ones; pass --embedder {payload.get('embedder', 'tokenizer')} "
            "or retrain the classifier"
        )


def text_feature_config(payload: dict) -> TextFeatureConfig | None:
    """The ``TextFeatureConfig`` a classifier's config.json records, or None if it reads no text features."""
    if "text_features" not in payload.get("config", {}).get("inputs", ()):
        return None
    spec = dict(payload.get("text_features") or {})
    if spec.pop("name", None) != TEXT_FEATURES_NAME:
        raise ClassifierError(
            f"the classifier reads text features {payload.get('text_features')}, but this worldfm computes "
            f"{TEXT_FEATURES_NAME}; retrain it"
        )
    try:
        return hub.config_from_dict(TextFeatureConfig, spec)
    except (hub.CheckpointError, ValueError) as e:
        raise ClassifierError(f"bad text_features in the classifier's config.json: {e}") from None


class ClipClassifier:
    """A loaded classifier: clip inputs (``clip_input``) in, class probabilities out."""

    def __init__(self, directory: str | os.PathLike, *, task: str | None = None) -> None:
        self.model, self.payload = load_classifier(directory, task=task)
        self.classes = self.model.config.classes
        self.embedding = str(self.payload["embedding"])
        self.text_features = text_feature_config(self.payload)
        self.name = Path(directory).name

    @property
    def reads_embedding(self) -> bool:
        return "embedding" in self.model.config.inputs

    def clip_input(
        self, embedding: np.ndarray | None, video: str | os.PathLike | bytes | None = None
    ) -> np.ndarray:
        """The model's input for one clip, from what it reads: the clip's ``embedding`` (D,) and the
        text features of ``video`` (a file or its encoded bytes) -> float32 (input_dim,)."""
        parts = []
        if self.reads_embedding:
            if embedding is None:
                raise ClassifierError(f"{self.name} reads the clip embedding: pass it")
            parts.append(np.asarray(embedding, dtype=np.float32))
        if self.text_features is not None:
            if video is None:
                raise ClassifierError(f"{self.name} reads text features: pass the clip's video too")
            frames, _, _ = sample_frames(video, self.text_features.num_frames)
            parts.append(text_features(frames, self.text_features))
        return np.concatenate(parts)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """embeddings: (N, D) or (D,) float -> (N, K) or (K,) class probabilities."""
        x = np.asarray(embeddings, dtype=np.float32)
        single = x.ndim == 1
        x = x[None] if single else x
        if x.ndim != 2 or x.shape[1] != self.model.config.input_dim:
            raise ClassifierError(
                f"{self.name} takes ({self.model.config.input_dim},) embeddings, "
                f"got shape {np.shape(embeddings)}"
            )
        with torch.inference_mode():
            p = torch.softmax(self.model(torch.from_numpy(x)), dim=-1).numpy()  # (N, K)
        return p[0] if single else p

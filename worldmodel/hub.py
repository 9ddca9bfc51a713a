"""Checkpoints: one directory with ``config.json`` and ``model.safetensors``, never a pickle.

``config.json`` holds the format version, the ``kind`` (``tokenizer`` |
``diffusion`` | ``autoregressive`` | ``head`` | ``policy`` |
``classifier``), the model class, its
dataclass config and whatever the trainer adds (what it was post-trained for, the
tokenizer it expects). Model classes join the registry with ``@register(kind)``;
``load`` imports the package of a ``worldmodel`` kind on demand, so any such
checkpoint directory loads with one call (a ``classifier`` is registered by
``curation.classifiers``, which this layer does not import). Resuming state
(optimizer, step) lives in ``training_state/`` beside the weights and is the
trainer's business, not this module's.

Writing is atomic per file (temp file + rename) and ``config.json`` is written
last, so a directory with a ``config.json`` always has matching weights.

Reward heads written before heads were hub checkpoints sit beside their world
model as ``reward_head.json`` + ``reward_head.safetensors``; ``read_config`` and
``load`` read that layout as the checkpoint directory ``reward_head/``
(``LEGACY_LAYOUTS``), with the same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from worldmodel.atomic import atomic_output, atomic_write_text
from worldmodel.info import WorldModelInfo

FORMAT = "worldfm-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# The section of a world-model checkpoint's config.json that holds its ``WorldModelInfo``.
WORLD_MODEL_SECTION = "world_model"
KINDS = ("tokenizer", "diffusion", "autoregressive", "head", "policy", "classifier")
# The package whose import registers the models of each kind.
_KIND_MODULES = {
    "tokenizer": "worldmodel.tokenizer",
    "diffusion": "worldmodel.diffusion",
    "autoregressive": "worldmodel.autoregressive",
    "head": "worldmodel.heads",
    "policy": "worldmodel.policies",
}
# Checkpoint directory name -> (kind, model class) of the files ``<name>.json`` + ``<name>.safetensors``
# that stood in for that directory before the kind was a hub checkpoint (the shipped
# fetchpush-wm-dit reward head): ``<name>.json`` holds the config and the extra fields.
LEGACY_LAYOUTS = {"reward_head": ("head", "RewardHead")}
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")

_REGISTRY: dict[str, tuple[str, type[nn.Module]]] = {}

M = TypeVar("M", bound=type[nn.Module])


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; the message names the path and the fix."""


def register(kind: str):  # noqa: ANN201 - a class decorator
    """Class decorator adding a model class to the checkpoint registry under ``kind``.

    The class must take its dataclass config as the only constructor argument and
    keep it as ``self.config``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def decorator(cls: M) -> M:
        _REGISTRY[cls.__name__] = (kind, cls)
        return cls

    return decorator


def save(model: nn.Module, directory: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a checkpoint directory and return its path.

    Args:
        model: a registered model with a dataclass ``config``.
        directory: created if needed; existing weights and config are replaced
            atomically, anything else in it (``training_state/``, a model card) is kept.
        extra: json-serialisable fields stored beside the config, e.g.
            ``{"posttrained_for": "robot", "tokenizer": "checkpoints/tok"}``.
    """
    name = type(model).__name__
    if name not in _REGISTRY:
        raise CheckpointError(
            f"{name} is not a registered model class; decorate it with @worldmodel.hub.register(kind)"
        )
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise CheckpointError(f"{name}.config must be a dataclass instance, got {type(config).__name__}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": _REGISTRY[name][0],
        "model": name,
        "config": dataclasses.asdict(config),
        **(extra or {}),
    }
    text = json.dumps(payload, indent=2, sort_keys=False)
    with atomic_output(directory / WEIGHTS_FILE) as tmp:
        save_model(model, str(tmp), metadata={"format": FORMAT})
    atomic_write_text(directory / CONFIG_FILE, text)
    return directory


def update_section(
    directory: str | os.PathLike, section: str, values: dict[str, Any], *, remove: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Merge ``values`` into ``config.json``'s ``section`` (atomically), drop the ``remove`` keys,
    and return the new payload.

    For facts learned after training, such as a world model's best sampler step count. The
    ``world_model`` section goes through ``WorldModelInfo`` (migrated, checked, written whole).
    """
    payload = read_config(directory)
    merged = {**(payload.get(section) or {}), **values}
    merged = {k: v for k, v in merged.items() if k not in remove}
    if section == WORLD_MODEL_SECTION:
        merged = _info_from_payload(directory, {**payload, section: merged}).to_dict()
    payload[section] = merged
    text = json.dumps(payload, indent=2, sort_keys=False)
    atomic_write_text(Path(directory) / CONFIG_FILE, text)
    return payload


def read_info(directory: str | os.PathLike) -> WorldModelInfo:
    """The ``WorldModelInfo`` of a world-model checkpoint (older sections migrated)."""
    return _info_from_payload(directory, read_config(directory))


def update_info(directory: str | os.PathLike, **changes: Any) -> WorldModelInfo:
    """Write ``changes`` (``WorldModelInfo`` fields) into a world-model checkpoint's ``config.json``."""
    payload = read_config(directory)
    info = _info_from_payload(directory, payload).replace(**changes)
    payload[WORLD_MODEL_SECTION] = info.to_dict()
    text = json.dumps(payload, indent=2, sort_keys=False)
    atomic_write_text(Path(directory) / CONFIG_FILE, text)
    return info


def _info_from_payload(directory: str | os.PathLike, payload: dict[str, Any]) -> WorldModelInfo:
    section = payload.get(WORLD_MODEL_SECTION)
    if not section:
        raise CheckpointError(
            f"{directory}/{CONFIG_FILE} has no '{WORLD_MODEL_SECTION}' section (tokenizer, norm): "
            "not a world-model checkpoint"
        )
    try:
        return WorldModelInfo.from_dict(section)
    except ValueError as e:
        raise CheckpointError(f"{directory}/{CONFIG_FILE}: {e}") from None


def store_half(directory: str | os.PathLike) -> Path:
    """Rewrite a checkpoint's float weights as float16 files (half the size, for shipping).

    Storage only: ``load`` copies them into the model's float32 parameters, so inference still
    computes in float32 (float16 arithmetic is very slow on CPUs). Recorded as
    ``config.json["storage_dtype"]``.
    """
    from safetensors.torch import load_file, save_file

    path = Path(directory) / WEIGHTS_FILE
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    payload = read_config(directory)
    payload["storage_dtype"] = "float16"
    text = json.dumps(payload, indent=2, sort_keys=False)
    atomic_write_text(Path(directory) / CONFIG_FILE, text)
    return path


def _refuse_pickles(path: Path) -> None:
    if path.is_file() and path.suffix in _PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path} is a pickle file; worldfm never unpickles (it can run arbitrary code). "
            f"A checkpoint is a directory with {CONFIG_FILE} + {WEIGHTS_FILE}: load the pickle yourself "
            "with torch.load(weights_only=True) in a trusted session and re-save it with worldmodel.hub.save"
        )
    if path.is_dir() and not (path / WEIGHTS_FILE).exists():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"{path} holds pickle weights {pickles} but no {WEIGHTS_FILE}; worldfm never unpickles. "
                "Convert them with torch.load(weights_only=True) and worldmodel.hub.save"
            )


def _legacy_layout(path: Path) -> tuple[dict[str, Any], Path] | None:
    """``(payload, weights file)`` of a ``LEGACY_LAYOUTS`` checkpoint standing in for directory
    ``path``, as if it had been written by ``save``; None if there is none."""
    if path.name not in LEGACY_LAYOUTS or path.exists():
        return None
    config_path = path.with_name(path.name + ".json")
    if not config_path.is_file():
        return None
    try:
        old = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path} is not valid JSON ({e})") from None
    kind, model = LEGACY_LAYOUTS[path.name]
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "model": model, **old}
    return payload, path.with_name(path.name + ".safetensors")


def is_checkpoint(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a checkpoint (a ``config.json``, or a ``LEGACY_LAYOUTS`` one);
    ``read_config`` / ``load`` still check it."""
    path = Path(directory)
    return (path / CONFIG_FILE).is_file() or _legacy_layout(path) is not None


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, checked for format and version
    (a ``LEGACY_LAYOUTS`` checkpoint is read as the directory it stands in for)."""
    path = Path(directory)
    legacy = _legacy_layout(path)
    if legacy is not None:
        return legacy[0]
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    _refuse_pickles(path)
    if not path.is_dir():
        raise CheckpointError(
            f"{path} is a file; a checkpoint is a directory with {CONFIG_FILE} + {WEIGHTS_FILE}"
        )
    config_path = path / CONFIG_FILE
    if not config_path.exists():
        raise CheckpointError(
            f"{path} has no {CONFIG_FILE}: not a worldfm checkpoint, or its save was interrupted"
        )
    try:
        payload = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_path} is not valid JSON ({e})") from None
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{config_path} is not a worldfm checkpoint config (format={payload.get('format')!r})"
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {payload['format_version']}, newer than this worldfm reads "
            f"({FORMAT_VERSION}); upgrade worldfm"
        )
    return payload


T = TypeVar("T")


def _coerce(tp: Any, value: Any) -> Any:
    """Rebuild a json value as the declared field type (tuples, nested dataclasses)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return config_from_dict(tp, value)
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value)
        if isinstance(value, list):
            return tuple(value) if any(typing.get_origin(a) is tuple for a in typing.get_args(tp)) else value
        return value
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return tuple(_coerce(inner, v) if inner else v for v in value)
    return value


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a json dict; unknown keys are an error naming them."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(
            f"config keys {unknown} are unknown to {cls.__name__} (from another worldfm version?)"
        )
    return cls(**{k: _coerce(hints[k], v) for k, v in data.items()})


def load(
    directory: str | os.PathLike, *, device: str | torch.device = "cpu", expect_kind: str | None = None
) -> nn.Module:
    """Load any worldfm checkpoint directory as its model, in eval mode.

    Args:
        directory: the checkpoint directory.
        device: where to put the weights.
        expect_kind: if given, a checkpoint of another kind is an error saying which is needed.
    """
    path = Path(directory)
    payload = read_config(path)
    kind, name = payload.get("kind"), payload.get("model")
    if expect_kind is not None and kind != expect_kind:
        raise CheckpointError(
            f"{path} is a {kind!r} checkpoint, but a {expect_kind!r} checkpoint is needed here"
        )
    if name not in _REGISTRY and kind in _KIND_MODULES:
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(_KIND_MODULES[kind])
    if name not in _REGISTRY:
        raise CheckpointError(
            f"{path}: model class {name!r} (kind {kind!r}) is not known to this worldfm; "
            f"known: {sorted(_REGISTRY)}"
        )
    cls = _REGISTRY[name][1]
    config_cls = typing.get_type_hints(cls.__init__).get("config")
    if config_cls is None or not dataclasses.is_dataclass(config_cls):
        raise CheckpointError(
            f"{name}.__init__ must annotate its dataclass argument as `config: <ConfigClass>`"
        )
    model = cls(config_from_dict(config_cls, payload["config"]))
    legacy = _legacy_layout(path)
    weights = legacy[1] if legacy is not None else path / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{path} has {CONFIG_FILE} but no {WEIGHTS_FILE}; the checkpoint is incomplete")
    try:
        missing, unexpected = load_model(model, weights, strict=False, device=str(device))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{weights} is not a valid safetensors file ({e})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{weights} does not match {name}'s config: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return model.to(device).eval()

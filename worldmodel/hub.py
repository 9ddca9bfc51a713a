"""Checkpoints: one directory with ``config.json`` and ``model.safetensors``, never a pickle.

``config.json`` holds the format version, the ``kind`` (``tokenizer`` |
``diffusion`` | ``autoregressive`` | ``head`` | ``policy`` | ``classifier`` |
``quality``), the model class, its
dataclass config and whatever the trainer adds (what it was post-trained for, the
tokenizer it expects). Model classes join the registry with ``@register(kind)``;
``load`` imports the package of a ``worldmodel`` kind on demand, so any such
checkpoint directory loads with one call (a ``classifier`` is registered by
``curation.classifiers`` and a ``quality`` predictor by ``curation.quality``, which this layer
does not import). Resuming state
(optimizer, step) lives in ``training_state/`` beside the weights and is the
trainer's business, not this module's.

Writing is atomic per file (temp file + rename) and ``config.json`` is written
last, so a directory with a ``config.json`` always has matching weights.

A checkpoint is named by a path, a shipped name or a Hugging Face Hub repo id (``resolve``):
``read_config`` and ``load`` take any of the three, so ``hub.load("tokenizer-ci8x8-fetch64")``
works from any folder once worldfm is installed, and ``hub.load("org/name")`` reads the local Hub
cache (never the network: ``hf download org/name`` fetches it first).

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
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from worldmodel.atomic import atomic_output, atomic_write_text
from worldmodel.info import WorldModelInfo
from worldmodel.shipped import SHIPPED_CHECKPOINTS

FORMAT = "worldfm-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# The section of a world-model checkpoint's config.json that holds its ``WorldModelInfo``.
WORLD_MODEL_SECTION = "world_model"
KINDS = ("tokenizer", "diffusion", "autoregressive", "head", "policy", "classifier", "quality")
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
# A Hub model repo id, ``org/name``: the characters huggingface_hub accepts, one slash.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")

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
    directory = resolve(directory)  # a name writes where it was read from
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
    directory = resolve(directory)  # a name writes where it was read from
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


def shipped_names() -> list[str]:
    """The checkpoint names installed with worldfm (folders of ``SHIPPED_CHECKPOINTS``)."""
    if not SHIPPED_CHECKPOINTS.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_CHECKPOINTS.iterdir() if (p / CONFIG_FILE).is_file())


def resolve(name: str | os.PathLike) -> Path:
    """The checkpoint directory ``name`` stands for, looked up in order as:

    1. a path (a directory, a file, or a ``LEGACY_LAYOUTS`` checkpoint), relative to the working folder;
    2. a checkpoint shipped with worldfm, by folder name (``fetchpush-wm-dit``), from any folder;
    3. a Hugging Face Hub repo id ``org/name`` in the local Hub cache (``HF_HUB_CACHE``; its
       ``main`` snapshot). Nothing is downloaded: ``hf download org/name`` fetches a repo first.

    Raises ``CheckpointError`` naming the three places when none has it.
    """
    path = Path(name).expanduser()
    if path.exists() or _legacy_layout(path) is not None:
        return path
    text = str(name)
    if not path.is_absolute() and len(path.parts) == 1:
        shipped = SHIPPED_CHECKPOINTS / text
        if is_checkpoint(shipped):
            return shipped
    if _REPO_ID.match(text):
        snapshot = _hub_snapshot(text)
        if snapshot is not None:
            return snapshot
    if path.is_absolute() or (len(path.parts) > 1 and not _REPO_ID.match(text)):
        raise CheckpointError(f"checkpoint {name} does not exist")
    raise CheckpointError(
        f"checkpoint {name} does not exist: it is not a path here, a shipped name "
        f"({', '.join(shipped_names()) or 'none installed'}) or a Hub repo id 'org/name' in the local "
        "Hub cache (worldfm never downloads: `hf download org/name` fetches a repo)"
    )


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached ``main`` snapshot of Hub model repo ``repo_id``, or None; never downloads."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # an install without huggingface_hub resolves paths and shipped names only
        return None
    try:
        # local_files_only: no request, also without HF_HUB_OFFLINE; the cache folder is read from
        # HF_HUB_CACHE / HF_HOME as every Hub library reads it.
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        return None


def tokenizer_path(directory: str | os.PathLike, info: WorldModelInfo) -> Path:
    """The tokenizer checkpoint a world model at ``directory`` names (``info.tokenizer``): an
    absolute path; else a path relative to ``directory`` (``../tokenizer-ci8x8-fetch64``, or the
    ``tokenizer`` folder of a Hub repo); else a name, as ``resolve`` finds it."""
    tok = Path(info.tokenizer)
    if tok.is_absolute():
        return tok
    beside = Path(directory) / tok
    if is_checkpoint(beside):
        return beside
    return resolve(info.tokenizer)


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
    """The parsed ``config.json`` of a checkpoint directory or name (``resolve``), checked for
    format and version (a ``LEGACY_LAYOUTS`` checkpoint is read as the directory it stands in for)."""
    path = resolve(directory)
    legacy = _legacy_layout(path)
    if legacy is not None:
        return legacy[0]
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
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{config_path} is not a worldfm checkpoint config (format={got!r})")
    _check_payload(config_path, payload)
    return payload


def _check_payload(config_path: Path, payload: dict[str, Any]) -> None:
    """The format version, refused by name if it is not a whole number this worldfm reads."""
    version = payload.get("format_version", 0)
    if not _is_int(version) or version < 0:
        raise CheckpointError(f"{config_path}: format_version must be a whole number >= 0, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path.parent} has checkpoint format {version}, newer than this worldfm reads "
            f"({FORMAT_VERSION}); upgrade worldfm"
        )


def _check_model_keys(config_path: Path, payload: dict[str, Any]) -> None:
    """The top-level keys ``load`` builds the model from, each refused by name if missing or of
    the wrong type (``read_config`` alone also serves metadata readers, which need fewer)."""
    if payload.get("kind") not in KINDS:
        raise CheckpointError(f"{config_path}: kind must be one of {KINDS}, got {payload.get('kind')!r}")
    if not isinstance(payload.get("model"), str):
        raise CheckpointError(f"{config_path}: model must be a class name, got {payload.get('model')!r}")
    if not isinstance(payload.get("config"), dict):
        raise CheckpointError(f"{config_path}: config must be an object of the model's settings")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


def _type_error(tp: Any, value: Any, key: str) -> str | None:
    """Why json ``value`` cannot be a ``tp`` (the field ``key``), or None if it can.

    Checks what a config's annotations say (numbers, strings, flags, tuples, optional and nested
    configs); other annotations are left to the dataclass's own ``__post_init__``.
    """
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        reasons = [_type_error(arg, value, key) for arg in typing.get_args(tp)]
        return None if any(r is None for r in reasons) else f"{key} must be {_type_name(tp)}, got {value!r}"
    if tp is type(None):
        return None if value is None else f"{key} must be null, got {value!r}"
    if tp is bool:
        return None if isinstance(value, bool) else f"{key} must be true or false, got {value!r}"
    if tp is int:
        return None if _is_int(value) else f"{key} must be a whole number, got {value!r}"
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else f"{key} must be a finite number, got {value!r}"
    if tp is str:
        return None if isinstance(value, str) else f"{key} must be a string, got {value!r}"
    if dataclasses.is_dataclass(tp):
        return None if isinstance(value, dict) else f"{key} must be an object ({tp.__name__}), got {value!r}"
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return f"{key} must be a list, got {value!r}"
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif args and len(args) != len(value):
            return f"{key} must have {len(args)} values, got {len(value)}"
        for i, (arg, item) in enumerate(zip(args, value, strict=False)):
            reason = _type_error(arg, item, f"{key}[{i}]")
            if reason:
                return reason
    return None


def _type_name(tp: Any) -> str:
    return " or ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(tp)) or str(tp)


def config_from_dict(cls: type[T], data: dict[str, Any], *, prefix: str = "config") -> T:
    """Build dataclass ``cls`` from a json dict, every value checked against its field's type
    first; an unknown key, a value of the wrong type or one the config refuses is a
    ``CheckpointError`` naming the key (``prefix.key``)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(
            f"config keys {unknown} are unknown to {cls.__name__} (from another worldfm version?)"
        )
    values = {}
    for k, v in data.items():
        reason = _type_error(hints[k], v, f"{prefix}.{k}")
        if reason:
            raise CheckpointError(reason)
        if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict):
            values[k] = config_from_dict(hints[k], v, prefix=f"{prefix}.{k}")
        else:
            values[k] = _coerce(hints[k], v)
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{prefix} ({cls.__name__}): {e}") from None


def load(
    directory: str | os.PathLike, *, device: str | torch.device = "cpu", expect_kind: str | None = None
) -> nn.Module:
    """Load any worldfm checkpoint directory as its model, in eval mode.

    Args:
        directory: the checkpoint directory, a shipped name or a cached Hub repo id (``resolve``).
        device: where to put the weights.
        expect_kind: if given, a checkpoint of another kind is an error saying which is needed.
    """
    path = resolve(directory)
    payload = read_config(path)
    _check_model_keys(path / CONFIG_FILE, payload)
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
    legacy = _legacy_layout(path)
    weights = legacy[1] if legacy is not None else path / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path} has {CONFIG_FILE} but no {WEIGHTS_FILE}; the checkpoint is incomplete")
    config = config_from_dict(config_cls, payload["config"])
    # Before a byte is allocated: the file's tensors must have the shapes this config builds.
    _check_shapes(weights, name, _meta_state(cls, config))
    model = cls(config)
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


def _meta_state(cls: type[nn.Module], config: Any) -> dict[str, torch.Size] | None:
    """The parameter and buffer shapes ``cls(config)`` would have, built on the meta device
    (no memory); None if the class cannot be built there (it then loads unchecked, as before)."""
    try:
        with torch.device("meta"):
            model = cls(config)
    except Exception:  # noqa: BLE001 - any failure only means "not checkable on meta"
        return None
    return {k: v.shape for k, v in model.state_dict().items()}


def _check_shapes(weights: Path, name: str, expected: dict[str, torch.Size] | None) -> None:
    """Refuse a weights file whose tensors (read from its header) do not fit ``expected``."""
    if expected is None:
        return
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights} is not a valid safetensors file ({e})") from None
    unexpected = sorted(set(stored) - set(expected))
    if unexpected:
        raise CheckpointError(f"{weights} does not match {name}'s config: unexpected {unexpected[:5]}")
    for key, shape in stored.items():
        if tuple(expected[key]) != shape:
            raise CheckpointError(
                f"{weights} does not match {name}'s config: {key} is {list(shape)} in the file, "
                f"{list(expected[key])} for the config in {CONFIG_FILE}"
            )

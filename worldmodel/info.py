"""``WorldModelInfo``: the typed, versioned ``world_model`` section of a world-model checkpoint.

A world-model checkpoint's ``config.json`` holds the WFM's own dataclass config and, under
``world_model``, what ``WorldModel`` needs around it: the tokenizer it expects and the latent
normalisation, the context and frame size, what it was post-trained for (actions, camera poses,
a trajectory) with the statistics that scale those inputs, sampler defaults measured after
training, and its env id. ``from_dict`` migrates sections written by older versions;
``to_dict`` writes the current one. Every field is checked in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# 1: the first typed version (sections without ``info_version`` are version 0).
INFO_VERSION = 1
# What the DiT's action input carries: robot actions (or nothing), the camera's relative pose
# vectors (with Plücker maps beside them), or the ego motion of a driving trajectory.
CONDITIONINGS = ("actions", "camera", "trajectory")


def _floats(
    name: str, values: Any, length: int | None = None, *, positive: bool = False
) -> tuple[float, ...]:
    """A tuple of finite floats, of ``length`` if given; a ValueError naming ``name`` otherwise."""
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"WorldModelInfo.{name} must be a list of numbers, got {values!r}") from None
    if length is not None and len(out) != length:
        raise ValueError(f"WorldModelInfo.{name} must have {length} values, got {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"WorldModelInfo.{name} must be finite, got {list(out)}")
    if positive and any(v <= 0 for v in out):
        raise ValueError(f"WorldModelInfo.{name} must be > 0 (a std or scale), got {list(out)}")
    return out


@dataclass(frozen=True)
class ActionSpace:
    """The box of the actions the model was trained on (their per-dimension min and max)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _floats("action_space.low", self.low))
        object.__setattr__(self, "high", _floats("action_space.high", self.high, len(self.low)))
        if not self.low or any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError(
                f"WorldModelInfo.action_space needs low <= high in every dimension, got low {list(self.low)} "
                f"high {list(self.high)}"
            )

    @property
    def dim(self) -> int:
        return len(self.low)

    def to_dict(self) -> dict[str, Any]:
        return {"low": list(self.low), "high": list(self.high), "dim": self.dim}


@dataclass(frozen=True)
class WorldModelInfo:
    """What ``WorldModel`` needs around a WFM, as stored in ``config.json["world_model"]``."""

    tokenizer: str
    """the image tokenizer checkpoint, relative to this checkpoint's folder (or absolute)"""
    latent_mean: tuple[float, ...]
    latent_std: tuple[float, ...]
    """per-channel statistics of the tokenizer's latents (``LatentNorm``)"""
    sigma_data: float
    """the std the normalised latents are scaled to (1 with mean 0, std 1: the identity, AR models)"""
    context_frames: int
    """latent (= pixel) frames of context each prediction is conditioned on"""
    frame_size: tuple[int, int] | None = None
    """(H, W) of the frames it was trained on (the whole canvas for tiled views)"""
    task: str | None = None
    """what it was post-trained for: "robot", "camera", "driving", or None (video only)"""
    text: bool = False
    """trained with captions (a text tokenizer file sits beside the weights)"""
    data: tuple[str, ...] = ()
    """the shard folders it was trained on"""
    heldout_fraction: float = 0.1
    """the share of clips held out by key hash, never trained on"""
    action_space: ActionSpace | None = None
    """robot models: the box of the training actions"""
    residual_scale: float | None = None
    """residual models predict (next - last) * scale in normalised latent space"""
    conditioning: str = "actions"
    """what the DiT's action input carries (``CONDITIONINGS``)"""
    intrinsics: tuple[tuple[float, ...], ...] | None = None
    """camera models: the 3x3 pinhole matrix assumed when a caller gives poses without one"""
    camera_scale: tuple[float, ...] | None = None
    """camera models: per-channel std of the Plücker maps"""
    pose_std: tuple[float, ...] | None = None
    """camera models: per-component std of the relative pose vectors (the action input)"""
    trajectory_std: tuple[float, ...] | None = None
    """driving models: per-component std of the ego motion (the action input)"""
    views: tuple[str, ...] = ()
    """multi-view models: the views tiled left to right into one canvas"""
    max_frame_stride: int = 1
    """> 1: trained on windows whose frames are 1..N source frames apart"""
    sampler_steps: int | None = None
    """sampler steps per frame when a call names none (the evaluation's best)"""
    bf16_cost_db: float | None = None
    """fp32 minus bf16 held-out PSNR (``worldmodel.precision.choose_precision`` reads it)"""
    env_id: str | None = None
    """the Gymnasium id of its learned env (default: from the folder name)"""
    sim_env: dict[str, Any] | None = None
    """its ground-truth simulator, ``{"id": ..., "kwargs": {...}}`` (default: the task's)"""
    fps: float | None = None
    """frame rate of its training clips (its learned env's ``render_fps``), when they agreed"""
    reward_head: dict[str, Any] | None = None
    """a learned reward head it declares"""
    lora: dict[str, Any] | None = None
    """LoRA post-training: ``{"rank", "alpha", "merged"}``"""
    init_from: dict[str, Any] | None = None
    """the checkpoint it was initialised from, with that one's own lineage"""
    info_version: int = INFO_VERSION
    """the version of this section's layout (older ones are migrated by ``from_dict``)"""

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the JSON lists into tuples once, here
        if not isinstance(self.tokenizer, str) or not self.tokenizer:
            raise ValueError(
                "WorldModelInfo.tokenizer must name the image tokenizer checkpoint (a path), "
                f"got {self.tokenizer!r}"
            )
        set_(self, "latent_mean", _floats("latent_mean", self.latent_mean))
        set_(self, "latent_std", _floats("latent_std", self.latent_std, len(self.latent_mean), positive=True))
        if not self.latent_mean:
            raise ValueError("WorldModelInfo.latent_mean must have one value per latent channel, got none")
        set_(self, "sigma_data", _floats("sigma_data", [self.sigma_data], positive=True)[0])
        if isinstance(self.context_frames, bool) or int(self.context_frames) != self.context_frames:
            raise ValueError(f"WorldModelInfo.context_frames must be an integer, got {self.context_frames!r}")
        set_(self, "context_frames", int(self.context_frames))
        if self.context_frames < 1:
            raise ValueError(f"WorldModelInfo.context_frames must be >= 1, got {self.context_frames}")
        if self.frame_size is not None:
            size = tuple(int(s) for s in self.frame_size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"WorldModelInfo.frame_size must be (H, W) > 0, got {self.frame_size!r}")
            set_(self, "frame_size", size)
        if not isinstance(self.text, bool):
            raise ValueError(f"WorldModelInfo.text must be true or false, got {self.text!r}")
        set_(self, "data", tuple(str(d) for d in self.data))
        if not 0 <= float(self.heldout_fraction) < 1:
            raise ValueError(
                f"WorldModelInfo.heldout_fraction must be in [0, 1), got {self.heldout_fraction}"
            )
        set_(self, "heldout_fraction", float(self.heldout_fraction))
        if isinstance(self.action_space, Mapping):
            set_(self, "action_space", _action_space(self.action_space))
        if self.residual_scale is not None:
            set_(self, "residual_scale", _floats("residual_scale", [self.residual_scale], positive=True)[0])
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(
                f"WorldModelInfo.conditioning must be one of {CONDITIONINGS}, got {self.conditioning!r}"
            )
        self._check_conditioning_stats()
        set_(self, "views", tuple(str(v) for v in self.views))
        if int(self.max_frame_stride) < 1:
            raise ValueError(f"WorldModelInfo.max_frame_stride must be >= 1, got {self.max_frame_stride}")
        set_(self, "max_frame_stride", int(self.max_frame_stride))
        if self.sampler_steps is not None:
            if int(self.sampler_steps) < 1:
                raise ValueError(
                    f"WorldModelInfo.sampler_steps must be >= 1 (or null: 8), got {self.sampler_steps}"
                )
            set_(self, "sampler_steps", int(self.sampler_steps))
        if self.bf16_cost_db is not None:
            set_(self, "bf16_cost_db", _floats("bf16_cost_db", [self.bf16_cost_db])[0])
        if self.sim_env is not None and "id" not in self.sim_env:
            raise ValueError(
                f"WorldModelInfo.sim_env must be {{'id': ..., 'kwargs': {{...}}}}, got {self.sim_env!r}"
            )
        if self.info_version != INFO_VERSION:
            raise ValueError(
                f"WorldModelInfo.info_version must be {INFO_VERSION}; read older sections with "
                f"WorldModelInfo.from_dict, got {self.info_version!r}"
            )

    def _check_conditioning_stats(self) -> None:
        set_ = object.__setattr__
        for name, length in (("camera_scale", 6), ("pose_std", 10), ("trajectory_std", 3)):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _floats(name, value, length, positive=True))
        if self.intrinsics is not None:
            rows = tuple(_floats("intrinsics", row, 3) for row in self.intrinsics)
            if len(rows) != 3 or rows[0][0] <= 0 or rows[1][1] <= 0:
                raise ValueError(
                    "WorldModelInfo.intrinsics must be a 3x3 pinhole matrix (fx, fy > 0), "
                    f"got {self.intrinsics!r}"
                )
            set_(self, "intrinsics", rows)
        if self.conditioning == "camera":
            missing = [n for n in ("intrinsics", "camera_scale", "frame_size") if getattr(self, n) is None]
            if missing:
                raise ValueError(
                    f"WorldModelInfo.conditioning 'camera' needs {', '.join(missing)} (written by "
                    "`worldfm train posttrain --task camera`)"
                )
        if self.conditioning == "trajectory" and self.trajectory_std is None:
            raise ValueError(
                "WorldModelInfo.conditioning 'trajectory' needs trajectory_std (written by "
                "`worldfm train posttrain --task driving`)"
            )

    # -- reading and writing -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> WorldModelInfo:
        """The info of a ``config.json`` ``world_model`` section of any version, migrated to this one.

        Version 0 (no ``info_version``) stored the eval sweep's winner as ``precision``; the
        sweep chose "bf16" only within ``BF16_TOLERANCE_DB`` of fp32, so it reads as a cost of 0.
        """
        values = dict(section)
        version = values.pop("info_version", 0)
        if not isinstance(version, int) or version > INFO_VERSION:
            raise ValueError(
                f"this world_model section has info_version {version!r}, newer than this worldfm reads "
                f"({INFO_VERSION}); upgrade worldfm"
            )
        if version == 0:
            precision = values.pop("precision", None)
            if values.get("bf16_cost_db") is None and precision == "bf16":
                values["bf16_cost_db"] = 0.0
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"the world_model section has unknown field(s) {unknown}; WorldModelInfo has {sorted(names)}"
            )
        missing = sorted(f.name for f in dataclasses.fields(cls) if _required(f) and f.name not in values)
        if missing:
            raise ValueError(f"the world_model section lacks {missing} (tokenizer, latent norm, context)")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``world_model`` section (lists for tuples), every field written."""
        out: dict[str, Any] = {"info_version": self.info_version}
        for f in dataclasses.fields(self):
            if f.name != "info_version":
                out[f.name] = _jsonable(getattr(self, f.name))
        return out

    def replace(self, **changes: Any) -> WorldModelInfo:
        """A copy with ``changes`` (checked like a new one)."""
        return dataclasses.replace(self, **changes)


def world_model_info(payload: Mapping[str, Any]) -> WorldModelInfo | None:
    """The ``WorldModelInfo`` of a checkpoint's parsed ``config.json``, or None for checkpoints
    that are not world models (tokenizers, heads, classifiers)."""
    if payload.get("kind") not in ("diffusion", "autoregressive") or not payload.get("world_model"):
        return None
    return WorldModelInfo.from_dict(payload["world_model"])


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _action_space(value: Any) -> ActionSpace:
    if isinstance(value, ActionSpace):
        return value
    if not isinstance(value, Mapping) or "low" not in value or "high" not in value:
        raise ValueError(
            f"WorldModelInfo.action_space must be {{'low': [...], 'high': [...]}}, got {value!r}"
        )
    space = ActionSpace(tuple(value["low"]), tuple(value["high"]))
    if value.get("dim") is not None and int(value["dim"]) != space.dim:
        raise ValueError(
            f"WorldModelInfo.action_space.dim is {value['dim']} but low / high have {space.dim} values"
        )
    return space


def _jsonable(value: Any) -> Any:
    if isinstance(value, ActionSpace):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value

"""``WorldModel``: one object that predicts future frames, whatever tokenizer and WFM are inside.

ARCHITECTURE.md contract: ``WorldModel.from_pretrained(dir)``; ``predict(context_frames, *,
actions=None, camera=None, trajectory=None, text=None, horizon, seed)`` -> ``uint8 [horizon, H, W, 3]``;
``actions[i]`` drives
the step from the last known frame to predicted frame i; ``context_frames`` says how many
context frames the model wants. ``envs.WorldModelEnv`` and ``app/`` use only this class.

Frame-per-action models work on image-tokenizer latents: each step encodes nothing new (the
context latents are kept), samples one latent frame conditioned on the last ``context_frames``
latents and the action, and decodes it, so each action shows in the very next frame.
``predict`` is ``encode`` + ``rollout_latents`` + ``decode``; control (planners, the latent env)
calls ``rollout_latents`` on latents it keeps and never decodes.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldmodel import hub
from worldmodel.conditioning.camera import check_rigid
from worldmodel.conditioning.inputs import Conditioning
from worldmodel.conditioning.tokenize import TOKENIZER_FILE, Tokenize
from worldmodel.conditioning.trajectory import check_trajectory
from worldmodel.conditioning.window import WindowConditioning, context_mask, window_conditioning
from worldmodel.generators import Generators, make_generators
from worldmodel.info import WorldModelInfo
from worldmodel.precision import (
    bf16_is_fast,
    check_precision,
    choose_precision,
    requested_precision,
)
from worldmodel.protocol import WorldFoundationModel
from worldmodel.tokenizer import CausalVideoTokenizer


@dataclass(frozen=True)
class LatentNorm:
    """Per-channel affine map from tokenizer latents to the WFM's scale (std ``sigma_data``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    sigma_data: float

    def _shape(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1, 1)
        return mean, std

    def normalize(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) tokenizer latents -> WFM latents."""
        mean, std = self._shape(latent)
        return (latent - mean) / std * self.sigma_data

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self._shape(z)
        return z / self.sigma_data * std + mean


# Precision choices already announced in this process (each is printed once).
_ANNOUNCED: set[str] = set()
# Under bf16 autocast torch's RMSNorm sees bf16 inputs with float32 weights and says it falls back
# from its fused kernel; the result is right and the fallback is what autocast intends.
warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight", category=UserWarning)


def to_video_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 4, 1).cpu().numpy()


class WorldModel:
    """A tokenizer plus a world foundation model behind one ``predict`` call.

    Args:
        tokenizer: an image tokenizer (one latent frame per frame).
        wfm: a ``DiffusionWorldModel`` or ``AutoregressiveWorldModel`` (any ``WorldFoundationModel``).
        info: the checkpoint's ``WorldModelInfo`` (latent normalisation, context, what the model
            is conditioned on, sampler defaults); a ``world_model`` dict is migrated.
        tokenize: captions -> token ids, for models trained with text.
        guardrails: any object with ``check_prompt(str)`` and ``postprocess(frames) -> frames``
            (``curation.guardrails.Guardrails``); applied by ``predict`` unless ``guardrails=False``.
        precision: "fp32", or "bf16" to run the tokenizer and WFM under bfloat16 autocast (about
            2x faster on GPUs and on CPUs with AVX512-BF16 / AMX, 20-100x slower on AVX2-only CPUs;
            latents are kept in float32 between steps). ``from_pretrained`` chooses it per machine.
    """

    def __init__(
        self,
        tokenizer: CausalVideoTokenizer,
        wfm: WorldFoundationModel,
        info: WorldModelInfo | dict,
        *,
        tokenize: Tokenize | None = None,
        guardrails: object | None = None,
        precision: str = "fp32",
    ) -> None:
        check_precision(precision)
        if tokenizer.temporal_factor != 1:
            raise ValueError(
                "WorldModel predicts one frame per step and needs an image tokenizer (CI8x8, ...)"
            )
        info = info if isinstance(info, WorldModelInfo) else WorldModelInfo.from_dict(info)
        self.tokenizer = tokenizer.eval()
        self.wfm = wfm.eval()
        self.info = info
        self.norm = LatentNorm(info.latent_mean, info.latent_std, info.sigma_data)
        self.context_frames = info.context_frames
        # Driving models read the ego motion through the DiT's action input; users pass poses.
        self.conditioning = info.conditioning
        model_action_dim = int(wfm.action_dim)
        self.action_dim = 0 if self.conditioning in ("trajectory", "camera") else model_action_dim
        self.uses_trajectory = self.conditioning == "trajectory" and model_action_dim > 0
        self.camera_dim = int(wfm.camera_dim)
        self.views = info.views
        self.frame_size = info.frame_size
        # Residual models predict (next - last) * scale in normalised latent space.
        self.residual_scale = info.residual_scale or 0.0
        # Sampler steps per frame when a call names none: the checkpoint's measured best, else 8.
        self.default_steps = info.sampler_steps or 8
        # How each window's poses / trajectory become the model's inputs (as in training).
        self.window_rule = WindowConditioning(
            camera_stride=tokenizer.spatial_factor if self.camera_dim else 0,
            image_size=self.frame_size or (0, 0),
            camera_scale=info.camera_scale,
            pose_std=info.pose_std,
            trajectory_std=info.trajectory_std if self.uses_trajectory else None,
        )
        self.tokenize = tokenize
        self.guardrails = guardrails
        self.precision = precision
        self.directory: Path | None = None  # where from_pretrained found it (reward heads live beside it)

    @property
    def device(self) -> torch.device:
        return next(self.wfm.parameters()).device

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one normalised latent frame: what ``encode`` gives per frame at ``frame_size``."""
        if self.frame_size is None:
            raise ValueError("the checkpoint records no frame_size, so its latent shape is unknown")
        s = self.tokenizer.spatial_factor
        return (self.tokenizer.latent_channels, self.frame_size[0] // s, self.frame_size[1] // s)

    @property
    def inputs(self) -> tuple[str, ...]:
        """What ``predict`` is conditioned on besides context frames, by its argument names:
        "actions", "trajectory", "camera" (with its intrinsics), "text"."""
        given = {
            "actions": self.action_dim > 0,
            "trajectory": self.uses_trajectory,
            "camera": self.camera_dim > 0,
            "text": self.tokenize is not None,
        }
        return tuple(name for name, used in given.items() if used)

    def null_missing(self, name: str) -> str | None:
        """None when ``predict(drop=[name])`` can replace input ``name`` by the learned null the
        model was trained with; otherwise why it cannot (one line)."""
        if name not in self.inputs:
            return f"this world model takes no {name} input (its inputs: {', '.join(self.inputs) or 'none'})"
        # The trajectory and a camera model's pose vector enter through the WFM's action input.
        needs = {"actions": {"actions"}, "trajectory": {"actions"}, "text": {"text"}}.get(name)
        if needs is None:
            needs = {"camera", "actions"} if self.wfm.action_dim else {"camera"}
        untrained = sorted(needs - self.wfm.trained_nulls)
        if untrained:
            return (
                f"it was never trained without its {name} (no dropout of its {' / '.join(untrained)} "
                "input), so it has no learned null to drop to"
            )
        return None

    def _check_drop(self, drop: Collection[str], given: dict[str, object]) -> frozenset[str]:
        """``drop`` as a set, checked: each name droppable, none of them ``given`` as well."""
        for name in drop:
            if (why := self.null_missing(name)) is not None:
                raise ValueError(f"cannot drop {name!r}: {why}")
        if both := sorted(name for name in drop if given.get(name) is not None):
            raise ValueError(f"{', '.join(both)} given and dropped; pass one or the other")
        return frozenset(drop)

    @staticmethod
    def _prompts(text: str | Sequence[str], batch: int) -> list[str]:
        """One prompt for every row, or one per row."""
        prompts = [text] * batch if isinstance(text, str) else list(text)
        if len(prompts) != batch or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"text must be one prompt or a list of {batch} prompts, one per batch row")
        return prompts

    def autocast(self) -> torch.autocast:
        """The autocast context every model call runs in (a no-op at fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike,
        *,
        device: str | torch.device = "cpu",
        precision: str | None = None,
    ) -> WorldModel:
        """Load a world-model checkpoint and the tokenizer its ``config.json`` names.

        ``directory`` is a path, a shipped name (``"fetchpush-wm-dit"``, from any folder) or a Hub
        repo id ``"org/name"`` in the local Hub cache (``worldmodel.hub.resolve``).

        ``precision`` None (and no ``WORLDFM_PRECISION``) chooses for this machine
        (``worldmodel.precision.choose_precision``): bf16 where the device runs it natively and
        the checkpoint measured it within 0.1 dB of fp32, else fp32. The choice is printed once.
        """
        directory = hub.resolve(directory)
        payload = hub.read_config(directory)
        if payload.get("kind") not in ("diffusion", "autoregressive"):
            raise hub.CheckpointError(
                f"{directory} is a {payload.get('kind')!r} checkpoint; WorldModel needs a diffusion or "
                "autoregressive world-model checkpoint"
            )
        info = hub.read_info(directory)
        tokenizer = hub.load(hub.tokenizer_path(directory, info), device=device, expect_kind="tokenizer")
        wfm = hub.load(directory, device=device)
        tokenize = Tokenize.load(directory) if (directory / TOKENIZER_FILE).exists() else None
        model = cls(
            tokenizer,
            wfm,
            info,
            tokenize=tokenize,
            precision=_load_precision(directory, info, precision, device),
        )
        model.directory = directory
        return model

    # -- checks -------------------------------------------------------------------------------
    def _check_context(self, frames: np.ndarray) -> np.ndarray:
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise ValueError("context_frames must be a uint8 numpy array (K, H, W, 3) or (B, K, H, W, 3)")
        if frames.ndim == 4:
            frames = frames[None]
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"context_frames must be (K, H, W, 3) or (B, K, H, W, 3), got {frames.shape}")
        if frames.shape[1] < self.context_frames:
            raise ValueError(
                f"this model needs at least {self.context_frames} context frames, got {frames.shape[1]}"
            )
        h, w = frames.shape[2:4]
        s = self.tokenizer.spatial_factor
        if self.frame_size and (h, w) != self.frame_size:
            raise ValueError(f"this model was trained on {self.frame_size} frames, got {(h, w)}; resize them")
        if h % s or w % s:
            raise ValueError(f"frame height and width must be divisible by {s}, got {h}x{w}")
        return frames[:, -self.context_frames :]

    def _check_actions(
        self, actions: np.ndarray | torch.Tensor | None, batch: int, horizon: int
    ) -> torch.Tensor | None:
        """Actions (horizon, A) or (B, horizon, A), numpy or torch -> float32 (B, horizon, A) on device."""
        if self.action_dim == 0:
            if actions is not None:
                raise ValueError("this world model is not action-conditioned; pass actions=None")
            return None
        if actions is None:
            raise ValueError(
                f"this world model is action-conditioned: pass actions of shape "
                f"({horizon}, {self.action_dim})"
            )
        if isinstance(actions, torch.Tensor):
            a = actions.detach().to(self.device, torch.float32)
        else:
            a = torch.from_numpy(np.asarray(actions, dtype=np.float32)).to(self.device)
        got = tuple(a.shape)
        if a.ndim == 2:
            a = a[None].expand(batch, -1, -1)
        if tuple(a.shape) != (batch, horizon, self.action_dim):
            raise ValueError(
                f"actions must have shape ({horizon}, {self.action_dim}) or ({batch}, {horizon}, "
                f"{self.action_dim}) for horizon={horizon}, got {got}"
            )
        if not torch.isfinite(a).all():
            raise ValueError("actions contain NaN or infinite values")
        return a

    def _check_camera(
        self, camera: np.ndarray | None, intrinsics: np.ndarray | None, batch: int, frames: int
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Poses (B, frames, 4, 4) and intrinsics (B, frames, 3, 3) as float64 tensors, checked."""
        if not self.camera_dim:
            if camera is not None or intrinsics is not None:
                raise ValueError(
                    "this world model was not trained with camera conditioning; pass camera=None"
                )
            return None
        if camera is None:
            raise ValueError(
                f"this world model is camera-conditioned: pass camera= ({frames}, 4, 4) camera-to-world "
                f"poses, the {self.context_frames} context frame(s)' then one per predicted frame"
            )
        poses = np.asarray(camera, dtype=np.float64)
        if poses.ndim == 3:
            poses = np.broadcast_to(poses[None], (batch, *poses.shape))
        if poses.shape != (batch, frames, 4, 4):
            raise ValueError(
                f"camera must be ({frames}, 4, 4) or ({batch}, {frames}, 4, 4): a pose for each of the "
                f"{self.context_frames} context frame(s) and each predicted frame, got {np.shape(camera)}"
            )
        poses = torch.from_numpy(np.array(poses))
        check_rigid(poses)
        k = np.asarray(intrinsics if intrinsics is not None else self.info.intrinsics, dtype=np.float64)
        if k.shape == (3, 3):
            k = np.broadcast_to(k, (batch, frames, 3, 3))
        elif k.shape == (batch, 3, 3):
            k = np.broadcast_to(k[:, None], (batch, frames, 3, 3))
        if k.shape != (batch, frames, 3, 3) or not np.isfinite(k).all() or (k[..., 0, 0] <= 0).any():
            raise ValueError(
                f"intrinsics must be finite pinhole matrices (3, 3), ({batch}, 3, 3) or "
                f"({batch}, {frames}, 3, 3) in pixels of the {self.frame_size} frames, got shape "
                f"{np.shape(intrinsics)}"
            )
        return poses.to(self.device), torch.from_numpy(np.array(k)).to(self.device)

    def _check_trajectory(
        self, trajectory: np.ndarray | None, batch: int, frames: int
    ) -> torch.Tensor | None:
        """Ego poses (frames, 3) or (B, frames, 3) -> float64 (B, frames, 3), checked."""
        if not self.uses_trajectory:
            if trajectory is not None:
                raise ValueError(
                    "this world model was not trained with trajectory conditioning; pass trajectory=None"
                )
            return None
        if trajectory is None:
            raise ValueError(
                f"this world model is trajectory-conditioned: pass trajectory= ({frames}, 3) ego poses "
                f"(x, y, yaw), the {self.context_frames} context frame(s)' then one per predicted frame"
            )
        poses = np.asarray(trajectory, dtype=np.float64)
        check_trajectory(poses)
        if poses.ndim == 2:
            poses = np.broadcast_to(poses[None], (batch, *poses.shape))
        if poses.shape != (batch, frames, 3):
            raise ValueError(
                f"trajectory must be ({frames}, 3) or ({batch}, {frames}, 3): a pose for each of the "
                f"{self.context_frames} context frame(s) and each predicted frame, got {np.shape(trajectory)}"
            )
        return torch.from_numpy(np.array(poses)).to(self.device)  # (B, frames, 3)

    def split_views(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """A multi-view model's canvas (..., H, n·W, 3) -> {view: (..., H, W, 3)}, left to right."""
        if not self.views:
            raise ValueError("this world model has a single view")
        width = frames.shape[-2] // len(self.views)
        return {v: frames[..., i * width : (i + 1) * width, :] for i, v in enumerate(self.views)}

    def tile_views(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """{view: (..., H, W, 3)} -> the model's canvas, in its view order; a clear error on other views."""
        if sorted(views) != sorted(self.views):
            raise ValueError(
                f"this model generates the views {list(self.views)}; got {sorted(views)} "
                f"({len(views)} view(s) for {len(self.views)})"
            )
        shapes = {np.shape(v) for v in views.values()}
        if len(shapes) != 1:
            raise ValueError(f"all views must have one shape, got {sorted(shapes)}")
        return np.concatenate([np.asarray(views[v]) for v in self.views], axis=-2)

    # -- prediction ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B, K, H, W, 3) -> normalised WFM latents (B, C, K, h, w)."""
        b, k = frames.shape[:2]
        x = to_video_tensor(frames.reshape(b * k, 1, *frames.shape[2:]), self.device)  # (B*K, 3, 1, H, W)
        with self.autocast():
            z = self.tokenizer.encode(x)
        z = (z[0] if self.tokenizer.is_discrete else z).float()  # (B*K, C, 1, h, w)
        z = z.reshape(b, k, *z.shape[1:]).squeeze(3).permute(0, 2, 1, 3, 4)  # (B, C, K, h, w)
        return self.norm.normalize(z)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """Normalised latents (B, C, T, h, w) -> uint8 (B, T, H, W, 3), frame by frame."""
        b, c, t = z.shape[:3]
        latent = self.norm.denormalize(z).permute(0, 2, 1, 3, 4).reshape(b * t, c, 1, *z.shape[3:])
        with self.autocast():
            video = self.tokenizer.decode(latent)  # (B*T, 3, 1, H, W)
        frames = to_uint8_frames(video)[:, 0]  # (B*T, H, W, 3)
        return frames.reshape(b, t, *frames.shape[1:])

    def _sample(
        self,
        shape: tuple[int, ...],
        cond: Conditioning,
        *,
        generator: Generators,
        steps: int,
        guidance: float,
        sampler: str = "euler",
    ) -> torch.Tensor:
        """One call of the WFM, given only the sampling options its family takes."""
        options = {"steps": steps, "sampler": sampler, "guidance": guidance}
        if guidance != 1 and "guidance" not in self.wfm.sample_options:
            raise ValueError(f"this world model samples without guidance; pass guidance=1, got {guidance}")
        options = {k: v for k, v in options.items() if k in self.wfm.sample_options}
        with self.autocast():
            return self.wfm.sample(shape, cond, generator=generator, **options)

    def _check_latent_context(self, context: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, C, K', h, w) with K' >= ``context_frames`` -> the last
        ``context_frames`` of them, float32 on the model's device."""
        channels = self.tokenizer.latent_channels
        if not isinstance(context, torch.Tensor) or context.ndim != 5 or context.shape[1] != channels:
            got = tuple(context.shape) if isinstance(context, torch.Tensor) else type(context).__name__
            raise ValueError(
                f"context must be normalised latents (B, {channels}, K, h, w) as encode() gives, got {got}"
            )
        if context.shape[2] < self.context_frames:
            raise ValueError(
                f"this model needs at least {self.context_frames} context latents, got {context.shape[2]}"
            )
        if self.frame_size and tuple(context.shape[3:]) != self.latent_shape[1:]:
            raise ValueError(
                f"context latents must be {self.latent_shape[1:]} (h, w) for {self.frame_size} frames, "
                f"got {tuple(context.shape[3:])}"
            )
        return context[:, :, -self.context_frames :].to(self.device, torch.float32)

    @torch.no_grad()
    def rollout_latents(
        self,
        context: torch.Tensor,
        actions: np.ndarray | torch.Tensor | None = None,
        *,
        horizon: int | None = None,
        seed: int | Sequence[int] | np.ndarray = 0,
        generator: Generators = None,
        steps: int | None = None,
        guidance: float = 1.0,
        sampler: str = "euler",
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        camera: tuple[torch.Tensor, torch.Tensor] | None = None,
        trajectory: torch.Tensor | None = None,
        drop: Collection[str] = (),
    ) -> torch.Tensor:
        """Step B latent contexts through ``horizon`` predicted latent frames, decoding nothing.

        Args:
            context: normalised latents (B, C, K, h, w), as ``encode`` gives (the last
                ``context_frames`` are used).
            actions: (B, H, A) or (H, A), numpy or torch; ``actions[:, i]`` leads into predicted
                frame i. Required for action-conditioned models, refused otherwise.
            horizon: frames to predict; defaults to ``H`` of ``actions`` (needed without actions).
            seed: an int seeds one generator for the whole batch (what ``predict`` does); a
                sequence of B ints seeds one generator per element, so element b's noise is a B=1
                call's with ``seed[b]`` and its rollout does not depend on the rest of the batch
                (equal up to the rounding of batched kernels; see ``worldmodel.generators``).
            generator: used instead of ``seed`` when given (one, or one per element).
            steps: sampler steps per frame (default: the checkpoint's); guidance: CFG weight.
            camera: poses (B, K + H, 4, 4) and intrinsics (B, K + H, 3, 3) of every frame;
                trajectory: ego poses (B, K + H, 3), both as ``predict`` checks them.
            drop: inputs replaced by the learned null (see ``predict``); with "actions" an
                action-conditioned model rolls out without actions.

        Returns:
            normalised latents (B, C, H, h, w), the layout of ``encode`` and ``decode``: frame i is
            ``[:, :, i]``. Each step's window conditioning comes from ``window_conditioning``, the
            rule training used.
        """
        context = self._check_latent_context(context)
        if horizon is None:
            if actions is None:
                raise ValueError("pass horizon= (this call has no actions to count the steps by)")
            horizon = int(actions.shape[-2] if isinstance(actions, torch.Tensor) else np.shape(actions)[-2])
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        steps = self.default_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        given = {"actions": actions, "camera": camera, "trajectory": trajectory, "text": text_ids}
        drop = self._check_drop(drop, given)
        if "actions" not in drop:
            actions = self._check_actions(actions, context.shape[0], horizon)
        if generator is None:
            generator = make_generators(seed, self.device)
        b, c, k, h, w = context.shape
        window = torch.cat([context, torch.zeros(b, c, 1, h, w, device=context.device)], dim=2)
        cond = Conditioning(cond_mask=context_mask(b, k + 1, k, context.device), text_ids=text_ids)
        if text_ids is not None:
            cond = cond.replace(text_mask=text_mask)
        predicted = []
        for i in range(horizon):
            step: dict[str, torch.Tensor] = {}
            if camera is not None:
                step["camera"], step["intrinsics"] = (c[:, i : i + k + 1] for c in camera)  # this window's
            if trajectory is not None:
                step["trajectory"] = trajectory[:, i : i + k + 1]
            if actions is not None:
                # Any rows will do for the context frames: the rule zeroes them.
                step["actions"] = actions[:, i : i + 1].expand(-1, k + 1, -1)
            window_actions, camera_maps = window_conditioning(self.window_rule, k, **step)
            sample = self._sample(
                tuple(window.shape),
                cond.replace(cond_latent=window, actions=window_actions, camera=camera_maps),
                generator=generator,
                steps=steps,
                guidance=guidance,
                sampler=sampler,
            )
            nxt = sample[:, :, -1:].float()  # (B, C, 1, h, w)
            if self.residual_scale:
                nxt = window[:, :, k - 1 : k] + nxt / self.residual_scale
            predicted.append(nxt)
            window = torch.cat([window[:, :, 1:k], nxt, torch.zeros_like(nxt)], dim=2)
        return torch.cat(predicted, dim=2)

    @torch.no_grad()
    def text2world_latents(
        self,
        batch: int,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        *,
        generator: torch.Generator,
        steps: int,
        guidance: float,
    ) -> torch.Tensor:
        """A first window of ``context_frames + 1`` latents from text alone (no context frames)."""
        h, w = (s // self.tokenizer.spatial_factor for s in self.frame_size)
        shape = (batch, self.tokenizer.latent_channels, self.context_frames + 1, h, w)
        cond = Conditioning(
            cond_latent=torch.zeros(shape, device=self.device),
            cond_mask=torch.zeros(batch, shape[2], dtype=torch.bool, device=self.device),
            text_ids=text_ids,
            text_mask=text_mask,
        )
        return self._sample(shape, cond, generator=generator, steps=steps, guidance=guidance).float()

    def predict(
        self,
        context_frames: np.ndarray | None,
        *,
        actions: np.ndarray | None = None,
        camera: np.ndarray | None = None,
        trajectory: np.ndarray | None = None,
        text: str | Sequence[str] | None = None,
        horizon: int = 1,
        seed: int = 0,
        steps: int | None = None,
        guidance: float = 1.0,
        guardrails: bool = True,
        batch: int = 1,
        intrinsics: np.ndarray | None = None,
        drop: Collection[str] = (),
    ) -> np.ndarray:
        """Predict ``horizon`` frames after ``context_frames`` (Video2World) or from ``text`` alone.

        Args:
            context_frames: uint8 (K, H, W, 3) or (B, K, H, W, 3); the last ``self.context_frames``
                are used. None with ``text`` generates from text alone (Text2World; ``batch`` videos).
            actions: (horizon, A) or (B, horizon, A); ``actions[i]`` leads from the last known frame to
                predicted frame i. Required for action-conditioned models, refused otherwise.
            text: a prompt, or one per batch row, for models trained with captions; checked by
                the guardrails.
            camera: camera-conditioned models: (K + horizon, 4, 4) or (B, K + horizon, 4, 4)
                camera-to-world poses (OpenCV axes) of the K = ``self.context_frames`` context frames
                and of each predicted frame; ``intrinsics`` (3, 3) in pixels (default: the
                training data's). Refused by other models.
            trajectory: trajectory-conditioned (driving) models: (K + horizon, 3) or
                (B, K + horizon, 3) ego poses (x, y, yaw) in the same order. Refused by others.
            horizon: frames to predict; seed: same seed, same output; steps: sampler steps per
                frame (default: the checkpoint's ``sampler_steps``, else 8);
            guidance: classifier-free guidance weight; guardrails: apply ``self.guardrails`` if set.
            drop: inputs (names of ``self.inputs``) replaced by the learned null the model was
                trained with (classifier-free-guidance dropout): the model without that input, e.g.
                ``drop=["actions"]`` rolls an action model out with no actions. A model trained
                without such dropout refuses (``null_missing`` says why).

        Returns:
            uint8 (horizon, H, W, 3), or (B, horizon, H, W, 3) for batched context.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        steps = self.default_steps if steps is None else steps
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        use_guardrails = guardrails and self.guardrails is not None
        camera_given = camera if camera is not None else intrinsics
        given = {"actions": actions, "camera": camera_given, "trajectory": trajectory, "text": text}
        drop = self._check_drop(drop, given)
        text_ids = text_mask = None
        if text is not None:
            if self.tokenize is None:
                raise ValueError("this world model was not trained with text; pass text=None")
            if use_guardrails:
                for prompt in [text] if isinstance(text, str) else text:
                    self.guardrails.check_prompt(prompt)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if context_frames is None:
            if text is None:
                raise ValueError("pass context_frames (Video2World) or text (Text2World)")
            if self.frame_size is None:
                raise ValueError("the checkpoint records no frame_size; Text2World needs it")
            if self.camera_dim or self.uses_trajectory:
                raise ValueError("camera / trajectory models continue given frames: pass context_frames")
            b, batched = batch, batch > 1
            a = None if "actions" in drop else self._check_actions(actions, b, horizon)
            text_ids, text_mask = (t.to(self.device) for t in self.tokenize(self._prompts(text, b)))
            # The first window comes from text alone; later frames continue it as Video2World.
            parts = [
                self.text2world_latents(
                    b, text_ids, text_mask, generator=generator, steps=steps, guidance=guidance
                )[:, :, :horizon]
            ]
            done = parts[0].shape[2]
            context = parts[0][:, :, -self.context_frames :]
        else:
            batched = isinstance(context_frames, np.ndarray) and context_frames.ndim == 5
            frames = self._check_context(context_frames)
            b, k = frames.shape[0], self.context_frames
            a = None if "actions" in drop else self._check_actions(actions, b, horizon)
            poses = None if "trajectory" in drop else self._check_trajectory(trajectory, b, k + horizon)
            cam = None if "camera" in drop else self._check_camera(camera, intrinsics, b, k + horizon)
            if text is not None:
                text_ids, text_mask = (t.to(self.device) for t in self.tokenize(self._prompts(text, b)))
            parts, done, context = [], 0, self.encode(frames)
        if done < horizon:
            parts.append(
                self.rollout_latents(
                    context,
                    a[:, done:] if a is not None else None,
                    horizon=horizon - done,
                    generator=generator,
                    steps=steps,
                    guidance=guidance,
                    text_ids=text_ids,
                    text_mask=text_mask,
                    camera=cam if context_frames is not None else None,
                    trajectory=poses if context_frames is not None else None,
                    drop=drop & {"actions"},
                )
            )
        out = self.decode(torch.cat(parts, dim=2))
        if use_guardrails:
            out = np.stack([self.guardrails.postprocess(video) for video in out])
        return out if batched else out[0]


def _load_precision(
    directory: Path, info: WorldModelInfo, precision: str | None, device: str | torch.device
) -> str:
    """``choose_precision`` for a checkpoint on ``device``, announced once per process and choice."""
    fast, hardware = bf16_is_fast(device)
    chosen, why = choose_precision(
        requested=requested_precision(precision), cost_db=info.bf16_cost_db, bf16_fast=fast
    )
    message = f"worldfm: {directory.name} runs in {chosen} on {hardware} ({why}"
    message += "; precision= or WORLDFM_PRECISION overrides)" if why != "requested" else ")"
    if message not in _ANNOUNCED:
        _ANNOUNCED.add(message)
        print(message, file=sys.stderr)
    return chosen

"""The checkpoints the web app can offer, found in one folder, loaded once and shared by every session.

A checkpoint is listed by what its ``config.json`` says (``worldmodel.hub.read_config``), so a
folder that is not a checkpoint, or is half written, is skipped with a log line rather than
breaking the page. Models load on first use; a lock keeps two requests from loading one twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.guardrails import Guardrails
from envs.learned_reward import load_reward_head, reward_head_path
from training.model_card import card_metrics
from worldmodel import hub
from worldmodel.conditioning.tokenize import TOKENIZER_FILE
from worldmodel.heads import RewardHead
from worldmodel.tokenizer import CausalVideoTokenizer
from worldmodel.world import WorldModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One checkpoint: its folder name (shown in the page), path and what it can do."""

    name: str
    path: Path
    kind: str  # "world" or "tokenizer"
    action_dim: int = 0
    text: bool = False
    frame_size: tuple[int, int] | None = None
    context_frames: int = 0
    temporal_factor: int = 1
    camera: bool = False  # follows a camera path (Plücker-ray conditioning)
    views: tuple[str, ...] = ()  # a driving model's camera views, left to right on its canvas
    family: str = ""  # a world model's kind: "diffusion" or "autoregressive"
    card_psnr: float | None = None  # held-out PSNR (dB) on its MODEL_CARD.md, if it has one

    @property
    def control(self) -> str:
        """What steers a world model: ``"camera"``, ``"driving"``, ``"actions"`` or ``"none"``."""
        if self.camera:
            return "camera"
        if self.views:
            return "driving"
        return "actions" if self.action_dim else "none"

    @property
    def label(self) -> str:
        """A short description for dropdowns: ``name (4-d actions, 64x64)``."""
        parts = []
        if self.kind == "world":
            if self.action_dim:
                parts.append(f"{self.action_dim}-d actions")
            if self.camera:
                parts.append("camera path")
            if self.views:
                parts.append(f"driving: {' | '.join(self.views)}")
            if self.text:
                parts.append("text")
        else:
            parts.append("image" if self.temporal_factor == 1 else f"video {self.temporal_factor}x time")
        if self.frame_size:
            parts.append(f"{self.frame_size[0]}x{self.frame_size[1]}")
        if self.card_psnr is not None:
            parts.append(f"{self.card_psnr:.1f} dB held-out")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


def describe(path: Path) -> Entry | None:
    """The catalog entry of checkpoint folder ``path``, or ``None`` if it is not one the app uses.

    A folder whose ``config.json`` is broken or crafted (wrong types, missing sections) is skipped
    with a warning in the server log, so one bad folder never takes the page down.
    """
    try:
        return _describe(path)
    except (hub.CheckpointError, ValueError, TypeError, AttributeError, KeyError) as err:
        logger.warning("not listing %s: %s", path, err)
        return None


def _describe(path: Path) -> Entry | None:
    payload = hub.read_config(path)
    kind = payload.get("kind")
    if kind == "tokenizer":
        config = payload.get("config", {})
        size = payload.get("dataset", {}).get("size")
        return Entry(
            path.name,
            path,
            "tokenizer",
            frame_size=(int(size), int(size)) if size else None,
            temporal_factor=int(config.get("temporal_compression", 1)),
        )
    if kind in ("diffusion", "autoregressive") and payload.get(hub.WORLD_MODEL_SECTION):
        info = hub.read_info(path)
        dit = (payload.get("config") or {}).get("dit") or {}
        return Entry(
            path.name,
            path,
            "world",
            action_dim=info.action_space.dim if info.action_space is not None else 0,
            text=(path / TOKENIZER_FILE).exists(),
            frame_size=info.frame_size,
            context_frames=info.context_frames,
            camera=int(dit.get("camera_dim") or 0) > 0,
            views=info.views if info.conditioning == "trajectory" else (),
            family=kind,
            card_psnr=card_psnr(path),
        )
    return None


def card_psnr(path: Path) -> float | None:
    """The world model's held-out PSNR from its ``MODEL_CARD.md`` (None without a card or figure)."""
    card = path / "MODEL_CARD.md"
    if not card.is_file():
        return None
    return card_metrics(card.read_text(errors="replace")).get("PSNR (dB) [world model]")


class Catalog:
    """World models and tokenizers under one folder, each loaded at most once.

    World models get ``curation.guardrails.Guardrails`` attached, so every prompt is checked and
    every generated frame is post-processed (face blurring) unless a caller opts out.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._loaded: dict[Path, Any] = {}

    def entries(self) -> list[Entry]:
        """Every usable checkpoint, sorted by name (rescanned, so new checkpoints appear)."""
        if not self.root.is_dir():
            return []
        found = (describe(p) for p in sorted(self.root.iterdir()) if (p / "config.json").exists())
        return [e for e in found if e is not None]

    def worlds(
        self, *, actions: bool | None = None, text: bool | None = None, control: str | None = None
    ) -> list[Entry]:
        """World models, optionally only action-conditioned ones, only text-conditioned ones, or
        only those steered by ``control`` (``Entry.control``: camera, driving, actions, none)."""
        out = [e for e in self.entries() if e.kind == "world"]
        if actions is not None:
            out = [e for e in out if bool(e.action_dim) == actions]
        if text is not None:
            out = [e for e in out if e.text == text]
        if control is not None:
            out = [e for e in out if e.control == control]
        return out

    def reward_head(self, name: str) -> RewardHead:
        """The reward head saved with world model ``name``; a ``CheckpointError`` saying how to train
        one if it has none, or if it was trained on another model's latents."""
        world, path = self.world(name), self.entry(name).path
        return self._load(reward_head_path(path), lambda _: load_reward_head(path, world))

    def tokenizers(self) -> list[Entry]:
        return [e for e in self.entries() if e.kind == "tokenizer"]

    def entry(self, name: str | None) -> Entry:
        """The entry called ``name``; a ``ValueError`` listing the choices if there is none."""
        entries = {e.name: e for e in self.entries()}
        if not name or name not in entries:
            choices = ", ".join(entries) or f"none: {self.root} holds no checkpoint"
            raise ValueError(f"pick a checkpoint (got {name!r}); available: {choices}")
        return entries[name]

    def world(self, name: str) -> WorldModel:
        entry = self.entry(name)
        if entry.kind != "world":
            raise ValueError(f"{name} is a {entry.kind} checkpoint, not a world model")
        return self._load(entry.path, self._load_world)

    def tokenizer(self, name: str) -> CausalVideoTokenizer:
        entry = self.entry(name)
        if entry.kind != "tokenizer":
            raise ValueError(f"{name} is a {entry.kind} checkpoint, not a tokenizer")
        return self._load(entry.path, lambda p: hub.load(p, expect_kind="tokenizer"))

    @staticmethod
    def _load_world(path: Path) -> WorldModel:
        world = WorldModel.from_pretrained(path)
        world.guardrails = Guardrails()
        return world

    def _load(self, path: Path, loader: Any) -> Any:
        with self._lock:
            if path not in self._loaded:
                logger.info("loading %s", path)
                self._loaded[path] = loader(path)
            return self._loaded[path]

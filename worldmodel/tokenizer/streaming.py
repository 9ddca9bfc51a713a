"""Streaming causal coding: each step codes only its new frames, the past carried as state.

A causal tokenizer's output at a frame depends on a bounded past: each causal conv reads its last
``time_pad`` input frames and temporal attention its last ``window - 1``. ``encode_step`` and
``decode_step`` (``CausalVideoTokenizer``) keep exactly that past in a ``StreamState``, so a live
camera or an environment step costs what its new frames cost inside a whole-clip pass, and the
steps' outputs, concatenated, equal whole-clip coding to float precision.

As in audiocraft's ``StreamingModule`` (EnCodec), the step runs the ordinary ``forward``; the
causal primitives (``layers3d``, the Haar patching in ``networks``) ask this module for their past
while a stream is active. Unlike it, the state is explicit: a step takes a ``StreamState`` and
returns a new one, so one model serves any number of streams (per env, per user), a state is
batched, and an old state can be stepped again (a branch). The active stream lives in a
``ContextVar``, so threads (Gradio's handlers) stepping one model do not see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn

SIDES = ("encode", "decode")


@dataclass(frozen=True)
class StreamState:
    """What one stream kept from its previous steps; start a stream with ``state=None``.

    ``past`` maps each causal module's name to the frames it needs next step (conv inputs: the
    last ``time_pad``; temporal attention: the last ``window - 1`` keys and values), batched.
    """

    side: str
    """``"encode"`` or ``"decode"``: the step that made it (an encoder's past is no decoder's)"""
    batch: int
    size: tuple[int, int]
    """(H, W) of the step's input: frames for ``encode``, latents for ``decode``"""
    steps: int = 1
    """steps taken"""
    frames: int = 0
    """frames (``encode``) or latent frames (``decode``) coded so far"""
    past: Mapping[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def after(
        cls,
        state: StreamState | None,
        side: str,
        batch: int,
        size: tuple[int, int],
        frames: int,
        past: Mapping[str, torch.Tensor],
    ) -> StreamState:
        """The state after a step of ``side`` that coded ``frames`` more frames from ``state``
        (None: the stream's first step), keeping ``past``."""
        done = (0, 0) if state is None else (state.steps, state.frames)
        return cls(side, batch, size, steps=done[0] + 1, frames=done[1] + frames, past=past)


class _Stream:
    """The stream of the step running now: the past read from its state, the past kept for the next."""

    def __init__(self, names: dict[nn.Module, str], past: Mapping[str, torch.Tensor], starts: bool) -> None:
        self.names = names
        self.past = past
        self.starts = starts
        self.kept: dict[str, torch.Tensor] = {}


_ACTIVE: ContextVar[_Stream | None] = ContextVar("worldfm_tokenizer_stream", default=None)


@contextmanager
def streaming(model: nn.Module, state: StreamState | None) -> Iterator[dict[str, torch.Tensor]]:
    """Run ``model``'s forward as one step of the stream ``state`` (None: a new video).

    Yields the dict that fills with the past each causal module keeps for the next step.
    """
    names = {module: name for name, module in model.named_modules()}
    stream = _Stream(names, {} if state is None else state.past, starts=state is None)
    token = _ACTIVE.set(stream)
    try:
        yield stream.kept
    finally:
        _ACTIVE.reset(token)


def starts_video() -> bool:
    """Whether this input starts its video (frame 0 is in it): always outside a stream, else on the
    first step. Where frame 0 is coded on its own (repeated, prepended), only then."""
    stream = _ACTIVE.get()
    return stream is None or stream.starts


def extend_past(
    module: nn.Module, x: torch.Tensor, keep: int, *, start: torch.Tensor | None = None, dim: int = 2
) -> torch.Tensor:
    """``x`` with the frames before it along ``dim`` prepended, for ``module``'s causal window.

    At the start of a video (always, outside a stream) the frames before it are ``start`` (e.g.
    frame 0 repeated, as ``CausalConv3d`` pads), or none when ``start`` is None. In later steps of
    a stream they are those kept by the previous step. Inside a stream the last ``keep`` frames of
    the result are kept for the next step: a view when the result is at most twice as long (a
    one-group step), else a copy, so that a long step's whole activation is not held.
    """
    stream = _ACTIVE.get()
    if stream is None or stream.starts:
        past = start
    else:
        name = stream.names[module]
        if name not in stream.past:
            raise ValueError(f"the stream state has no past for {name!r}: it was made by another model")
        past = stream.past[name]
    joined = x if past is None else torch.cat([past, x], dim=dim)
    if stream is not None and keep:
        length = joined.shape[dim]
        kept = joined.narrow(dim, max(0, length - keep), min(keep, length))
        stream.kept[stream.names[module]] = kept if length <= 2 * keep else kept.clone()
    return joined

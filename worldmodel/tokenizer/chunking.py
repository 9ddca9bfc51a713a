"""Chunked causal encoding and decoding of long videos, in memory that does not grow with length.

The tokenizer's temporal receptive field is finite (causal convs, windowed
temporal attention), so a chunk of latents computed with enough past context is
identical to the same latents from the whole clip. ``receptive_field`` measures
that context on the actual model; the chunked functions then reproduce
whole-clip results to float precision.

Latent j >= 1 covers frames ``(j-1)*f + 1 .. j*f``; latent 0 covers frame 0. A
chunk that starts at latent ``s0 > 0`` feeds frame ``s0*f`` as its first frame
(coded alone), so its first latent is only context and is dropped.
"""

from __future__ import annotations

import torch

from worldmodel.tokenizer.modeling_tokenizer import CausalVideoTokenizer


@torch.no_grad()
def receptive_field(model: CausalVideoTokenizer, probe_latents: int = 48) -> tuple[int, int]:
    """(encoder, decoder) temporal receptive fields in latent frames, measured by perturbation.

    Changing the frames of latent 1 (resp. latent 1 itself) changes later latents
    (frames) only up to the receptive field; beyond it the computation is bitwise equal.
    """
    f, s = model.temporal_factor, model.spatial_factor
    if f == 1 and model.config.is_image:
        return 0, 0
    device = next(model.parameters()).device
    t = 1 + probe_latents * f
    x = torch.zeros(1, 3, t, s, s, device=device)
    x2 = x.clone()
    x2[:, :, 1 : 1 + f] = 0.5
    z, z2 = model.encoder(x), model.encoder(x2)
    changed = (z - z2).abs().amax(dim=(0, 1, 3, 4)) > 0
    enc = int(changed.nonzero().max()) - 1
    z2 = z.clone()
    z2[:, :, 1] += 0.5
    frames_changed = (model.decoder(z) - model.decoder(z2)).abs().amax(dim=(0, 1, 3, 4)) > 0
    last_frame = int(frames_changed.nonzero().max())
    dec = (last_frame - 1) // f + 1 - 1
    if max(enc, dec) >= probe_latents - 2:
        raise RuntimeError(f"receptive field reaches the probe length ({probe_latents}); raise probe_latents")
    return enc, dec


def _spans(num_latents: int, chunk: int, context: int) -> list[tuple[int, int, int]]:
    """(first context latent s0, first kept latent s, end latent e exclusive) of each chunk."""
    spans, s = [], 0
    while s < num_latents:
        e = min(num_latents, s + chunk)
        s0 = 0 if s == 0 else max(0, s - context)
        spans.append((s0, s, e))
        s = e
    return spans


@torch.no_grad()
def encode_chunked(
    model: CausalVideoTokenizer, x: torch.Tensor, *, chunk: int = 4, context: int | None = None
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Encode a long video ``chunk`` latents at a time with ``context`` latents of past.

    x: (B, 3, 1 + k*f, H, W). Returns what ``model.encode`` returns for the whole clip.
    ``context`` defaults to the measured encoder receptive field (+1 for the chunk's own first frame).
    """
    model.check_video(x)
    f = model.temporal_factor
    if context is None:
        context = receptive_field(model)[0] + 1
    num_latents = 1 + (x.shape[2] - 1) // f
    latents, indices = [], []
    for s0, s, e in _spans(num_latents, chunk, max(context, 1)):
        first = s0 * f  # frame coded alone: frame 0, or the last frame of latent s0
        out = model.encode(x[:, :, first : (e - 1) * f + 1])
        latent, index = (out, None) if not model.is_discrete else out
        keep = slice(s - s0, e - s0)
        latents.append(latent[:, :, keep])
        if index is not None:
            indices.append(index[:, keep])
    latent = torch.cat(latents, dim=2)
    return (latent, torch.cat(indices, dim=1)) if model.is_discrete else latent


@torch.no_grad()
def decode_chunked(
    model: CausalVideoTokenizer, latent: torch.Tensor, *, chunk: int = 4, context: int | None = None
) -> torch.Tensor:
    """Decode (B, C, 1 + k, h, w) latents ``chunk`` at a time; equals ``model.decode`` on the whole."""
    f = model.temporal_factor
    if context is None:
        context = receptive_field(model)[1] + 1
    frames = []
    for s0, s, e in _spans(latent.shape[2], chunk, max(context, 1)):
        video = model.decode(latent[:, :, s0:e])
        # Chunk latent 0 decodes to one frame; chunk latent i >= 1 to frames (i-1)*f+1 .. i*f.
        start = 0 if s == 0 else 1 + (s - s0 - 1) * f
        frames.append(video[:, :, start:])
    return torch.cat(frames, dim=2)

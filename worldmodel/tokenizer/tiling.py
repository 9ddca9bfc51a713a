"""Spatially tiled encoding and decoding, for frames larger than memory allows in one piece.

Tiles overlap and are blended with linear ramps across the overlap (weights that sum to one at
every position), as in tiled VAE decoding. Unlike temporal chunking this is not exact: the
tokenizer's spatial attention sees only its tile, so results near seams differ from whole-frame
coding; ``tests/worldmodel/test_tokenizer_tiling.py`` measures that seam error on the shipped
tokenizer. Combine with ``chunking`` for long *and* large videos by tiling each chunk.
"""

from __future__ import annotations

import torch

from worldmodel.tokenizer.modeling_tokenizer import CausalVideoTokenizer


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` covering ``size`` with at least ``overlap`` shared."""
    if tile >= size:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile); got overlap={overlap}, tile={tile}")
    starts = list(range(0, size - tile + 1, tile - overlap))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(length: int, before: int, after: int) -> torch.Tensor:
    """1D weights of one tile: rising over its first ``before`` and falling over its last ``after``."""
    w = torch.ones(length)
    if before:
        w[:before] = torch.arange(1, before + 1) / (before + 1)
    if after:
        w[length - after :] = torch.minimum(w[length - after :], torch.arange(after, 0, -1) / (after + 1))
    return w


def blend_tiles(size: tuple[int, int], tile: int, overlap: int, run, scale: int = 1) -> torch.Tensor:  # noqa: ANN001 - run(y, x, h, w) -> (B, C, T, h*scale, w*scale)
    """Blend ``run`` over a grid of tiles of a ``size`` (H, W) input into one (…, H*scale, W*scale) output.

    ``run(y, x, h, w)`` codes the input window at (y, x) of size (h, w); ``scale`` is the output's
    size per input position. Overlaps are ramped over ``overlap * scale`` output positions.
    """
    height, width = size
    out = norm = None
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            h, w = min(tile, height), min(tile, width)
            piece = run(y, x, h, w)
            if out is None:
                shape = (*piece.shape[:3], height * scale, width * scale)
                out = piece.new_zeros(shape)
                norm = piece.new_zeros(shape[-2:])
            # Ramp only where this tile overlaps a neighbour, by as much as they overlap.
            top = (ys[i - 1] + h - y) * scale if i else 0
            bottom = (y + h - ys[i + 1]) * scale if i + 1 < len(ys) else 0
            left = (xs[j - 1] + w - x) * scale if j else 0
            right = (x + w - xs[j + 1]) * scale if j + 1 < len(xs) else 0
            weight = _ramp(h * scale, top, bottom)[:, None] * _ramp(w * scale, left, right)[None, :]
            weight = weight.to(piece)
            ys_, xs_ = slice(y * scale, (y + h) * scale), slice(x * scale, (x + w) * scale)
            out[..., ys_, xs_] += piece * weight
            norm[ys_, xs_] += weight
    return out / norm


@torch.no_grad()
def encode_tiled(
    model: CausalVideoTokenizer, x: torch.Tensor, *, tile: int = 256, overlap: int = 64
) -> torch.Tensor:
    """Encode (B, 3, T, H, W) in ``tile``-pixel tiles overlapping by ``overlap`` pixels.

    Continuous tokenizers only: FSQ codes are integers and cannot be blended across seams.
    """
    if model.is_discrete:
        raise ValueError(
            f"{model.config.name} is an FSQ tokenizer: its codes cannot be blended across tile seams; "
            "tile its decoding (decode_tiled on the quantised latents) or use a continuous tokenizer"
        )
    model.check_video(x)
    s = model.spatial_factor
    if tile % s or overlap % s:
        raise ValueError(
            f"tile and overlap must be multiples of the spatial factor {s}; got {tile}, {overlap}"
        )
    height, width = x.shape[-2:]

    def run(y: int, x0: int, h: int, w: int) -> torch.Tensor:
        return model.encode(x[..., y : y + h, x0 : x0 + w])

    return blend_tiles((height // s, width // s), tile // s, overlap // s, _latent_run(run, s))


def _latent_run(run, s: int):  # noqa: ANN001, ANN202 - pixel-window coder -> latent-window coder
    return lambda y, x, h, w: run(y * s, x * s, h * s, w * s)


@torch.no_grad()
def decode_tiled(
    model: CausalVideoTokenizer, latent: torch.Tensor, *, tile: int = 32, overlap: int = 8
) -> torch.Tensor:
    """Decode (B, C, T', h, w) latents in ``tile``-latent tiles overlapping by ``overlap`` latents."""
    h, w = latent.shape[-2:]

    def run(y: int, x: int, th: int, tw: int) -> torch.Tensor:
        return model.decode(latent[..., y : y + th, x : x + tw])

    return blend_tiles((h, w), tile, overlap, run, scale=model.spatial_factor)

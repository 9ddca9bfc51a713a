"""The causal video tokenizer: ``encode`` / ``decode`` / ``decode_code`` (ARCHITECTURE.md contract).

An image is a 1-frame video through the same model. Continuous tokenizers
return a latent; FSQ tokenizers return ``(latent, indices)`` where the latent
holds the quantised codes in [-1, 1]. ``encode_step`` / ``decode_step`` code a
video a few frames at a time, carrying the causal past as a ``StreamState``
(``streaming.py``), with the results of whole-clip coding.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.hub import register
from worldmodel.tokenizer.configuration_tokenizer import TokenizerConfig
from worldmodel.tokenizer.fsq import FSQ
from worldmodel.tokenizer.networks import Decoder, Encoder
from worldmodel.tokenizer.streaming import StreamState, streaming


def valid_frame_counts(temporal_factor: int, near: int, count: int = 3) -> list[int]:
    """The valid frame counts ``1 + k * temporal_factor`` closest to ``near``."""
    k = max(0, round((near - 1) / temporal_factor))
    candidates = {1 + j * temporal_factor for j in range(max(0, k - count), k + count + 1)}
    return sorted(candidates, key=lambda t: (abs(t - near), t))[:count]


@register("tokenizer")
class CausalVideoTokenizer(nn.Module):
    """Causal wavelet video (or image) tokenizer; see ``TokenizerConfig``."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.fsq = FSQ(config.fsq_levels) if config.quantizer == "fsq" else None

    # -- the contract's properties ------------------------------------------------------------
    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_factor(self) -> int:
        return self.config.spatial_compression

    @property
    def latent_channels(self) -> int:
        return self.config.bottleneck_channels

    @property
    def is_discrete(self) -> bool:
        return self.fsq is not None

    @property
    def codebook_size(self) -> int | None:
        return self.fsq.codebook_size if self.fsq is not None else None

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T', h, w) of the latent of a (frames, height, width) video."""
        self.check_shape(frames, height, width)
        f, s = self.temporal_factor, self.spatial_factor
        return self.latent_channels, 1 + (frames - 1) // f, height // s, width // s

    # -- input checks -------------------------------------------------------------------------
    def check_shape(self, frames: int, height: int, width: int) -> None:
        f, s = self.temporal_factor, self.spatial_factor
        if (frames - 1) % f:
            raise ValueError(
                f"{self.config.name} takes 1 + k*{f} frames (1 for an image); got {frames}. "
                f"Nearest valid counts: {valid_frame_counts(f, frames)}"
            )
        if height % s or width % s:
            raise ValueError(f"{self.config.name} needs H and W divisible by {s}; got {height}x{width}")

    def check_video(self, x: torch.Tensor) -> None:
        self._check_pixels(x)
        self.check_shape(*x.shape[2:])

    def _check_pixels(self, x: torch.Tensor) -> None:
        """A float (B, 3, T, H, W) tensor in [-1, 1]; the frame count and size are checked by the caller."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(
                f"tokenizer input must be a float tensor (B, 3, T, H, W) in [-1, 1], got {got}; "
                "convert uint8 frames with x / 127.5 - 1"
            )
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"tokenizer input must be (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.01 or hi > 1.01:
            raise ValueError(
                f"tokenizer input must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "uint8 frames map with x / 127.5 - 1"
            )

    # -- encode / decode ----------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, 1 + k*tf, H, W) -> latent (B, C, 1 + k, H/sf, W/sf) [and indices (B, 1 + k, H/sf, W/sf)].

        FSQ tokenizers return ``(latent, indices)``: the latent is then the quantised codes.
        """
        self.check_video(x)
        z = self.encoder(x)
        if self.fsq is None:
            return z
        codes, indices = self.fsq(z.movedim(1, -1))
        return codes.movedim(-1, 1), indices

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """latent: (B, C, 1 + k, h, w) -> video (B, 3, 1 + k*tf, h*sf, w*sf), unclamped."""
        if latent.ndim != 5 or latent.shape[1] != self.latent_channels:
            raise ValueError(
                f"latent must be (B, {self.latent_channels}, T', h, w), got {tuple(latent.shape)}"
            )
        return self.decoder(latent)

    def decode_code(self, indices: torch.Tensor) -> torch.Tensor:
        """indices: (B, T', h, w) int64 FSQ indices -> video (B, 3, T, H, W)."""
        if self.fsq is None:
            raise ValueError(f"{self.config.name} is continuous: it has no codes; use decode(latent)")
        if indices.dtype not in (torch.int32, torch.int64) or indices.ndim != 4:
            raise ValueError(f"indices must be int (B, T', h, w), got {indices.dtype} {tuple(indices.shape)}")
        if int(indices.min()) < 0 or int(indices.max()) >= self.fsq.codebook_size:
            raise ValueError(
                f"indices must lie in [0, {self.fsq.codebook_size}), got [{int(indices.min())}, "
                f"{int(indices.max())}]"
            )
        codes = (
            self.fsq.indices_to_codes(indices.long())
            .movedim(-1, 1)
            .to(self.decoder.conv_in.spatial.conv.weight)
        )
        return self.decoder(codes)

    # -- streaming: a few frames at a time, the causal past carried as state -------------------
    def _check_stream(self, state: StreamState | None, side: str, batch: int, size: tuple[int, int]) -> None:
        if state is None:
            return
        if not isinstance(state, StreamState) or state.side != side:
            made_by = f"{state.side}_step" if isinstance(state, StreamState) else type(state).__name__
            raise ValueError(
                f"{side}_step needs the state its previous {side}_step returned (or None to start), "
                f"got one from {made_by}"
            )
        if (state.batch, state.size) != (batch, size):
            raise ValueError(
                f"this stream codes batch {state.batch} at {state.size[0]}x{state.size[1]}; got batch "
                f"{batch} at {size[0]}x{size[1]}. Start another stream with state=None"
            )

    @torch.no_grad()
    def encode_step(
        self, x: torch.Tensor, state: StreamState | None = None
    ) -> tuple[torch.Tensor | tuple[torch.Tensor, torch.Tensor], StreamState]:
        """Encode the next frames of a video, given what the previous steps kept (no gradients).

        x: (B, 3, T, H, W) in [-1, 1]. The first step (``state=None``) takes ``1 + k*tf`` frames
        (frame 0 alone for k = 0) and gives ``1 + k`` latent frames; each later step takes the next
        ``k*tf`` frames (k >= 1) and gives ``k``. Returns ``(latent, state)``, or
        ``((latent, indices), state)`` for FSQ; the steps' latents, concatenated, are ``encode`` of
        the whole clip. The state holds only the causal past, so a step's cost does not grow with
        the video's length.
        """
        self._check_pixels(x)
        f, t = self.temporal_factor, x.shape[2]
        if state is None and (t - 1) % f:
            raise ValueError(
                f"the first encode_step of a stream takes 1 + k*{f} frames (frame 0 is coded alone); "
                f"got {t}. Nearest valid counts: {valid_frame_counts(f, t)}"
            )
        if state is not None and (t == 0 or t % f):
            raise ValueError(
                f"encode_step continues a video {f} frames per latent frame: it takes k*{f} new frames "
                f"(k >= 1; {f} for one latent frame); got {t}"
            )
        self.check_shape(1, *x.shape[3:])
        self._check_stream(state, "encode", x.shape[0], tuple(x.shape[3:]))
        with streaming(self.encoder, state) as kept:
            z = self.encoder(x)
        new_state = StreamState.after(state, "encode", x.shape[0], tuple(x.shape[3:]), t, kept)
        if self.fsq is None:
            return z, new_state
        codes, indices = self.fsq(z.movedim(1, -1))
        return (codes.movedim(-1, 1), indices), new_state

    @torch.no_grad()
    def decode_step(
        self, latent: torch.Tensor, state: StreamState | None = None
    ) -> tuple[torch.Tensor, StreamState]:
        """Decode the next latent frames of a video, given what the previous steps kept (no gradients).

        latent: (B, C, n, h, w), n >= 1. The first step (``state=None``) gives ``1 + (n-1)*tf``
        frames, each later step ``n*tf``; concatenated, the steps' frames are ``decode`` of the whole
        latent. Returns ``(video, state)``.
        """
        if latent.ndim != 5 or latent.shape[1] != self.latent_channels or latent.shape[2] == 0:
            raise ValueError(
                f"decode_step takes latents (B, {self.latent_channels}, n >= 1, h, w), "
                f"got {tuple(latent.shape)}"
            )
        self._check_stream(state, "decode", latent.shape[0], tuple(latent.shape[3:]))
        n = latent.shape[2]
        with streaming(self.decoder, state) as kept:
            video = self.decoder(latent)
        new_state = StreamState.after(state, "decode", latent.shape[0], tuple(latent.shape[3:]), n, kept)
        return video, new_state

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruct x; returns ``(recon, {"latent": ..., ["indices": ...]})``."""
        out = self.encode(x)
        latent, extra = (out, {}) if self.fsq is None else (out[0], {"indices": out[1]})
        return self.decode(latent), {"latent": latent, **extra}

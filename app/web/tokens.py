"""Tokenize: encode and decode an upload with a tokenizer checkpoint, score and show the latents.

Frames are cut to the ``1 + k * temporal_factor`` a causal video tokenizer takes (an image
tokenizer codes each frame alone) and resized so that both sides divide by its spatial factor.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
import torch

from app.web.catalog import Catalog
from app.web.media import (
    IMAGE_TYPES,
    UPLOAD_HEIGHT,
    VIDEO_TYPES,
    Outputs,
    UploadBudget,
    cleared,
    decode_upload,
    enlarge,
    inspect_upload,
    side_by_side,
    user_errors,
)
from training.eval_tokenizer import compression_stats
from worldmodel.metrics import video_psnr, video_ssim
from worldmodel.tokenizer import CausalVideoTokenizer
from worldmodel.world import to_uint8_frames, to_video_tensor

# Frames x pixels coded at once; keeps a video tokenizer's activations well under a GiB on CPU.
MAX_VOXELS = 17 * 128 * 128
# Frames an image tokenizer codes per forward pass.
IMAGE_BATCH = 8


def fit_shape(t: int, h: int, w: int, model: CausalVideoTokenizer, height: int) -> tuple[int, int, int]:
    """Frames, height and width to code: ``height`` rounded to the spatial factor, aspect kept,
    frames the largest valid count within ``t`` and the voxel budget."""
    s, f = model.spatial_factor, model.temporal_factor
    out_h = max(s, round(height / s) * s)
    out_w = max(s, round(height * w / h / s) * s)
    if f == 1:  # an image tokenizer codes frames in small batches: no budget on their number
        return t, out_h, out_w
    frames = min(t, max(1, MAX_VOXELS // (out_h * out_w)))
    frames = 1 + (frames - 1) // f * f
    return frames, out_h, out_w


@torch.no_grad()
def reconstruct(
    model: CausalVideoTokenizer, frames: np.ndarray
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor | None]:
    """uint8 (T, H, W, 3) -> reconstruction (same shape), latent (C, T', h, w), FSQ indices (T', h, w)."""
    device = next(model.parameters()).device
    if model.temporal_factor == 1:
        # An image tokenizer: every frame is a one-frame video, coded in small batches.
        parts = [frames[i : i + IMAGE_BATCH, None] for i in range(0, len(frames), IMAGE_BATCH)]
    else:
        parts = [frames[None]]
    recons, latents, indices = [], [], []
    for part in parts:
        out = model.encode(to_video_tensor(part, device))  # (B, C, T', h, w)
        z, idx = out if model.is_discrete else (out, None)
        recons.append(to_uint8_frames(model.decode(z)).reshape(-1, *frames.shape[1:]))
        latents.append(z.permute(1, 0, 2, 3, 4).flatten(1, 2))  # (C, B*T', h, w)
        if idx is not None:
            indices.append(idx.flatten(0, 1))
    return np.concatenate(recons), torch.cat(latents, 1), torch.cat(indices) if indices else None


def latent_image(latent: torch.Tensor, max_frames: int = 8) -> np.ndarray:
    """The first three latent channels as RGB (each min-max scaled), latent frames side by side."""
    z = latent[:3, :max_frames].float()  # (3, T', h, w)
    lo = z.amin(dim=(1, 2, 3), keepdim=True)
    hi = z.amax(dim=(1, 2, 3), keepdim=True)
    rgb = ((z - lo) / (hi - lo).clamp_min(1e-6) * 255).round().to(torch.uint8)
    if rgb.shape[0] < 3:
        rgb = rgb.repeat(3, 1, 1, 1)[:3]
    tiles = list(rgb.permute(1, 2, 3, 0).numpy())  # T' x (h, w, 3)
    return enlarge(side_by_side(*[t[None] for t in tiles])[0], min_side=128)


class TokenizeTab:
    def __init__(self, catalog: Catalog, outputs: Outputs, budget: UploadBudget) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.budget = budget

    @user_errors
    def tokenize(
        self,
        name: str,
        upload: Any,
        height: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, np.ndarray, dict[str, Any], str]:
        """Returns the side-by-side mp4 (original | reconstruction), the latent view, metrics, a summary."""
        progress(0.05, desc="loading the tokenizer")
        model = self.catalog.tokenizer(name)
        upload = inspect_upload(
            upload, what="a video or image", allowed=VIDEO_TYPES + IMAGE_TYPES, budget=self.budget
        )
        fps, filename = upload.fps, upload.name
        # Shape from the header, then only those frames, decoded straight to that size.
        t, h, w = fit_shape(upload.frames, upload.height, upload.width, model, int(height))
        original = decode_upload(upload, self.budget, size=(h, w), frames=t)
        if len(original) < t:  # the container promised more frames than it holds
            t = fit_shape(len(original), upload.height, upload.width, model, int(height))[0]
            original = original[:t]
        if t < upload.frames:
            factor = model.temporal_factor
            gr.Warning(f"coding the first {t} of {upload.frames} frames (1 + k*{factor}, memory budget)")
        progress(0.3, desc=f"encoding and decoding {t} frames of {h}x{w}")
        recon, latent, indices = reconstruct(model, original)
        stats = compression_stats(model, t, h, w)
        c, lt, lh, lw = latent.shape
        metrics = {
            "file": filename,
            "frames": t,
            "height": h,
            "width": w,
            "psnr_db": round(video_psnr(original, recon), 3),
            "ssim": round(video_ssim(original, recon), 4),
            "latent_shape": [c, lt, lh, lw],
            "tokens": lt * lh * lw,
            "compression_ratio": round(stats["compression_ratio"], 2),
        }
        if indices is not None:
            metrics["bits_per_token"] = round(math.log2(model.codebook_size), 2)
            metrics["distinct_codes"] = int(indices.unique().numel())
        folder = self.outputs.new("tokenize")
        mp4 = self.outputs.write_video(folder, "reconstruction.mp4", side_by_side(original, recon), fps=fps)
        summary = (
            f"{filename}: {t} frames of {h}x{w} -> latent {c}x{lt}x{lh}x{lw} ({metrics['tokens']} tokens, "
            f"{metrics['compression_ratio']}x compression); PSNR **{metrics['psnr_db']:.2f} dB**, "
            f"SSIM **{metrics['ssim']:.4f}**"
        )
        return mp4, latent_image(latent), metrics, summary


def build_tokenize_tab(tab: TokenizeTab, catalog: Catalog) -> None:
    names = [e.name for e in catalog.tokenizers()]
    gr.Markdown(
        "Encode a video or image to latents and decode it back: reconstruction quality, token count "
        "and the first three latent channels as colours."
        + ("" if names else "\n\n**No tokenizer found** in the checkpoints folder.")
    )
    with gr.Row():
        name = gr.Dropdown(names, value=names[0] if names else None, label="tokenizer")
        upload = gr.File(
            label="video or image", file_types=list(VIDEO_TYPES + IMAGE_TYPES), height=UPLOAD_HEIGHT
        )
        height = gr.Slider(16, 256, value=64, step=8, label="code at height (pixels)")
    run = gr.Button("Tokenize", variant="primary")
    summary = gr.Markdown()
    with gr.Row():
        video = gr.Video(label="original | reconstruction", height=300)
        latents = gr.Image(label="latent frames (channels 0-2)", interactive=False, height=300)
    metrics = gr.JSON(label="metrics")
    results = [video, latents, metrics, summary]
    run.click(lambda: cleared(*results), None, results, queue=False, api_visibility="private").then(
        tab.tokenize, [name, upload, height], results, api_name="tokenize"
    )

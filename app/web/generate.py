"""Generate: Text2World and Video2World with ``WorldModel.predict``, guardrails on.

Video2World context comes from an uploaded video or image, or from a sample rendered by a
ground-truth simulator; Text2World needs only a prompt (for checkpoints trained with captions).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from app.web.catalog import Catalog
from app.web.media import IMAGE_TYPES, VIDEO_TYPES, Outputs, read_upload, resize_frames, user_errors
from app.web.play import Simulators
from app.web.recording import save_rollout_rrd

MODES = ("Video2World", "Text2World")
# Context samples: label -> (simulator id, reset seed).
SAMPLES = {
    "Fetch push, seed 0": ("worldfm/FetchPush-v0", 0),
    "Fetch push, seed 1": ("worldfm/FetchPush-v0", 1),
    "Fetch pick-and-place, seed 0": ("worldfm/FetchPickAndPlace-v0", 0),
}
UPLOAD = "uploaded video / image"
MAX_HORIZON = 32


class GenerateTab:
    def __init__(self, catalog: Catalog, outputs: Outputs, sims: Simulators, max_frames: int) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.sims = sims
        self.max_frames = max_frames

    def _context(self, source: str, upload: Any, size: tuple[int, int], k: int) -> np.ndarray:
        if source == UPLOAD:
            frames, _, _ = read_upload(
                upload,
                what="a context video or image",
                allowed=VIDEO_TYPES + IMAGE_TYPES,
                max_frames=self.max_frames,
            )
        elif source in SAMPLES:
            sim_id, seed = SAMPLES[source]
            frames = self.sims.start(sim_id, {"size": size[0]}, seed, k)[1]
        else:
            raise gr.Error(f"pick a context source: {UPLOAD} or one of {', '.join(SAMPLES)}")
        frames = resize_frames(frames, size)
        # A still image (or too short a clip) is held for the context frames the model wants.
        if len(frames) < k:
            frames = np.concatenate([np.repeat(frames[:1], k - len(frames), axis=0), frames])
        return frames[-k:]

    @user_errors
    def generate(
        self,
        checkpoint: str,
        mode: str,
        prompt: str,
        source: str,
        upload: Any,
        horizon: float,
        steps: float,
        guidance: float,
        seed: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str, str]:
        """Generate a video; returns its mp4, a summary and the ``.rrd`` (the last rollout)."""
        horizon = int(horizon)
        if not 1 <= horizon <= MAX_HORIZON:
            raise gr.Error(f"horizon must be in [1, {MAX_HORIZON}], got {horizon}")
        progress(0.05, desc="loading the world model")
        world = self.catalog.world(checkpoint)
        text = prompt.strip() or None
        if text is not None and world.tokenize is None:
            raise gr.Error(f"{checkpoint} was not trained with text; clear the prompt or pick a text model")
        if world.guardrails is not None:
            world.guardrails.check_prompt(text)
        if mode == "Text2World":
            if text is None:
                raise gr.Error("Text2World needs a prompt.")
            context = None
        elif mode == "Video2World":
            progress(0.1, desc="reading the context")
            context = self._context(source, upload, tuple(world.frame_size), world.context_frames)
        else:
            raise gr.Error(f"mode must be one of {MODES}, got {mode!r}")
        # Action-conditioned models are shown standing still: zero actions (clipped into their box).
        actions = None
        if world.action_dim:
            box = world.info.get("action_space") or {}
            zero = np.zeros(world.action_dim, np.float32)
            if box:
                zero = np.clip(zero, box["low"], box["high"])
            actions = np.repeat(zero[None], horizon, axis=0)
        progress(0.2, desc=f"sampling {horizon} frames")
        frames = world.predict(
            context,
            actions=actions,
            text=text,
            horizon=horizon,
            seed=int(seed),
            steps=int(steps),
            guidance=float(guidance),
        )
        shown = frames if context is None else np.concatenate([context, frames])
        folder = self.outputs.new("generate")
        mp4 = self.outputs.write_video(folder, "generated.mp4", shown, fps=8)
        rrd = save_rollout_rrd(folder / "generated.rrd", shown, text=text)
        summary = (
            f"{mode}: {len(frames)} frames of {frames.shape[1]}x{frames.shape[2]}"
            + (f" after {len(context)} context frames" if context is not None else "")
            + f", {int(steps)} sampler steps, guidance {float(guidance):g}, seed {int(seed)}; guardrails on"
        )
        return mp4, summary, str(rrd)


def build_generate_tab(tab: GenerateTab, catalog: Catalog, last_rrd: gr.State) -> None:
    worlds = [e.name for e in catalog.worlds()]
    text_worlds = [e.name for e in catalog.worlds(text=True)]
    default = text_worlds[0] if text_worlds else (worlds[0] if worlds else None)
    gr.Markdown(
        "Video2World continues a clip; Text2World starts from a prompt (models trained with captions). "
        "Prompts are checked and generated frames post-processed by the guardrails."
        + ("" if worlds else "\n\n**No world model found** in the checkpoints folder.")
    )
    with gr.Row():
        checkpoint = gr.Dropdown(worlds, value=default, label="world model")
        mode = gr.Radio(list(MODES), value="Video2World", label="mode")
    prompt = gr.Textbox(label="prompt", placeholder="A Fetch robot arm pushes a black block to a red target.")
    with gr.Row():
        source = gr.Dropdown([*SAMPLES, UPLOAD], value=next(iter(SAMPLES)), label="context (Video2World)")
        upload = gr.File(
            label="context video or image", file_types=list(VIDEO_TYPES + IMAGE_TYPES), height=90
        )
    with gr.Row():
        horizon = gr.Slider(1, MAX_HORIZON, value=8, step=1, label="horizon (frames)")
        steps = gr.Slider(1, 32, value=8, step=1, label="sampler steps")
        guidance = gr.Slider(0.0, 7.0, value=1.0, step=0.5, label="guidance")
        seed = gr.Number(0, label="seed", precision=0)
    run = gr.Button("Generate", variant="primary")
    video = gr.Video(label="generated (context, then prediction)", height=320)
    summary = gr.Markdown()
    run.click(
        tab.generate,
        [checkpoint, mode, prompt, source, upload, horizon, steps, guidance, seed],
        [video, summary, last_rrd],
        api_name="generate",
    )

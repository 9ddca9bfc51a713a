"""Generate: Text2World and Video2World with ``WorldModel.predict``, guardrails on; camera paths
and drives for camera-conditioned and driving world models.

Video2World context comes from an uploaded video or image, or from a sample rendered by a
ground-truth simulator; Text2World needs only a prompt (for checkpoints trained with captions).
A camera model follows a motion of ``envs.sim.camera_paths`` from an orbit-simulator scene or an
uploaded image; a driving model follows steer and throttle from the driving simulator's three
views or uploaded left / front / right images (``app.web.controls`` turns both into poses).
When the context comes from a simulator, the simulator replays the same path beside the model.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import numpy as np

from app.web.catalog import Catalog
from app.web.controls import (
    DRIVES,
    camera_actions,
    camera_path,
    drive_actions,
    driving_rollout,
    orbit_rollout,
    relative_to_first,
    upload_start,
)
from app.web.media import (
    IMAGE_TYPES,
    UPLOAD_HEIGHT,
    VIDEO_TYPES,
    Outputs,
    UploadBudget,
    cleared,
    read_upload,
    resize_frames,
    side_by_side,
    user_errors,
)
from app.web.play import Simulators, steps_setting, steps_slider
from app.web.recording import save_rollout_rrd
from envs.driving_world_env import ego_trajectory
from envs.sim.camera_paths import MOTIONS
from envs.sim.driving import VehicleParams
from worldmodel.metrics import frame_psnr
from worldmodel.world import WorldModel

MODES = ("Video2World", "Text2World")
# Context samples: label -> (simulator id, reset seed).
SAMPLES = {
    "Fetch push, seed 0": ("worldfm/FetchPush-v0", 0),
    "Fetch push, seed 1": ("worldfm/FetchPush-v0", 1),
    "Fetch pick-and-place, seed 0": ("worldfm/FetchPickAndPlace-v0", 0),
}
UPLOAD = "uploaded video / image"
# Camera and driving context: label -> the simulator's reset seed.
CAMERA_SAMPLES = {f"orbit scene, seed {s}": s for s in range(3)}
CAMERA_UPLOAD = "uploaded image"
DRIVING_SAMPLES = {f"driving road, seed {s}": s for s in range(3)}
DRIVING_UPLOAD = "uploaded left / front / right images"
# Which controls the page shows for each kind of world model (``Entry.control``).
PANELS = ("general", "camera", "driving")
MAX_HORIZON = 32
# Longer prompts are refused: the text models read 32 tokens, and a huge prompt only costs memory.
MAX_PROMPT_CHARS = 1000


def check_horizon(horizon: float | None) -> int:
    if horizon is None or float(horizon) != int(horizon) or not 1 <= int(horizon) <= MAX_HORIZON:
        raise gr.Error(f"horizon must be a whole number of frames in [1, {MAX_HORIZON}], got {horizon}")
    return int(horizon)


def check_prompt_length(prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise gr.Error(
            f"the prompt is {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,} are accepted "
            "(the text models read its first 32 tokens)"
        )


def blur_note(faces: int) -> str:
    return f"; guardrail blurred {faces} face detection(s)" if faces else ""


def postprocess(world: WorldModel, frames: np.ndarray) -> tuple[np.ndarray, int]:
    """The guardrails' face blur on generated ``frames``, and how many faces it blurred."""
    if world.guardrails is None:
        return frames, 0
    return world.guardrails.postprocess_report(frames)


class GenerateTab:
    def __init__(self, catalog: Catalog, outputs: Outputs, sims: Simulators, budget: UploadBudget) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.sims = sims
        self.budget = budget

    def _context(self, source: str, upload: Any, size: tuple[int, int], k: int) -> np.ndarray:
        if source == UPLOAD:
            frames, _, _ = read_upload(
                upload,
                what="a context video or image",
                allowed=VIDEO_TYPES + IMAGE_TYPES,
                budget=self.budget,
                size=size,
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
        horizon = check_horizon(horizon)
        control = self.catalog.entry(checkpoint).control
        if control in ("camera", "driving"):
            raise gr.Error(
                f"{checkpoint} is a {control} world model: use the {control} controls the page shows "
                f"for it (API: /generate_{control})"
            )
        progress(0.05, desc="loading the world model")
        check_prompt_length(prompt or "")
        world = self.catalog.world(checkpoint)
        text = (prompt or "").strip() or None
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
            box = world.info.action_space
            zero = np.zeros(world.action_dim, np.float32)
            if box is not None:
                zero = np.clip(zero, box.low, box.high)
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
            guardrails=False,  # checked above; the blur runs below, so the page can report it
        )
        frames, faces = postprocess(world, frames)
        shown = frames if context is None else np.concatenate([context, frames])
        folder = self.outputs.new("generate")
        mp4 = self.outputs.write_video(folder, "generated.mp4", shown, fps=8)
        rrd = save_rollout_rrd(folder / "generated.rrd", shown, text=text)
        summary = (
            f"{mode}: {len(frames)} frames of {frames.shape[1]}x{frames.shape[2]}"
            + (f" after {len(context)} context frames" if context is not None else "")
            + f", {int(steps)} sampler steps, guidance {float(guidance):g}, seed {int(seed)}; guardrails on"
            + blur_note(faces)
            + (
                f"; the model read only the prompt's first {world.tokenize.max_len} tokens"
                if text is not None and world.tokenize.truncates(text)
                else ""
            )
        )
        return mp4, summary, str(rrd)

    # -- camera paths and drives ------------------------------------------------------------
    def panel(self, checkpoint: str | None) -> str:
        """Which controls ``checkpoint`` needs: one of ``PANELS``."""
        try:
            control = self.catalog.entry(checkpoint).control
        except ValueError:
            return "general"
        return control if control in PANELS else "general"

    def show_panel(self, checkpoint: str | None) -> tuple[gr.Group, ...]:
        shown = self.panel(checkpoint)
        return tuple(gr.Group(visible=name == shown) for name in PANELS)

    def _world(self, checkpoint: str, control: str) -> WorldModel:
        entry = self.catalog.entry(checkpoint)
        if entry.control != control:
            raise gr.Error(
                f"{checkpoint} is not a {control} world model; pick one whose label says "
                + ("'camera path'" if control == "camera" else "'driving'")
            )
        return self.catalog.world(checkpoint)

    def _image(self, upload: Any, what: str, size: tuple[int, int]) -> np.ndarray:
        frames, _, _ = read_upload(upload, what=what, allowed=IMAGE_TYPES, budget=self.budget, size=size)
        return frames[:1]  # (1, H, W, 3)

    @user_errors
    def generate_camera(
        self,
        checkpoint: str,
        motion: str,
        speed: float,
        source: str,
        upload: Any,
        horizon: float,
        steps: float,
        guidance: float,
        seed: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str, str]:
        """A camera model along ``motion``; returns the mp4 (model | simulator), summary and ``.rrd``."""
        horizon = check_horizon(horizon)
        if motion not in MOTIONS:
            raise gr.Error(f"camera motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
        progress(0.05, desc="loading the world model")
        world = self._world(checkpoint, "camera")
        size, k = tuple(world.frame_size), world.context_frames
        actions = camera_actions(motion, float(speed), horizon)  # (horizon, 5)
        true = None
        if source in CAMERA_SAMPLES:
            progress(0.1, desc="rendering the orbit scene along the path")
            rollout = self.sims.run(orbit_rollout, CAMERA_SAMPLES[source], size, k, actions)
            context, true = rollout.context, rollout.true
            poses, intrinsics = camera_path(rollout.start, actions, size, context_frames=k)
        elif source == CAMERA_UPLOAD:
            context = np.repeat(self._image(upload, "a start image", size), k, axis=0)
            start = upload_start(np.asarray(world.info.intrinsics, np.float64), size[0])
            poses, intrinsics = camera_path(start, actions, size, context_frames=k)
            poses = relative_to_first(poses)  # the image's own camera is the identity
        else:
            raise gr.Error(f"pick a context source: {CAMERA_UPLOAD} or one of {', '.join(CAMERA_SAMPLES)}")
        progress(0.2, desc=f"sampling {horizon} frames along the path")
        frames = world.predict(
            context,
            camera=poses,
            intrinsics=intrinsics[None],
            horizon=horizon,
            seed=int(seed),
            steps=int(steps),
            guidance=float(guidance),
            guardrails=False,
        )
        frames, faces = postprocess(world, frames)
        actions_shown = np.concatenate([np.zeros((k - 1, actions.shape[1]), np.float32), actions])
        return self._save(
            "camera",
            context,
            frames,
            true,
            f"camera path {motion} at speed {float(speed):g}",
            steps=steps,
            seed=seed,
            faces=faces,
            actions=actions_shown,
            camera=poses,
            intrinsics=intrinsics,
        )

    @user_errors
    def generate_driving(
        self,
        checkpoint: str,
        drive: str,
        steer: float,
        throttle: float,
        speed: float,
        source: str,
        left: Any,
        front: Any,
        right: Any,
        horizon: float,
        steps: float,
        guidance: float,
        seed: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str, str]:
        """A driving model on steer / throttle; returns the mp4 (model above simulator), a summary
        and the ``.rrd``."""
        horizon = check_horizon(horizon)
        max_speed = VehicleParams().max_speed
        if not 0 <= float(speed) <= max_speed:
            raise gr.Error(f"initial speed must be in [0, {max_speed:g}] m/s, got {speed}")
        actions = drive_actions(drive, float(steer), float(throttle), horizon)  # (horizon, 2)
        progress(0.05, desc="loading the world model")
        world = self._world(checkpoint, "driving")
        height, width = world.frame_size
        view_size, k = (height, width // len(world.views)), world.context_frames
        true = None
        if source in DRIVING_SAMPLES:
            progress(0.1, desc="driving the simulator")
            rollout = self.sims.run(driving_rollout, DRIVING_SAMPLES[source], height, k, actions)
            missing = sorted(set(world.views) - set(rollout.context))
            if missing:
                raise gr.Error(
                    f"the driving simulator has no {', '.join(missing)} view; upload the views instead"
                )
            context = world.tile_views({v: resize_frames(rollout.context[v], view_size) for v in world.views})
            true = world.tile_views({v: resize_frames(rollout.true[v], view_size) for v in world.views})
            poses, start_speed = rollout.poses, rollout.speed
        elif source == DRIVING_UPLOAD:
            uploads = {"left": left, "front": front, "right": right}
            missing = [v for v in world.views if uploads.get(v) in (None, "", [])]
            if missing:
                raise gr.Error(
                    f"{checkpoint} needs all {len(world.views)} views ({', '.join(world.views)}); "
                    f"upload the {' and '.join(missing)} view image{'s' if len(missing) > 1 else ''}"
                )
            views = {v: self._image(uploads[v], f"the {v} view", view_size) for v in world.views}
            context = np.repeat(world.tile_views(views), k, axis=0)
            poses, start_speed = np.zeros((k, 3)), float(speed)
        else:
            raise gr.Error(f"pick a context source: {DRIVING_UPLOAD} or one of {', '.join(DRIVING_SAMPLES)}")
        trajectory, _ = ego_trajectory(poses, start_speed, actions)  # (K + horizon, 3)
        progress(0.2, desc=f"sampling {horizon} frames along the drive")
        frames = world.predict(
            context,
            trajectory=trajectory,
            horizon=horizon,
            seed=int(seed),
            steps=int(steps),
            guidance=float(guidance),
            guardrails=False,
        )
        frames, faces = postprocess(world, frames)
        actions_shown = np.concatenate([np.zeros((k - 1, 2), np.float32), actions])
        return self._save(
            "driving",
            context,
            frames,
            true,
            f"{drive} drive, steer {float(steer):+.2f}, throttle {float(throttle):+.2f} "
            f"from {start_speed:.1f} m/s",
            steps=steps,
            seed=seed,
            faces=faces,
            actions=actions_shown,
            trajectory=trajectory,
        )

    def _save(
        self,
        kind: str,
        context: np.ndarray,
        frames: np.ndarray,
        true: np.ndarray | None,
        what: str,
        *,
        steps: float,
        seed: float,
        faces: int,
        actions: np.ndarray,
        **poses: np.ndarray,
    ) -> tuple[str, str, str]:
        """Write the context then prediction (with the simulator's frames beside them, above them for
        wide driving canvases) as mp4 and ``.rrd``; returns them and a summary."""
        shown = np.concatenate([context, frames])
        summary = (
            f"{what}: {len(frames)} frames of {frames.shape[1]}x{frames.shape[2]} after {len(context)} "
            f"context frame(s), {int(steps)} sampler steps, seed {int(seed)}" + blur_note(faces)
        )
        folder = self.outputs.new(f"generate-{kind}")
        truth, scores = None, None
        if true is None:
            video = shown
            summary += "; started from uploads, so there is no simulator to compare"
        else:
            truth = np.concatenate([context, true])
            video = side_by_side(shown, truth, above=kind == "driving")
            scores = [float("nan")] * (len(context) - 1) + frame_psnr(frames, true)
            where = "below" if kind == "driving" else "on the right"
            summary += f"; the simulator on the same path is {where} (PSNR {np.nanmean(scores):.2f} dB)"
        mp4 = self.outputs.write_video(folder, "generated.mp4", video, fps=8)
        rrd = save_rollout_rrd(
            folder / "generated.rrd", shown, true=truth, actions=actions, psnr=scores, **poses
        )
        return mp4, summary, str(rrd)


def build_generate_tab(tab: GenerateTab, catalog: Catalog, last_rrd: gr.State) -> None:
    worlds = catalog.worlds()
    text_worlds = [e.name for e in catalog.worlds(text=True)]
    default = text_worlds[0] if text_worlds else (worlds[0].name if worlds else None)
    gr.Markdown(
        "Video2World continues a clip; Text2World starts from a prompt (models trained with captions). "
        "Camera models follow a camera path, driving models a steer / throttle drive; from a simulator "
        "start, the simulator renders the same path beside the model. "
        "Prompts are checked and generated frames post-processed by the guardrails."
        + ("" if worlds else "\n\n**No world model found** in the checkpoints folder.")
    )
    checkpoint = gr.Dropdown([(e.label, e.name) for e in worlds], value=default, label="world model")
    with gr.Row():
        horizon = gr.Number(8, label=f"horizon (frames, 1-{MAX_HORIZON})", precision=0)
        steps_value, steps_label = steps_setting(catalog, default)
        steps = gr.Slider(1, 32, value=steps_value, step=1, label=steps_label)
        guidance = gr.Slider(0.0, 7.0, value=1.0, step=0.5, label="guidance")
        seed = gr.Number(0, label="seed", precision=0)
    shown = tab.panel(default)
    with gr.Group(visible=shown == "general") as general:
        mode = gr.Radio(list(MODES), value="Video2World", label="mode")
        prompt = gr.Textbox(
            label=f"prompt (at most {MAX_PROMPT_CHARS:,} characters)",
            placeholder="A Fetch robot arm pushes a black block to a red target.",
            max_length=MAX_PROMPT_CHARS,
        )
        with gr.Row() as context_row:
            source = gr.Dropdown([*SAMPLES, UPLOAD], value=next(iter(SAMPLES)), label="context (Video2World)")
            upload = gr.File(
                label="context video or image",
                file_types=list(VIDEO_TYPES + IMAGE_TYPES),
                height=UPLOAD_HEIGHT,
            )
        run = gr.Button("Generate", variant="primary")
    with gr.Group(visible=shown == "camera") as camera:
        with gr.Row():
            motion = gr.Dropdown(list(MOTIONS), value="orbit_left", label="camera path")
            camera_speed = gr.Slider(0.1, 1.0, value=0.5, step=0.05, label="speed (fraction of the top rate)")
        with gr.Row():
            camera_source = gr.Dropdown(
                [*CAMERA_SAMPLES, CAMERA_UPLOAD], value=next(iter(CAMERA_SAMPLES)), label="start"
            )
            camera_upload = gr.File(label="start image", file_types=list(IMAGE_TYPES), height=UPLOAD_HEIGHT)
        run_camera = gr.Button("Generate along the camera path", variant="primary")
    with gr.Group(visible=shown == "driving") as driving:
        with gr.Row():
            drive = gr.Radio(list(DRIVES), value="constant", label="drive")
            steer = gr.Slider(-1.0, 1.0, value=0.0, step=0.05, label="steer (+ left)")
            throttle = gr.Slider(-1.0, 1.0, value=0.3, step=0.05, label="throttle (- brakes)")
            speed = gr.Slider(0.0, 20.0, value=8.0, step=0.5, label="initial speed, m/s (uploads)")
        with gr.Row():
            driving_source = gr.Dropdown(
                [*DRIVING_SAMPLES, DRIVING_UPLOAD], value=next(iter(DRIVING_SAMPLES)), label="start"
            )
            views = [
                gr.File(label=f"{v} view", file_types=list(IMAGE_TYPES), height=UPLOAD_HEIGHT)
                for v in ("left", "front", "right")
            ]
        run_driving = gr.Button("Drive", variant="primary")
    # The summary says what the video shows: context then prediction, and where the simulator is.
    video = gr.Video(label="generated video (layout in the summary)", height=320)
    summary = gr.Markdown()
    results = [video, summary]
    checkpoint.change(tab.show_panel, checkpoint, [general, camera, driving], api_name=False)
    checkpoint.change(partial(steps_slider, catalog), checkpoint, steps, api_name=False)
    mode.change(lambda m: gr.update(visible=m == "Video2World"), mode, context_row, api_name=False)
    shared = [horizon, steps, guidance, seed]

    def clear() -> tuple:
        return cleared(*results)

    run.click(clear, None, results, queue=False, api_visibility="private").then(
        tab.generate,
        [checkpoint, mode, prompt, source, upload, *shared],
        [video, summary, last_rrd],
        api_name="generate",
    )
    run_camera.click(clear, None, results, queue=False, api_visibility="private").then(
        tab.generate_camera,
        [checkpoint, motion, camera_speed, camera_source, camera_upload, *shared],
        [video, summary, last_rrd],
        api_name="generate_camera",
    )
    run_driving.click(clear, None, results, queue=False, api_visibility="private").then(
        tab.generate_driving,
        [checkpoint, drive, steer, throttle, speed, driving_source, *views, *shared],
        [video, summary, last_rrd],
        api_name="generate_driving",
    )

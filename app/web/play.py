"""Play: drive a learned world one action at a time, the true simulator beside it.

An episode starts from a reset of the world model's ground-truth simulator (its context frames are
what ``envs.evaluate.simulator_start`` renders) or from an uploaded image. Each action goes to
``WorldModel.predict`` for the next frame and, when the episode started in the simulator, to the
simulator too, so the page shows both frames and their PSNR at every step.

MuJoCo renders through an EGL context bound to the thread that made it, while Gradio runs
handlers on a pool of threads, so every simulator call goes through one dedicated thread.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import gradio as gr
import gymnasium as gym
import numpy as np
import pandas as pd

from app.web.catalog import Catalog
from app.web.config import WebConfig
from app.web.media import (
    IMAGE_TYPES,
    UPLOAD_HEIGHT,
    Outputs,
    UploadBudget,
    enlarge,
    read_upload,
    side_by_side,
    user_errors,
)
from app.web.recording import save_rollout_rrd
from envs.actions import check_actions
from envs.evaluate import simulator_start
from envs.registration import simulator_for
from envs.world_env import world_spaces
from worldmodel import hub
from worldmodel.metrics import video_psnr
from worldmodel.world import WorldModel

# Buttons: (label, action axis, sign, key). Fetch's axes are gripper dx, dy, dz and the fingers.
BUTTONS = (
    ("x −  [A]", 0, -1.0, "a"),
    ("x +  [D]", 0, 1.0, "d"),
    ("y −  [S]", 1, -1.0, "s"),
    ("y +  [W]", 1, 1.0, "w"),
    ("z −  [F]", 2, -1.0, "f"),
    ("z +  [R]", 2, 1.0, "r"),
    ("close  [C]", 3, -1.0, "c"),
    ("open  [O]", 3, 1.0, "o"),
)
# Open simulators kept for live episodes; the oldest is closed past this many.
MAX_LIVE_SIMS = 4
# Frames per second of Play's videos: slow enough to follow each action.
PLAY_FPS = 4

KEYBOARD_JS = """
() => {
  document.addEventListener('keydown', (event) => {
    const tag = (event.target.tagName || '').toUpperCase();
    if (tag === 'INPUT' || tag === 'TEXTAREA' || event.ctrlKey || event.metaKey || event.altKey) return;
    const button = document.getElementById('play-key-' + event.key.toLowerCase());
    if (button && button.offsetParent !== null) { event.preventDefault(); button.click(); }
  });
}
"""


@dataclass
class Episode:
    """One Play episode, kept in the page's session state (numpy only, so it copies cleanly)."""

    checkpoint: str
    context: np.ndarray  # uint8 (K, H, W, 3): what the next prediction is conditioned on
    frames: list[np.ndarray]  # model frames shown so far, the start frame first
    true: list[np.ndarray] | None  # simulator frames on the same actions, None for an image start
    sim_key: str | None = None
    seed: int = 0
    actions: list[np.ndarray] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)


class Simulators:
    """Ground-truth simulators of live episodes, all created and stepped on one thread."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="worldfm-sim")
        self._live: OrderedDict[str, gym.Env] = OrderedDict()

    def run(self, fn: Any, *args: Any) -> Any:
        return self._thread.submit(fn, *args).result()

    def start(
        self, sim_id: str, kwargs: dict[str, Any], seed: int, context_frames: int
    ) -> tuple[str, np.ndarray]:
        """A new simulator reset with ``seed``: its key and its context frames (K, H, W, 3)."""

        def make() -> tuple[str, np.ndarray]:
            sim = gym.make(sim_id, **kwargs)
            frames, _, _ = simulator_start(sim, seed, context_frames)
            key = uuid.uuid4().hex
            self._live[key] = sim
            while len(self._live) > MAX_LIVE_SIMS:
                self._live.popitem(last=False)[1].close()
            return key, frames

        return self.run(make)

    def step(self, key: str | None, action: np.ndarray) -> np.ndarray | None:
        """Step simulator ``key`` and render it; None when it has been closed (too many episodes)."""

        def step() -> np.ndarray | None:
            sim = self._live.get(key) if key else None
            if sim is None:
                return None
            sim.step(action)
            return sim.render()

        return self.run(step)

    def close(self) -> None:
        def close_all() -> None:
            while self._live:
                self._live.popitem()[1].close()

        self.run(close_all)
        self._thread.shutdown()


def simulator_spec(world: WorldModel) -> tuple[str, dict[str, Any]] | None:
    """The registered simulator matching ``world`` and its kwargs, or None if there is none.

    As in ``envs.registration``: ``WorldModelInfo.sim_env`` if the checkpoint names one, else the
    simulator of the same task (``fetchpush-wm-dit`` -> ``worldfm/FetchPush-v0``), rendering at
    the model's square frame size.
    """
    sim = simulator_for(world.directory, world.info)
    if sim is None:
        return None
    kwargs = sim["kwargs"]
    if "size" not in kwargs and world.frame_size and world.frame_size[0] == world.frame_size[1]:
        kwargs["size"] = world.frame_size[0]
    return sim["id"], kwargs


class PlayTab:
    """Handlers of the Play tab; one instance serves every session."""

    def __init__(
        self, catalog: Catalog, outputs: Outputs, max_frames: int, *, budget: UploadBudget | None = None
    ) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.max_frames = max_frames
        # Play reads only start images; a tab built on its own gets the server's default budget.
        self.budget = budget or WebConfig().upload_budget()
        self.sims = Simulators()

    # -- episode starts ---------------------------------------------------------------------
    @user_errors
    def reset_sim(self, checkpoint: str, seed: float, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        progress(0.1, desc="loading the world model")
        world = self._world(checkpoint)
        spec = simulator_spec(world)
        if spec is None:
            raise gr.Error(f"{checkpoint} has no matching simulator; start from an uploaded image instead.")
        progress(0.5, desc="resetting the simulator")
        key, context = self.sims.start(*spec, int(seed), world.context_frames)
        if context.shape[1:3] != tuple(world.frame_size):
            raise gr.Error(f"the simulator renders {context.shape[1:3]}, the model needs {world.frame_size}")
        episode = Episode(checkpoint, context, [context[-1]], [context[-1]], key, int(seed))
        return self._show(episode)

    @user_errors
    def reset_image(self, checkpoint: str, image: Any, seed: float) -> tuple:
        world = self._world(checkpoint)
        size = tuple(world.frame_size)
        frames, _, _ = read_upload(
            image, what="a start image", allowed=IMAGE_TYPES, budget=self.budget, size=size
        )
        frame = frames[:1]
        context = np.repeat(frame, world.context_frames, axis=0)
        return self._show(Episode(checkpoint, context, [context[-1]], None, None, int(seed)))

    # -- steps ------------------------------------------------------------------------------
    @user_errors
    def step(
        self,
        episode: Episode | None,
        action_text: str,
        sampler_steps: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        """Apply an action typed as comma-separated numbers (``0.5, 0, 0, 0``)."""
        try:
            action = np.array([float(v) for v in action_text.replace(",", " ").split()], np.float32)
        except ValueError:
            raise gr.Error(f"an action is numbers separated by commas, got {action_text!r}") from None
        return self._step(episode, action, int(sampler_steps), progress)

    @user_errors
    def step_axis(
        self, axis: int, sign: float, episode: Episode | None, scale: float, sampler_steps: float
    ) -> tuple:
        """A button press: move along one action axis by ``scale`` of the model's action range."""
        if episode is None:
            raise gr.Error("Start an episode first (Reset).")
        world = self._world(episode.checkpoint)
        if axis >= world.action_dim:
            raise gr.Error(f"this model has {world.action_dim}-d actions; axis {axis} does nothing")
        _, space = world_spaces(world)
        action = np.clip(np.zeros(space.shape, np.float32), space.low, space.high)
        action[axis] = scale * (space.high[axis] if sign > 0 else space.low[axis])
        return self._step(episode, action, int(sampler_steps), None)

    def _step(self, episode: Episode | None, action: np.ndarray, steps: int, progress: Any) -> tuple:
        if episode is None:
            raise gr.Error("Start an episode first (Reset).")
        if len(episode.frames) > self.max_frames:
            raise gr.Error(f"episodes stop at {self.max_frames} steps here; reset to play again")
        world = self._world(episode.checkpoint)
        _, space = world_spaces(world)
        asked = np.asarray(action, np.float32)
        action = check_actions(action, space)
        clipped = not np.array_equal(action, asked)
        if clipped:
            gr.Warning(
                f"action ({_numbers(asked)}) is outside the model's range "
                f"[{_numbers(space.low)}] to [{_numbers(space.high)}]; used ({_numbers(action)})"
            )
        if progress is not None:
            progress(0.2, desc="predicting the next frame")
        frame = world.predict(
            episode.context,
            actions=action[None],
            horizon=1,
            seed=episode.seed + len(episode.frames),
            steps=steps,
        )[0]
        episode.context = np.concatenate([episode.context[1:], frame[None]])
        episode.frames.append(frame)
        episode.actions.append(action)
        if episode.true is not None:
            true = self.sims.step(episode.sim_key, action)
            if true is None:
                gr.Warning(
                    "this episode's simulator was closed (too many open episodes); the true frame stops"
                )
                episode.true = None
            else:
                episode.true.append(true)
                episode.psnr.append(video_psnr(frame, true))
        return self._show(
            episode, note=f"clipped into the model's range from ({_numbers(asked)})" if clipped else ""
        )

    # -- saving -----------------------------------------------------------------------------
    @user_errors
    def save(self, episode: Episode | None) -> tuple[list[str], str]:
        """The episode as an mp4 (model | simulator) and a ``.rrd``, which becomes the last rollout."""
        if episode is None or len(episode.frames) < 2:
            raise gr.Error("Play at least one step before saving the episode.")
        folder = self.outputs.new("play")
        predicted = np.stack(episode.frames)
        true = np.stack(episode.true) if episode.true is not None else None
        video = side_by_side(predicted, true) if true is not None else predicted
        mp4 = self.outputs.write_video(folder, "episode.mp4", video, fps=PLAY_FPS)
        rrd = save_rollout_rrd(
            folder / "episode.rrd", predicted, true=true, actions=np.stack(episode.actions), psnr=episode.psnr
        )
        return [mp4, str(rrd)], str(rrd)

    # -- views ------------------------------------------------------------------------------
    def _world(self, checkpoint: str) -> WorldModel:
        world = self.catalog.world(checkpoint)
        if not world.action_dim:
            raise gr.Error(f"{checkpoint} is not action-conditioned; Play needs a robot post-trained model")
        return world

    def change_model(self, checkpoint: str | None, episode: Episode | None) -> tuple:
        """A new model in the dropdown: its sampler-step default, and the episode ends (an episode
        belongs to the model that started it; stepping it with another would mix two worlds)."""
        steps = steps_slider(self.catalog, checkpoint)
        if episode is None or episode.checkpoint == checkpoint:
            return steps, gr.skip(), gr.skip(), gr.skip(), episode
        info = (
            f"World model changed to **{checkpoint}**; the {episode.checkpoint} episode ended. "
            "Press **Reset** to start an episode with the new model."
        )
        return steps, None, None, info, None

    @staticmethod
    def _show(episode: Episode, note: str = "") -> tuple:
        step = len(episode.frames) - 1
        if episode.actions:
            info = f"**step {step}**, action ({_numbers(episode.actions[-1], signed=True)})"
            if note:
                info += f" ({note})"
        else:
            info = "**step 0**: press a direction button or a key"
        if episode.psnr:
            info += (
                f"; PSNR model vs simulator **{episode.psnr[-1]:.2f} dB** (mean {np.mean(episode.psnr):.2f})"
            )
        elif episode.true is None:
            info += "; started from an image, so there is no true frame to compare"
        true = enlarge(episode.true[-1]) if episode.true is not None else None
        plot = pd.DataFrame({"step": np.arange(1, len(episode.psnr) + 1), "psnr_db": episode.psnr})
        return enlarge(episode.frames[-1]), true, info, plot, episode


def _numbers(values: np.ndarray, *, signed: bool = False) -> str:
    return ", ".join(f"{v:+.2f}" if signed else f"{v:g}" for v in np.asarray(values, float))


def steps_setting(catalog: Catalog, name: str | None) -> tuple[int, str]:
    """The sampler-steps slider's value and label for ``name``: its checkpoint's default
    (``world_model.sampler_steps``, measured by ``worldfm eval wfm --steps ... --card``, read from
    its config without loading it; else 8), said so. An autoregressive model samples tokens and has
    no sampler steps."""
    try:
        entry = catalog.entry(name)
    except ValueError:
        return 8, "sampler steps per frame"
    if entry.family == "autoregressive":
        return 1, "sampler steps per frame (not used: autoregressive model)"
    steps = hub.read_info(entry.path).sampler_steps or 8
    return steps, f"sampler steps per frame (this model's measured best: {steps})"


def steps_slider(catalog: Catalog, name: str | None) -> dict:
    value, label = steps_setting(catalog, name)
    return gr.update(value=value, label=label)


def default_play_model(catalog: Catalog) -> str | None:
    """The action-conditioned world model with the best held-out PSNR on its model card (models
    without a card last), so a first visit starts on the model that plays best."""
    worlds = catalog.worlds(actions=True)
    if not worlds:
        return None
    return max(worlds, key=lambda e: (e.card_psnr is not None, e.card_psnr or 0.0, e.name)).name


class PlayControls(NamedTuple):
    """The Play tab's components that other sections of the tab listen to or read."""

    checkpoint: gr.Dropdown
    episode: gr.State


def build_play_tab(tab: PlayTab, catalog: Catalog, last_rrd: gr.State) -> PlayControls:
    """The Play tab's components and events (inside a ``gr.Blocks``)."""
    worlds = catalog.worlds(actions=True)
    default = default_play_model(catalog)
    gr.Markdown(
        "Drive a learned world: each action is one frame predicted by the world model, beside the "
        "real simulator's frame after the same action. Keys **W A S D** move the gripper in the "
        "table plane, **R / F** up and down, **O / C** open and close the fingers."
        + ("" if worlds else "\n\n**No action-conditioned world model found** in the checkpoints folder.")
    )
    episode = gr.State(None)
    with gr.Row():
        checkpoint = gr.Dropdown(
            [(e.label, e.name) for e in worlds],
            value=default,
            label="world model (held-out PSNR from its model card)",
            scale=2,
        )
        seed = gr.Number(0, label="seed", precision=0)
        steps_value, steps_label = steps_setting(catalog, default)
        sampler_steps = gr.Slider(1, 32, value=steps_value, step=1, label=steps_label)
        scale = gr.Slider(0.1, 1.0, value=1.0, step=0.1, label="action size (fraction of the range)")
    with gr.Row():
        reset = gr.Button("Reset from the simulator", variant="primary")
        image = gr.File(label="or start from an image", file_types=list(IMAGE_TYPES), height=UPLOAD_HEIGHT)
        reset_image = gr.Button("Reset from the image")
    with gr.Row():
        model_view = gr.Image(label="world model", interactive=False, height=320)
        true_view = gr.Image(label="simulator (ground truth)", interactive=False, height=320)
    info = gr.Markdown()
    # Rendered below the buttons, but the buttons' events need it first.
    plot = gr.LinePlot(x="step", y="psnr_db", label="PSNR per step (dB)", height=220, render=False)
    views = [model_view, true_view, info, plot, episode]
    checkpoint.change(
        tab.change_model,
        [checkpoint, episode],
        [sampler_steps, model_view, true_view, info, episode],
        api_visibility="private",
    )
    with gr.Row():
        for label, axis, sign, key in BUTTONS:
            button = gr.Button(label, elem_id=f"play-key-{key}", min_width=60)
            button.click(
                partial(tab.step_axis, axis, sign),
                [episode, scale, sampler_steps],
                views,
                api_visibility="private",
            )
    with gr.Row():
        action_text = gr.Textbox(label="custom action (comma-separated)", value="0, 0, 0, 0")
        step = gr.Button("Step")
    plot.render()
    with gr.Row():
        save = gr.Button("Save episode (.mp4 + .rrd)")
        files = gr.File(label="downloads", file_count="multiple", interactive=False)
    reset.click(tab.reset_sim, [checkpoint, seed], views, api_name="play_reset")
    reset_image.click(tab.reset_image, [checkpoint, image, seed], views, api_name="play_reset_image")
    step.click(tab.step, [episode, action_text, sampler_steps], views, api_name="play_step")
    save.click(tab.save, [episode], [files, last_rrd], api_name="play_save")
    return PlayControls(checkpoint, episode)

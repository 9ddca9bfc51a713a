"""Plan: run the latent MPC planner from a Play episode's state, then check its plan in the simulator.

The **Plan** button plans ``horizon`` decisions with ``envs.planning.LatentPlanner`` (MPPI / CEM
over ``WorldModel.rollout_latents``, scored by the checkpoint's reward head) from the frames the
Play episode is conditioned on, imagines that plan once more to decode it, and executes the same
actions in a fresh simulator brought to the episode's true state (reset with the episode's seed,
then the actions played so far replayed). The page shows the two videos side by side with the
simulator's return and success beside the learned reward's, and the seconds the planning took.
The episode itself is left as it was: a plan is a preview.

The search settings start from the checkpoint's stored planner section
(``envs.planner_config.load_planner_config``, else ``PlannerConfig``'s defaults); the page exposes
horizon, population and iterations, and the rest comes from that config unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr
import gymnasium as gym
import numpy as np
import torch

from app.web.catalog import Catalog
from app.web.media import Outputs, cleared, user_errors
from app.web.play import PLAY_FPS, Episode, PlayControls, Simulators, simulator_spec
from envs.evaluate import simulator_start
from envs.learned_reward import LearnedReward
from envs.planner_config import PlannerConfig, load_planner_config
from envs.planning import planner_for
from envs.sim.fetch import FetchSimEnv, make_policy
from worldmodel.hub import CheckpointError
from worldmodel.metrics import video_psnr
from worldmodel.world import WorldModel

# The policy prior `worldfm plan` seeds its search with by default: the scripted Fetch expert with
# action noise, acting on the simulator's state (a stand-in for a learned policy).
PRIOR_KIND = "noisy_expert"
# Slider ranges; a checkpoint's stored value beyond them widens its slider.
MAX_HORIZON, MAX_POPULATION, MAX_ITERATIONS = 16, 256, 8


@dataclass
class SimCheck:
    """What the simulator did with the planned actions, from the episode's true state."""

    frames: np.ndarray  # uint8 (1 + T, H, W, 3): the state the plan starts from, then one per action
    rewards: np.ndarray  # float64 (T,)
    success: bool  # solved after the last action


class PlanPanel:
    """The Plan button's handler and its controls' defaults; one instance serves every session."""

    def __init__(self, catalog: Catalog, outputs: Outputs, sims: Simulators) -> None:
        self.catalog = catalog
        self.outputs = outputs
        self.sims = sims

    @user_errors
    def plan(
        self,
        episode: Episode | None,
        horizon: float,
        population: float,
        iterations: float,
        use_prior: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, str, str]:
        """Plan from the episode's state; returns the imagined video, the simulator's video (mp4
        paths, ``1 + horizon * action_repeat`` frames each) and a summary."""
        began = time.perf_counter()
        if episode is None:
            raise gr.Error("Start an episode first (Reset from the simulator), then press Plan.")
        name = episode.checkpoint
        world = self.catalog.world(name)
        try:
            head = self.catalog.reward_head(name)
        except CheckpointError:
            raise gr.Error(
                f"{name} has no reward head, so the planner has nothing to score plans with; train one "
                f"with `worldfm train reward --wfm <{name} folder>` or pick a model that has one."
            ) from None
        spec = simulator_spec(world)
        if spec is None:
            raise gr.Error(f"{name} has no matching simulator to check a plan in; Plan needs one.")
        if episode.sim_key is None:
            raise gr.Error(
                "This episode started from an image; Plan needs one started from the simulator (Reset)."
            )
        config = load_planner_config(self.catalog.entry(name).path).replace(
            horizon=int(horizon), population=int(population), iterations=int(iterations)
        )
        seed = episode.seed + len(episode.frames)
        progress(0.1, desc="bringing a simulator to the episode's state")
        sim, obs = self.sims.run(replay, *spec, episode)
        try:
            prior = None
            if use_prior:
                fetch = sim.unwrapped
                if not isinstance(fetch, FetchSimEnv):
                    raise gr.Error(f"the {PRIOR_KIND} prior is a Fetch policy; untick it for {spec[0]}")
                prior = make_policy(fetch.task, PRIOR_KIND, np.random.default_rng(seed))
            progress(0.3, desc=f"planning: {config.iterations} x {config.population} imagined rollouts")
            planner = planner_for(world, head, config, prior=prior, seed=seed)
            start = time.perf_counter()
            plan = planner.plan(episode.context, obs)  # (H, A)
            seconds = time.perf_counter() - start
            actions = np.repeat(plan, config.action_repeat, axis=0)  # (T, A)
            progress(0.7, desc="imagining the plan and running it in the simulator")
            imagined, latents = imagine(world, episode, actions, seed, config.sampler_steps)
            check = self.sims.run(execute, sim, actions)
        finally:
            self.sims.run(sim.close)
        learned_rewards, success_p = LearnedReward(world, head, obs_mode="latent").score(latents)
        folder = self.outputs.new("plan")
        imagined_mp4 = self.outputs.write_video(folder, "imagined.mp4", imagined, fps=PLAY_FPS)
        sim_mp4 = self.outputs.write_video(folder, "simulator.mp4", check.frames, fps=PLAY_FPS)
        text = plan_summary(
            config,
            plan,
            seconds=seconds,
            total=time.perf_counter() - began,
            prior=prior is not None,
            check=check,
            learned_rewards=learned_rewards,
            success_p=float(success_p[-1]),
            psnr=video_psnr(imagined[1:], check.frames[1:]),
            played=len(episode.actions),
            terminal_value=planner.terminal_value is not None,
        )
        return imagined_mp4, sim_mp4, text

    def settings(self, name: str | None) -> PlannerConfig:
        """Checkpoint ``name``'s stored planner settings, else the planner's defaults."""
        try:
            return load_planner_config(self.catalog.entry(name).path)
        except ValueError:  # no such checkpoint (or a bad stored section): the planner's defaults
            return PlannerConfig()

    def controls(self, name: str | None) -> tuple[dict, dict, dict]:
        """Horizon, population and iterations sliders at checkpoint ``name``'s planner settings."""
        return tuple(gr.update(**ranges) for ranges in slider_ranges(self.settings(name)))


def slider_ranges(config: PlannerConfig) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """``value`` / ``minimum`` / ``maximum`` of the horizon, population and iterations sliders."""
    return (
        {"value": config.horizon, "minimum": 1, "maximum": max(MAX_HORIZON, config.horizon)},
        # PlannerConfig refuses a population below its elites or prior samples: the slider stops there.
        {
            "value": config.population,
            "minimum": max(config.elites, config.prior_samples, 1),
            "maximum": max(MAX_POPULATION, config.population),
        },
        {"value": config.iterations, "minimum": 1, "maximum": max(MAX_ITERATIONS, config.iterations)},
    )


def replay(sim_id: str, kwargs: dict[str, Any], episode: Episode) -> tuple[gym.Env, Any]:
    """A new simulator at the episode's true state: reset with its seed, its actions replayed.
    Returns the simulator and its observation (what a policy prior acts on). Simulator thread only."""
    sim = gym.make(sim_id, **kwargs)
    try:
        _, obs, _ = simulator_start(sim, episode.seed, len(episode.context))
        for action in episode.actions:
            obs = sim.step(action)[0]
    except BaseException:
        sim.close()
        raise
    return sim, obs


def execute(sim: gym.Env, actions: np.ndarray) -> SimCheck:
    """Step ``sim`` through ``actions`` (T, A), rendering each state. Simulator thread only."""
    frames, rewards, info = [sim.render()], [], {}
    for action in actions:
        _, reward, _, _, info = sim.step(action)
        frames.append(sim.render())
        rewards.append(float(reward))
    return SimCheck(np.stack(frames), np.asarray(rewards), bool(info.get("is_success")))


def imagine(
    world: WorldModel, episode: Episode, actions: np.ndarray, seed: int, steps: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The world model's rollout of ``actions`` (T, A) from the episode's context: uint8 frames
    (1 + T, H, W, 3), the episode's current frame first, and the imagined latents (T, C, h, w)."""
    context = world.encode(episode.context[None])  # (1, C, K, h, w)
    z = world.rollout_latents(context, actions[None], seed=seed, steps=steps)  # (1, C, T, h, w)
    frames = world.decode(z)[0]  # (T, H, W, 3)
    latents = z[0].permute(1, 0, 2, 3).float().cpu().numpy()  # (T, C, h, w)
    return np.concatenate([episode.frames[-1][None], frames]), latents


def plan_summary(
    config: PlannerConfig,
    plan: np.ndarray,
    *,
    seconds: float,
    total: float,
    prior: bool,
    check: SimCheck,
    learned_rewards: np.ndarray,
    success_p: float,
    psnr: float,
    played: int,
    terminal_value: bool,
) -> str:
    """The Markdown under the two videos."""
    search = (
        f"{config.method.upper()}, {config.horizon} decisions (each held {config.action_repeat} step(s)) "
        f"x {config.population} sequences x {config.iterations} iterations, objective {config.objective}"
        + (f", {PRIOR_KIND} prior" if prior else ", no prior")
        + (", the head's value as terminal value" if terminal_value else "")
    )
    steps = ", ".join("(" + ", ".join(f"{v:+.2f}" for v in a) + ")" for a in plan)
    return (
        f"**Planned in {seconds:.2f} s** on {torch.get_num_threads()} CPU thread(s) ({total:.2f} s with "
        f"imagining, decoding and simulating the plan): {search}.\n\n"
        "| over the plan | return | success |\n|---|---:|---:|\n"
        f"| simulator | {check.rewards.sum():.2f} | {'yes' if check.success else 'no'} |\n"
        f"| world model (learned reward head) | {learned_rewards.sum():.2f} "
        f"| {success_p:.0%} probability |\n\n"
        f"Plan: {steps}. Imagined vs simulator PSNR {psnr:.2f} dB. The imagined rollout starts from "
        f"the model's current frames, the simulator from its true state after the {played} action(s) "
        "played so far; the episode itself is unchanged."
    )


def build_plan_section(panel: PlanPanel, play: PlayControls) -> None:
    """The Plan controls, button and results, under the Play tab's controls (inside a ``gr.Blocks``)."""
    gr.Markdown(
        "### Plan\nSearch action sequences in the world model (latent MPC scored by its reward "
        "head) from the current state, then run the chosen plan in the simulator from the same state."
    )
    h, p, i = slider_ranges(panel.settings(play.checkpoint.value))
    with gr.Row():
        horizon = gr.Slider(**h, step=1, label="horizon (decisions)")
        population = gr.Slider(**p, step=1, label="population (sequences per iteration)")
        iterations = gr.Slider(**i, step=1, label="iterations")
        use_prior = gr.Checkbox(True, label=f"policy prior ({PRIOR_KIND}, on the simulator's state)")
    run = gr.Button("Plan", variant="primary")
    with gr.Row():
        imagined = gr.Video(label="imagined (world model)", interactive=False, loop=True)
        real = gr.Video(label="simulator, same actions", interactive=False, loop=True)
    summary = gr.Markdown()
    play.checkpoint.change(
        panel.controls, [play.checkpoint], [horizon, population, iterations], api_visibility="private"
    )
    outputs = [imagined, real, summary]
    run.click(lambda: cleared(*outputs), None, outputs, api_visibility="private").then(
        panel.plan, [play.episode, horizon, population, iterations, use_prior], outputs, api_name="play_plan"
    )

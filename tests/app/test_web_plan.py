"""The Play tab's Plan button (``app.web.plan``), called as a handler on the tiny Fetch world."""

import shutil

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app.web.catalog import Catalog
from app.web.media import Outputs, enlarge
from app.web.plan import PlanPanel, replay
from app.web.play import PlayTab, simulator_spec
from curation.video_io import read_video
from envs.planner_config import PlannerConfig, save_planner_config
from worldmodel.heads import REWARD_HEAD_DIR
from worldmodel.metrics import video_psnr

# Stored with the test checkpoint as its planner section: each decision is held for 2 steps.
pytestmark = pytest.mark.usefixtures("one_thread")

STORED = PlannerConfig(horizon=3, population=10, elites=4, iterations=1, prior_samples=2, action_repeat=2)


@pytest.fixture(scope="module")
def panel(fetch_world, tmp_path_factory):
    """Play and Plan over copies of the tiny Fetch world: ``fetchpush-wm-dit`` (its reward head and a
    stored planner section; its name maps it to worldfm/FetchPush-v0), ``fetchpush-wm-ar`` (no
    reward head) and ``robot`` (a name no simulator matches)."""
    root = tmp_path_factory.mktemp("plan")
    ckpts = root / "checkpoints"
    # The world's config names its tokenizer as ../tok.
    shutil.copytree(fetch_world.parent / "tok", ckpts / "tok")
    shutil.copytree(fetch_world, ckpts / "fetchpush-wm-dit")
    save_planner_config(ckpts / "fetchpush-wm-dit", STORED)
    shutil.copytree(fetch_world, ckpts / "fetchpush-wm-ar", ignore=shutil.ignore_patterns(REWARD_HEAD_DIR))
    shutil.copytree(fetch_world, ckpts / "robot")
    catalog, outputs = Catalog(ckpts), Outputs(root / "out")
    play = PlayTab(catalog, outputs, max_frames=16)
    yield play, PlanPanel(catalog, outputs, play.sims)
    play.sims.close()


def played(play: PlayTab, checkpoint: str, steps: int = 2):
    """An episode started in the simulator with ``steps`` actions played."""
    *_, episode = play.reset_sim(checkpoint, 3)
    for t in range(steps):
        *_, episode = play._step(episode, np.array([0.6, -0.4 * t, 0, 0], np.float32), 1, None)
    return episode


def test_plan_controls_start_at_the_checkpoints_stored_planner_settings(panel) -> None:
    _, plan = panel
    horizon, population, iterations = plan.controls("fetchpush-wm-dit")
    assert (horizon["value"], population["value"], iterations["value"]) == (3, 10, 1)
    # A population below the stored elites would be refused by PlannerConfig: the slider stops there.
    assert population["minimum"] == STORED.elites
    defaults = PlannerConfig()
    horizon, population, iterations = plan.controls("fetchpush-wm-ar")
    assert (horizon["value"], population["value"], iterations["value"]) == (
        defaults.horizon,
        defaults.population,
        defaults.iterations,
    )


def test_replay_brings_a_new_simulator_to_the_episodes_true_state(panel) -> None:
    play, _ = panel
    episode = played(play, "fetchpush-wm-dit")
    world = play.catalog.world("fetchpush-wm-dit")
    sim, _ = play.sims.run(replay, *simulator_spec(world), episode)
    try:
        np.testing.assert_array_equal(play.sims.run(sim.render), episode.true[-1])
    finally:
        play.sims.run(sim.close)


@pytest.mark.parametrize("use_prior", [True, False])
def test_plan_returns_imagined_and_simulated_videos_of_the_plan_and_a_summary(panel, use_prior) -> None:
    play, plan = panel
    episode = played(play, "fetchpush-wm-dit")
    frames, actions = len(episode.frames), [a.copy() for a in episode.actions]
    imagined, simulated, summary = plan.plan(episode, 2, 6, 1, use_prior)
    imagined, _ = read_video(imagined)
    simulated, _ = read_video(simulated)
    # The start frame, then every step of 2 decisions each held for the stored action_repeat of 2.
    length = 1 + 2 * STORED.action_repeat
    assert imagined.shape == simulated.shape == (length, *enlarge(episode.frames[-1]).shape)
    # Each video starts where its world stands: the model's last frame, the simulator's true one
    # (up to H.264, which the tiny model's noisy frames take down to about 30 dB).
    model_frame, true_frame = enlarge(episode.frames[-1]), enlarge(episode.true[-1])
    assert video_psnr(imagined[0], model_frame) > 25 > video_psnr(imagined[0], true_frame)
    assert video_psnr(simulated[0], true_frame) > 25 > video_psnr(simulated[0], model_frame)
    assert "Planned in" in summary and "| simulator |" in summary and "learned reward head" in summary
    assert ("noisy_expert prior" in summary) == use_prior
    assert "head's value as terminal value" in summary  # the tiny world's head was trained with --value
    # A plan is a preview: the episode goes on from where it was.
    assert len(episode.frames) == frames
    np.testing.assert_array_equal(np.stack(episode.actions), np.stack(actions))


def test_plan_without_a_reward_head_a_simulator_or_an_episode_is_a_clear_error(panel, tmp_path) -> None:
    play, plan = panel
    with pytest.raises(gr.Error, match=r"fetchpush-wm-ar has no reward head.*worldfm train reward"):
        plan.plan(played(play, "fetchpush-wm-ar", steps=0), 2, 8, 1, True)
    image = tmp_path / "start.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(image)
    *_, from_image = play.reset_image("robot", str(image), 0)
    with pytest.raises(gr.Error, match="robot has no matching simulator"):
        plan.plan(from_image, 2, 8, 1, True)
    *_, from_image = play.reset_image("fetchpush-wm-dit", str(image), 0)
    with pytest.raises(gr.Error, match="started from an image"):
        plan.plan(from_image, 2, 8, 1, True)
    with pytest.raises(gr.Error, match="Start an episode first"):
        plan.plan(None, 2, 8, 1, True)
    with pytest.raises(gr.Error, match=r"elites must be in \[1, population=2\]"):
        plan.plan(played(play, "fetchpush-wm-dit", steps=0), 2, 2, 1, True)

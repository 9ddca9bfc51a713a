"""The web app on the shipped checkpoints, as a first-time user meets it (through gradio_client)."""

import logging
import re

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from app.web.app import WebApp
from app.web.catalog import Catalog
from app.web.config import WebConfig
from app.web.media import user_errors
from app.web.play import Episode, PlayTab, default_play_model
from app.web.viewer import free_port
from curation.video_io import read_video
from worldmodel.shipped import SHIPPED_CHECKPOINTS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped-web-out")
    web = WebApp(WebConfig(port=free_port(), checkpoints=SHIPPED_CHECKPOINTS, out=out, rerun_port=0))
    url = web.launch(block=False)
    yield web, Client(url, verbose=False)
    web.close()


def image_array(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def step_psnr(info: str) -> float:
    return float(re.search(r"PSNR model vs simulator \*\*([-\d.]+) dB", info).group(1))


def test_play_simulator_frame_survives_a_driving_generation(app) -> None:
    _, client = app
    client.predict("fetchpush-wm-dit", 0, api_name="/play_reset")
    client.predict(
        "driving-wm-dit", "constant", 0.0, 0.3, 8.0, "driving road, seed 0", None, None, None,
        2, 1, 1.0, 0, api_name="/generate_driving",
    )  # fmt: skip
    # The episode that was live during the drive, then a new one: both see the real simulator.
    _, true, info, _ = client.predict("0.5, 0, 0, 0", 1, api_name="/play_step")
    assert image_array(true).mean() > 50 and step_psnr(info) > 10
    client.predict("fetchpush-wm-dit", 1, api_name="/play_reset")
    _, true, info, _ = client.predict("0, 0.5, 0, 0", 1, api_name="/play_step")
    assert image_array(true).mean() > 50 and step_psnr(info) > 10


def test_play_starts_on_the_action_model_with_the_best_card() -> None:
    catalog = Catalog(SHIPPED_CHECKPOINTS)
    worlds = catalog.worlds(actions=True)
    assert {"fetchpush-wm-dit", "fetchpush-wm-ar"} <= {e.name for e in worlds}
    best = max(worlds, key=lambda e: e.card_psnr)
    assert default_play_model(catalog) == best.name == "fetchpush-wm-dit"
    for entry in worlds:  # the dropdown shows each model's card figure
        assert f"{entry.card_psnr:.1f} dB held-out" in entry.label


def test_changing_the_model_mid_episode_ends_the_episode_and_asks_for_a_reset() -> None:
    tab = PlayTab(Catalog(SHIPPED_CHECKPOINTS), outputs=None, max_frames=8)
    frame = np.zeros((64, 64, 3), np.uint8)
    episode = Episode("fetchpush-wm-dit", np.stack([frame] * 2), [frame], None)
    steps, model, true, info, kept = tab.change_model("fetchpush-wm-ar", episode)
    assert kept is None and model is None and "Reset" in info and "fetchpush-wm-ar" in info
    assert "not used" in steps["label"]  # an autoregressive model has no sampler steps
    steps, *_, kept = tab.change_model("fetchpush-wm-dit", episode)  # the same model: nothing ends
    assert kept is episode and "measured best: 1" in steps["label"] and steps["value"] == 1
    tab.sims.close()


def test_out_of_range_inputs_are_refused_or_reported(app) -> None:
    _, client = app
    with pytest.raises(Exception, match=r"horizon must be a whole number of frames in \[1, 32\], got 500"):
        client.predict(
            "fetch-t2w-dit", "Text2World", "a robot arm", "Fetch push, seed 0", None, 500, 1, 1.0, 0,
            api_name="/generate",
        )  # fmt: skip
    with pytest.raises(Exception, match="the prompt is 112,000 characters; at most 1,000"):
        client.predict(
            "fetch-t2w-dit", "Text2World", "a" * 112_000, "Fetch push, seed 0", None, 2, 1, 1.0, 0,
            api_name="/generate",
        )  # fmt: skip
    client.predict("fetchpush-wm-dit", 0, api_name="/play_reset")
    _, _, info, _ = client.predict("9, 9, 9, 9", 1, api_name="/play_step")
    assert (
        "action (+1.00, +1.00, +1.00, +1.00)" in info
        and "clipped into the model's range from (9, 9, 9, 9)" in info
    )


def test_a_user_error_is_one_log_line_without_a_traceback(caplog) -> None:
    @user_errors
    def handler() -> None:
        raise gr.Error("Upload a video first.")

    @user_errors
    def bad_value() -> None:
        raise ValueError("steer must be in [-1, 1]")

    with caplog.at_level(logging.INFO, logger="app.web.media"):
        for fn in (handler, bad_value):
            with pytest.raises(gr.Error) as err:
                fn()
            assert err.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == [
        "handler: Upload a video first.",
        "bad_value: steer must be in [-1, 1]",
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_page_sends_no_usage_analytics(app) -> None:
    web, _ = app
    assert web.blocks.analytics_enabled is False


def test_plan_on_the_shipped_model_shows_the_plan_imagined_and_simulated(app) -> None:
    _, client = app
    client.predict("fetchpush-wm-dit", 0, api_name="/play_reset")
    client.predict("0.5, 0, 0, 0", 1, api_name="/play_step")
    # The smallest search the shipped planner settings allow (population >= their 8 elites).
    imagined, simulated, summary = client.predict(2, 8, 1, True, api_name="/play_plan")
    imagined, _ = read_video(imagined["video"] if isinstance(imagined, dict) else imagined)
    simulated, _ = read_video(simulated["video"] if isinstance(simulated, dict) else simulated)
    assert imagined.shape == simulated.shape == (3, 256, 256, 3)
    assert imagined.mean() > 50 and simulated.mean() > 50
    assert re.search(r"Planned in [\d.]+ s", summary) and "| simulator | -" in summary
    client.predict("fetchpush-wm-ar", 0, api_name="/play_reset")
    with pytest.raises(Exception, match="fetchpush-wm-ar has no reward head"):
        client.predict(2, 8, 1, True, api_name="/play_plan")

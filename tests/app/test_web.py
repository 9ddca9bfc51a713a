"""The web app through its HTTP API (gradio_client), on tiny models trained here on Fetch renders.

One app is launched for the module; each test calls a tab's endpoint and checks what comes back.
"""

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app.cli import main
from app.web.app import WebApp
from app.web.config import WebConfig
from app.web.viewer import free_port
from curation.shards import read_samples
from curation.video_io import read_video, write_video

RERUN = str(Path(sys.executable).parent / "rerun")
SIZE = 32


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, posttrained) -> Path:
    """A tiny image tokenizer, an action-conditioned Fetch world model, a text world model, and the
    session's camera and driving models (``tests.posttrained``) with their tokenizer."""
    root = tmp_path_factory.mktemp("web")
    shards = root / "fetch"
    # Seed 2 puts episode 6 of 8 in the trainers' held-out split (it needs one).
    args = ["simulate", "fetch", "--episodes", "8", "--frames", "6", "--size", str(SIZE), "--seed", "2"]
    args += ["--out", str(shards)]
    assert main(args) == 0
    ckpts = root / "checkpoints"
    common = ["--data", str(shards), "--size", str(SIZE), "--steps", "2", "--batch-size", "2"]
    common += ["--eval-every", "2", "--save-every", "2", "--log-every", "1", "--warmup", "1"]
    tok = ckpts / "tokenizer-tiny"
    assert main(["train", "tokenizer", "--config", "CI8x8-tiny", "--out", str(tok), *common]) == 0
    wfm = ["--tokenizer", str(tok), "--dit", "DiT-tiny", *common]
    # The folder name maps the model to its simulator, worldfm/FetchPush-v0, as for shipped ones.
    robot = ckpts / "fetchpush-wm-dit"
    assert main(["train", "posttrain", "--task", "robot", "--out", str(robot), *wfm]) == 0
    assert main(["train", "diffusion", "--text", "--out", str(ckpts / "fetch-t2w-dit"), *wfm]) == 0
    # Their configs name the tokenizer as ../tok, so it comes along under its own name.
    shutil.copytree(posttrained["camera"].parent / "tok", ckpts / "tok")
    shutil.copytree(posttrained["camera"], ckpts / "orbit-camera-dit")
    shutil.copytree(posttrained["drive"], ckpts / "driving-wm-dit")
    return ckpts


@pytest.fixture(scope="module")
def app(checkpoints, tmp_path_factory):
    out = tmp_path_factory.mktemp("web-out")
    web = WebApp(
        WebConfig(port=free_port(), checkpoints=checkpoints, out=out, rerun_port=0, max_file_size_mb=1)
    )
    url = web.launch(block=False)
    yield web, url
    web.close()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app[1], verbose=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 12-frame 48x64 mp4 of a moving square."""
    frames = np.full((12, 48, 64, 3), (40, 80, 40), np.uint8)
    for t in range(12):
        frames[t, 10:26, 2 + 3 * t : 18 + 3 * t] = 250
    path = tmp_path_factory.mktemp("clip") / "square clip.mp4"
    write_video(path, frames, fps=8)
    return path


def image_array(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_web_app_lists_every_tab_endpoint(client) -> None:
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for name in ("/play_reset", "/play_step", "/play_save", "/generate", "/tokenize", "/curate", "/inspect"):
        assert name in names
    assert {"/generate_camera", "/generate_driving", "/play_plan"} <= names


def test_web_play_steps_model_beside_simulator_then_inspects_the_rrd(app, client) -> None:
    model, true, info, _ = client.predict("fetchpush-wm-dit", 0, api_name="/play_reset")
    assert image_array(model).shape == image_array(true).shape == (256, 256, 3)
    assert "step 0" in info
    for _ in range(2):
        model, true, info, plot = client.predict("0.5, -0.5, 0, 0", 1, api_name="/play_step")
    assert "step 2" in info and "PSNR" in info
    values = [row[1] for row in plot["data"]]
    assert len(values) == 2 and all(0 < v < 100 for v in values)
    files = client.predict(api_name="/play_save")
    mp4, rrd = sorted((f if isinstance(f, str) else f["path"] for f in files), key=lambda p: Path(p).suffix)
    assert Path(mp4).suffix == ".mp4" and Path(rrd).suffix == ".rrd"
    video, _ = read_video(mp4)
    assert video.shape[0] == 3 and video.shape[1] == 256 and video.shape[2] > 2 * 256  # model | simulator
    subprocess.run([RERUN, "rrd", "verify", rrd], check=True, capture_output=True)
    frame, recording = client.predict(api_name="/inspect")
    assert "<iframe" in frame and Path(recording).suffix == ".rrd"
    src = frame.split('src="')[1].split('"')[0].replace("&amp;", "&")
    page = httpx.get(src, timeout=10)  # Rerun's viewer, our offline copy
    assert page.status_code == 200 and "fonts.googleapis.com" not in page.text
    assert "connect-src 'self' http://127.0.0.1:*" in page.headers["content-security-policy"]
    rrd_url = httpx.URL(src).params["url"]
    response = httpx.get(rrd_url, timeout=10)  # the recording, through Gradio's file route
    assert response.status_code == 200 and response.content == Path(recording).read_bytes()


def test_web_plan_on_a_model_without_a_reward_head_is_a_clear_error(client) -> None:
    client.predict("fetchpush-wm-dit", 0, api_name="/play_reset")
    with pytest.raises(Exception, match="fetchpush-wm-dit has no reward head"):
        client.predict(2, 8, 1, True, api_name="/play_plan")


def test_web_play_from_an_uploaded_image_has_no_true_frame(client, tmp_path) -> None:
    path = tmp_path / "start.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(path)
    model, true, info, _ = client.predict(
        "fetchpush-wm-dit", handle_file(str(path)), 0, api_name="/play_reset_image"
    )
    assert image_array(model).shape == (256, 256, 3) and true is None
    _, true, info, _ = client.predict("1, 0, 0, 0", 1, api_name="/play_step")
    assert true is None and "step 1" in info


def test_web_generate_text2world_video2world_and_guardrails(client) -> None:
    video, summary = client.predict(
        "fetch-t2w-dit", "Text2World", "A Fetch robot arm pushes a black block.", "Fetch push, seed 0", None,
        3, 1, 1.0, 0, api_name="/generate",
    )  # fmt: skip
    frames, _ = read_video(video["video"] if isinstance(video, dict) else video)
    assert frames.shape == (3, 256, 256, 3) and "Text2World" in summary
    _, recording = client.predict(api_name="/inspect")  # the generated video is the last rollout
    subprocess.run([RERUN, "rrd", "verify", recording], check=True, capture_output=True)
    video, summary = client.predict(
        "fetch-t2w-dit", "Video2World", "", "Fetch push, seed 0", None, 2, 1, 1.0, 0, api_name="/generate"
    )
    frames, _ = read_video(video["video"] if isinstance(video, dict) else video)
    assert frames.shape[0] == 2 + 2 and "Video2World" in summary  # context frames, then predictions
    with pytest.raises(Exception, match="guardrail"):
        client.predict(
            "fetch-t2w-dit", "Text2World", "a gory scene", "Fetch push, seed 0", None, 2, 1, 1.0, 0,
            api_name="/generate",
        )  # fmt: skip


def video_frames(video: dict | str) -> np.ndarray:
    return read_video(video["video"] if isinstance(video, dict) else video)[0]


def test_web_catalog_labels_camera_and_driving_models(app) -> None:
    catalog = app[0].catalog
    assert [e.name for e in catalog.worlds(control="camera")] == ["orbit-camera-dit"]
    assert [e.name for e in catalog.worlds(control="driving")] == ["driving-wm-dit"]
    assert "camera path" in catalog.entry("orbit-camera-dit").label
    assert "driving: left | front | right" in catalog.entry("driving-wm-dit").label
    assert "driving-wm-dit" not in [e.name for e in catalog.worlds(actions=True)]  # not in Play


def test_web_camera_path_from_the_orbit_simulator_and_from_an_image(client, tmp_path) -> None:
    video, summary = client.predict(
        "orbit-camera-dit", "orbit_left", 0.5, "orbit scene, seed 0", None, 3, 1, 1.0, 0,
        api_name="/generate_camera",
    )  # fmt: skip
    frames = video_frames(video)
    assert frames.shape[:2] == (1 + 3, 256) and frames.shape[2] > 2 * 256  # model | simulator
    assert "orbit_left" in summary and "PSNR" in summary
    _, recording = client.predict(api_name="/inspect")  # with the camera poses under world/
    subprocess.run([RERUN, "rrd", "verify", recording], check=True, capture_output=True)
    path = tmp_path / "room.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), np.uint8)).save(path)
    video, summary = client.predict(
        "orbit-camera-dit", "dolly_in", 1.0, "uploaded image", handle_file(str(path)), 2, 1, 1.0, 0,
        api_name="/generate_camera",
    )  # fmt: skip
    assert video_frames(video).shape == (1 + 2, 256, 256, 3) and "no simulator" in summary


def test_web_driving_from_the_simulator_and_from_three_uploaded_views(client, tmp_path) -> None:
    video, summary = client.predict(
        "driving-wm-dit", "lane change left", 0.3, 0.5, 8.0, "driving road, seed 0", None, None, None,
        3, 1, 1.0, 0, api_name="/generate_driving",
    )  # fmt: skip
    frames = video_frames(video)
    # Two context frames then three predicted, the left | front | right canvas above the simulator's.
    assert frames.shape[0] == 2 + 3 and frames.shape[1] / frames.shape[2] == pytest.approx((32 + 2 + 32) / 96)
    assert "lane change left" in summary and "below" in summary
    views = []
    for i, view in enumerate(("left", "front", "right")):
        path = tmp_path / f"{view}.png"
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(path)
        views.append(handle_file(str(path)))
    video, summary = client.predict(
        "driving-wm-dit", "constant", -0.2, 1.0, 5.0, "uploaded left / front / right images", *views,
        2, 1, 1.0, 0, api_name="/generate_driving",
    )  # fmt: skip
    assert video_frames(video).shape == (2 + 2, 256, 768, 3) and "5.0 m/s" in summary


def test_web_camera_and_driving_mistakes_are_clear_errors(client, tmp_path) -> None:
    front = tmp_path / "front.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(front)
    args = ("uploaded left / front / right images", handle_file(str(front)), handle_file(str(front)), None)
    with pytest.raises(Exception, match="upload the right view image"):
        client.predict(
            "driving-wm-dit", "constant", 0, 0.5, 5, *args, 2, 1, 1.0, 0, api_name="/generate_driving"
        )
    with pytest.raises(Exception, match="lane change needs a steer amount"):
        client.predict(
            "driving-wm-dit", "lane change right", 0, 0.5, 5, "driving road, seed 0", None, None, None,
            2, 1, 1.0, 0, api_name="/generate_driving",
        )  # fmt: skip
    notes = tmp_path / "notes.txt"
    notes.write_text("text")
    with pytest.raises(Exception, match="file type"):
        client.predict(
            "orbit-camera-dit", "pan_left", 0.5, "uploaded image", handle_file(str(notes)), 2, 1, 1.0, 0,
            api_name="/generate_camera",
        )  # fmt: skip
    with pytest.raises(Exception, match="camera world model: use the camera controls"):
        client.predict(
            "orbit-camera-dit",
            "Video2World",
            "",
            "Fetch push, seed 0",
            None,
            2,
            1,
            1.0,
            0,
            api_name="/generate",
        )
    with pytest.raises(Exception, match="not a camera world model"):
        client.predict(
            "driving-wm-dit", "orbit_left", 0.5, "orbit scene, seed 0", None, 2, 1, 1.0, 0,
            api_name="/generate_camera",
        )  # fmt: skip


def test_web_tokenize_scores_the_reconstruction(client, clip) -> None:
    video, latents, metrics, summary = client.predict(
        "tokenizer-tiny", handle_file(str(clip)), 32, api_name="/tokenize"
    )
    assert metrics["frames"] == 12 and (metrics["height"], metrics["width"]) == (32, 40)
    assert metrics["latent_shape"][1:] == [12, 4, 5] and metrics["tokens"] == 12 * 4 * 5
    assert 0 < metrics["psnr_db"] < 100 and -1 <= metrics["ssim"] <= 1
    frames, _ = read_video(video["video"] if isinstance(video, dict) else video)
    assert frames.shape[0] == 12
    assert image_array(latents).ndim == 3


def test_web_curate_runs_the_pipeline_and_its_shards_read_back(client, clip, tmp_path, ray_address) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:300])
    uploads = [handle_file(str(clip)), handle_file(str(clip)), handle_file(str(broken))]
    filters = ["motion", "quality", "category", "caption", "dedup"]
    # 12 frames at 8 fps, no cut: three 0.5 s clips per upload; the second upload's are duplicates.
    table, summary, archive = client.predict(uploads, filters, "cascade", 0.5, 0.5, 32, api_name="/curate")
    rows = [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
    assert len(rows) == 3 and {r["source"] for r in rows} == {"square clip.mp4"}
    assert all(r["size"] == "42x32" and r["motion"].startswith("pan_left") for r in rows)
    assert all(r["type"] and r["caption"].startswith("A 0.5-second") and r["dedup"] for r in rows)
    assert "3 duplicate" in summary and "Quarantined broken.mp4" in summary
    assert str(tmp_path) not in summary  # names the user's file, not server paths
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    samples = list(read_samples(tmp_path / "shards"))
    assert len(samples) == 3 and samples[0]["frames"].shape == (4, 32, 42, 3)
    assert samples[0]["meta"]["caption"] == rows[0]["caption"]


def test_web_curate_settings_the_pipeline_refuses_are_clear_errors(client, clip) -> None:
    with pytest.raises(Exception, match="Upload one or more videos first"):
        client.predict([], [], "cascade", 2, 10, 64, api_name="/curate")
    with pytest.raises(Exception, match=r"the shortest clip \(5 s\) is longer than the longest \(2 s\)"):
        client.predict([handle_file(str(clip))], [], "cascade", 5, 2, 64, api_name="/curate")


def test_web_bad_uploads_give_errors_and_the_app_keeps_working(client, clip, tmp_path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    with pytest.raises(Exception, match="not a readable video"):
        client.predict("tokenizer-tiny", handle_file(str(fake)), 32, api_name="/tokenize")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(Exception, match="empty|Upload"):
        client.predict("tokenizer-tiny", handle_file(str(empty)), 32, api_name="/tokenize")
    with pytest.raises(Exception, match="Upload a video or image first"):
        client.predict("tokenizer-tiny", None, 32, api_name="/tokenize")
    wrong = tmp_path / "notes.txt"
    wrong.write_text("text")
    with pytest.raises(Exception, match="file type"):
        client.predict("tokenizer-tiny", handle_file(str(wrong)), 32, api_name="/tokenize")
    big = tmp_path / "big.mp4"
    big.write_bytes(io.BytesIO(np.random.default_rng(0).bytes(2 * 2**20)).getvalue())  # over the 1 MB limit
    with pytest.raises(Exception):  # noqa: B017 - refused at upload, before any handler
        client.predict("tokenizer-tiny", handle_file(str(big)), 32, api_name="/tokenize")
    *_, metrics, _ = client.predict("tokenizer-tiny", handle_file(str(clip)), 32, api_name="/tokenize")
    assert metrics["frames"] == 12

"""LeRobot datasets in and out (envs/lerobot.py, `worldfm import lerobot` / `export lerobot`)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.cli import main
from curation.video_io import encode_video
from training.data import ClipDataset

CAMERA = "observation.images.top"
FPS = 10
LENGTHS = (6, 5)
COLOURS = ((220, 30, 30), (30, 30, 220))  # each episode's frames are one colour: which video span it read
TASKS = ("push the red block", "push the blue block")


def episode_frames(episode: int, length: int) -> np.ndarray:
    """(T, 48, 64, 3): a flat colour per episode with a bright square moving right frame by frame."""
    frames = np.zeros((length, 48, 64, 3), np.uint8)
    frames[:] = COLOURS[episode]
    for t in range(length):
        frames[t, 16:32, 8 + 6 * t : 24 + 6 * t] = 255
    return frames


def episode_actions(episode: int, length: int) -> np.ndarray:
    return np.stack([np.array([t, -t, episode], np.float32) / 10 for t in range(length)])


def write_v3_dataset(root: Path) -> None:
    """A LeRobot v3.0 dataset written by hand (pyarrow + PyAV): 2 episodes in one parquet and one
    mp4, the second episode starting LENGTHS[0] frames into the video (its from_timestamp)."""
    rows, episodes, start = [], [], 0
    for e, length in enumerate(LENGTHS):
        for t, action in enumerate(episode_actions(e, length)):
            rows.append(
                {
                    "action": action.tolist(),
                    "observation.state": [float(t), float(e)],
                    "timestamp": t / FPS,
                    "frame_index": t,
                    "episode_index": e,
                    "index": start + t,
                    "task_index": e,
                }
            )
        episodes.append(
            {
                "episode_index": e,
                "tasks": [TASKS[e]],
                "length": length,
                f"videos/{CAMERA}/chunk_index": 0,
                f"videos/{CAMERA}/file_index": 0,
                f"videos/{CAMERA}/from_timestamp": start / FPS,
                f"videos/{CAMERA}/to_timestamp": (start + length) / FPS,
            }
        )
        start += length
    for path, table in (
        ("data/chunk-000/file-000.parquet", pa.Table.from_pylist(rows)),
        ("meta/episodes/chunk-000/file-000.parquet", pa.Table.from_pylist(episodes)),
        (
            "meta/tasks.parquet",
            pa.Table.from_pandas(pd.DataFrame({"task_index": [0, 1]}, index=pd.Index(TASKS, name="task"))),
        ),
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / path)
    video = root / f"videos/{CAMERA}/chunk-000/file-000.mp4"
    video.parent.mkdir(parents=True)
    frames = np.concatenate([episode_frames(e, n) for e, n in enumerate(LENGTHS)])
    video.write_bytes(encode_video(frames, FPS))
    features = {
        "action": {"dtype": "float32", "shape": [3], "names": None},
        "observation.state": {"dtype": "float32", "shape": [2], "names": None},
        CAMERA: {"dtype": "video", "shape": [48, 64, 3], "names": ["height", "width", "channels"]},
        "observation.images.wrist": {"dtype": "video", "shape": [48, 64, 3], "names": None},
    }
    info = {
        "codebase_version": "v3.0",
        "fps": FPS,
        "total_episodes": len(LENGTHS),
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": features,
    }
    (root / "meta" / "info.json").write_text(json.dumps(info))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "my_robot"
    write_v3_dataset(root)
    return root


def import_lerobot(source: Path, out: Path) -> int:
    return main(["import", "lerobot", str(source), "--camera", CAMERA, "--size", "32", "--out", str(out)])


def imported(shards: Path) -> ClipDataset:
    return ClipDataset(shards, frames=2, size=32, arrays=("actions", "state"))


def test_import_lerobot_writes_shards_the_trainers_load_with_aligned_actions_and_tasks(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shards"
    assert import_lerobot(dataset, out) == 0
    clips = imported(out)
    assert len(clips) == 2 and clips.arrays == {"actions": -1, "state": 0}
    for e, clip in enumerate(sorted(clips.clips, key=lambda c: c.key)):
        assert len(clip.frames) == LENGTHS[e] and clip.frames.shape[1:] == (32, 32, 3)
        # The episode's own video span: its colour, not its neighbour's (H.264 is lossy).
        corner = clip.frames[:, 0, 0].astype(float).mean(0)
        assert np.abs(corner - COLOURS[e]).max() < 25
        # Row t drives frame t -> t+1: the last LeRobot action (taken at the last frame) is dropped.
        np.testing.assert_allclose(clip.arrays["actions"], episode_actions(e, LENGTHS[e])[:-1])
        assert clip.arrays["state"].shape == (LENGTHS[e], 2)
        assert clip.caption == TASKS[e] and clip.meta["fps"] == FPS
        np.testing.assert_allclose(clip.meta["action_space"]["low"], [0.0, -0.5, 0.0])
        np.testing.assert_allclose(clip.meta["action_space"]["high"], [0.5, 0.0, 0.1])


def test_import_lerobot_names_the_cameras_when_the_camera_is_not_found(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "lerobot", str(dataset), "--camera", "front", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no camera 'front'" in err
    assert f"['{CAMERA}', 'observation.images.wrist']" in err


def test_import_lerobot_says_a_folder_without_info_json_is_no_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    assert main(["import", "lerobot", str(tmp_path), "--camera", CAMERA, "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "meta/info.json is missing" in err


def test_export_then_import_lerobot_gives_back_the_episodes(dataset: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert import_lerobot(dataset, first) == 0
    exported = tmp_path / "exported"
    assert main(["export", "lerobot", str(first), "--out", str(exported), "--camera", CAMERA]) == 0
    info = json.loads((exported / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_frames"] == sum(LENGTHS)
    again = tmp_path / "again"
    assert import_lerobot(exported, again) == 0
    before, after = (
        sorted(imported(p).clips, key=lambda c: c.meta["lerobot"]["episode_index"]) for p in (first, again)
    )
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a.arrays["actions"], b.arrays["actions"])
        np.testing.assert_array_equal(a.arrays["state"], b.arrays["state"])
        assert a.caption == b.caption and len(a.frames) == len(b.frames)
        assert np.abs(a.frames.astype(float) - b.frames.astype(float)).mean() < 6  # H.264 twice


def test_world_model_info_takes_the_imported_action_box_and_fps(dataset: Path, tmp_path: Path) -> None:
    from training.train_wfm import declared_action_space, recorded_env

    assert import_lerobot(dataset, tmp_path / "shards") == 0
    clips = ClipDataset(tmp_path / "shards", frames=2, size=32, arrays=("actions",))
    box = declared_action_space(clips)
    np.testing.assert_allclose(box.low, [0.0, -0.5, 0.0])
    np.testing.assert_allclose(box.high, [0.5, 0.0, 0.1])
    assert recorded_env(clips) == {"fps": FPS}


@pytest.mark.slow  # 30 s: tokenizer + post-training; the info it writes is checked fast above
def test_posttrain_robot_trains_on_an_imported_lerobot_dataset(dataset: Path, tmp_path: Path) -> None:
    from tests.tiny_worlds import train_tiny_robot_world
    from worldmodel import hub

    shards = tmp_path / "shards"
    assert import_lerobot(dataset, shards) == 0
    robot = train_tiny_robot_world(tmp_path, shards, steps=2)
    info = hub.read_info(robot)
    assert info.task == "robot" and info.fps == FPS
    np.testing.assert_allclose(info.action_space.low, [0.0, -0.5, 0.0])
    np.testing.assert_allclose(info.action_space.high, [0.5, 0.0, 0.1])

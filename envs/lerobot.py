"""LeRobot datasets in and out: a robot team's recorded episodes as worldfm shards, and back.

Read and written with pyarrow and PyAV only (no ``lerobot`` package and its torch pin). The layout
is LeRobotDataset v3.0 (``codebase_version`` "v3.0"); v2.0 / v2.1 (one parquet and one mp4 per
episode, ``meta/*.jsonl``) are read too:

- ``meta/info.json``: ``fps``, ``features`` (cameras are the ``"video"`` features, e.g.
  ``observation.images.top``), ``data_path`` and ``video_path`` templates, ``chunks_size``.
- ``data/chunk-XXX/file-XXX.parquet``: one row per frame: ``action``, ``observation.state``,
  ``timestamp``, ``frame_index``, ``episode_index``, ``index``, ``task_index`` (and optionally
  ``next.reward``, ``next.done``).
- ``meta/tasks.parquet``: the task strings (the index, or a ``task`` column) and ``task_index``.
- ``meta/episodes/chunk-XXX/file-XXX.parquet``: one row per episode: ``length``, ``tasks`` and,
  per camera, ``videos/<camera>/chunk_index``, ``file_index``, ``from_timestamp``,
  ``to_timestamp``: where in ``videos/<camera>/chunk-XXX/file-XXX.mp4`` (several episodes a file)
  its frames are.

A LeRobot row holds the observation at frame t and the action taken there, so ``actions.npy``
(row t drives frame t to t+1, ARCHITECTURE.md's clip contract) is the episode's ``action`` column
without its last row; export writes that last row as a copy of the one before.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.shards import read_samples
from curation.video_io import VideoError, encode_video, iter_frames
from envs.sim.episode import Episode
from envs.sim.gym_env import square_frame
from worldmodel.atomic import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
READABLE_VERSIONS = ("v2.0", "v2.1", "v3.0")
DEFAULT_CAMERA = "observation.images.main"
V3_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
V3_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
FRAMES_PER_VIDEO_FILE = 10_000
"""export: episodes are packed into one mp4 per camera until it holds this many frames"""


class LeRobotFormatError(ValueError):
    """The folder is not a LeRobot dataset this reader understands, or lacks what was asked for;
    the message names the file or field and the fix."""


# --- reading ----------------------------------------------------------------------------------


def read_info(root: Path) -> dict[str, Any]:
    """``meta/info.json``, checked for a version this reader knows."""
    path = root / "meta" / "info.json"
    if not path.is_file():
        raise LeRobotFormatError(
            f"{root} is not a LeRobot dataset: {path} is missing (a LeRobot dataset folder holds "
            "meta/info.json, data/ and videos/)"
        )
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise LeRobotFormatError(f"{path} is not valid JSON: {e}") from None
    version = str(info.get("codebase_version", ""))
    if version not in READABLE_VERSIONS:
        raise LeRobotFormatError(
            f"{path}: codebase_version {version!r} is not one this reader knows {list(READABLE_VERSIONS)}"
        )
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise LeRobotFormatError(f"{path} lacks {key!r}")
    return info


def cameras(info: dict[str, Any]) -> list[str]:
    """The dataset's cameras: its features of dtype ``"video"``."""
    return sorted(k for k, f in info["features"].items() if f.get("dtype") == "video")


def check_camera(root: str | Path, camera: str) -> dict[str, Any]:
    """``read_info(root)``, after checking that ``camera`` is one of its cameras (the error lists them)."""
    info = read_info(Path(root))
    found = cameras(info)
    if camera not in found:
        raise LeRobotFormatError(
            f"{root} has no camera {camera!r}; its cameras are {found or 'none (no video features)'}: "
            "pass --camera one of those"
        )
    return info


def _read_parquets(paths: Iterable[Path]) -> pd.DataFrame:
    frames = [pq.read_table(p).to_pandas() for p in sorted(paths)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _tasks(root: Path) -> dict[int, str]:
    """task_index -> task text, from ``meta/tasks.parquet`` (v3) or ``meta/tasks.jsonl`` (v2)."""
    parquet, jsonl = root / "meta" / "tasks.parquet", root / "meta" / "tasks.jsonl"
    if parquet.is_file():
        table = pd.read_parquet(parquet)
        texts = table["task"] if "task" in table.columns else table.index.to_series()
        return {int(i): str(t) for i, t in zip(table["task_index"], texts, strict=True)}
    if jsonl.is_file():
        rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        return {int(r["task_index"]): str(r["task"]) for r in rows}
    return {}


def _episodes_table(root: Path, info: dict[str, Any]) -> pd.DataFrame:
    """One row per episode: ``episode_index``, ``length``, ``tasks`` and the video columns."""
    if info["codebase_version"] == "v3.0":
        table = _read_parquets((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if table.empty:
            raise LeRobotFormatError(f"{root}/meta/episodes/ holds no chunk-*/file-*.parquet")
        return table
    jsonl = root / "meta" / "episodes.jsonl"
    if not jsonl.is_file():
        raise LeRobotFormatError(
            f"{jsonl} is missing (a {info['codebase_version']} dataset lists its episodes)"
        )
    return pd.DataFrame([json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()])


def _video_span(root: Path, info: dict[str, Any], row: pd.Series, camera: str) -> tuple[Path, int]:
    """The mp4 holding ``row``'s episode and the index of its first frame there."""
    if info["codebase_version"] == "v3.0":
        prefix = f"videos/{camera}/"
        template = info.get("video_path") or V3_VIDEO_PATH
        path = template.format(
            video_key=camera,
            chunk_index=int(row[prefix + "chunk_index"]),
            file_index=int(row[prefix + "file_index"]),
        )
        return root / path, round(float(row[prefix + "from_timestamp"]) * float(info["fps"]))
    episode = int(row["episode_index"])
    path = info["video_path"].format(
        video_key=camera, episode_chunk=episode // int(info.get("chunks_size", 1000)), episode_index=episode
    )
    return root / path, 0


def _column(frames: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in frames.columns:
        return None
    return np.stack([np.atleast_1d(np.asarray(v, np.float32)) for v in frames[name]])


def read_lerobot(root: str | Path, camera: str, *, size: int = 64) -> Iterator[Episode]:
    """The episodes of the LeRobot dataset in ``root`` as seen by ``camera``, frames ``size`` square.

    Frames are centre-cropped to a square and resized (``envs.sim.gym_env.square_frame``).

    Yields:
        ``Episode`` with ``source="lerobot"``, ``frames["main"]`` uint8 (T, size, size, 3),
        ``arrays``: ``actions`` (T-1, A) float32, ``state`` (T, D) (``observation.state``, if
        any), ``rewards`` (T-1,) and ``terminated`` (T-1,) (``next.reward`` / ``next.done``, if
        any); ``meta``: ``caption`` and ``task`` (the episode's task text), ``action_space`` (the
        per-dimension min and max of the whole dataset's actions, so every clip declares the same
        box), ``robot_type`` and ``lerobot`` (dataset, episode index, camera, version).

    Raises:
        LeRobotFormatError: no ``meta/info.json``, an unknown version, ``camera`` not one of the
            dataset's cameras (the message lists them), or missing columns.
    """
    root = Path(root)
    info = check_camera(root, camera)
    data = _read_parquets((root / "data").glob("**/*.parquet"))
    for column in ("action", "episode_index", "frame_index"):
        if column not in data.columns:
            raise LeRobotFormatError(
                f"{root}/data/*.parquet has no {column!r} column (columns: {list(data)})"
            )
    actions = _column(data, "action")
    bounds = {"low": actions.min(0).tolist(), "high": actions.max(0).tolist()}
    tasks = _tasks(root)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", root.resolve().name)
    by_episode = {int(e): rows.sort_values("frame_index") for e, rows in data.groupby("episode_index")}
    # Each mp4 is decoded once, front to back, whatever number of episodes it holds.
    spans: dict[Path, list[tuple[int, int, pd.Series]]] = defaultdict(list)
    for _, row in _episodes_table(root, info).iterrows():
        episode = int(row["episode_index"])
        if episode not in by_episode:
            logger.warning("%s: episode %d is listed in meta/ but has no rows in data/", root, episode)
            continue
        path, start = _video_span(root, info, row, camera)
        spans[path].append((start, episode, row))
    for path, episodes in spans.items():
        if not path.is_file():
            raise LeRobotFormatError(f"{path} is missing: the episodes table places camera {camera!r} there")
        episodes.sort(key=lambda e: e[0])
        wanted = {ep: (start, start + len(by_episode[ep])) for start, ep, _ in episodes}
        decoded: dict[int, list[np.ndarray]] = {ep: [] for ep in wanted}
        end = max(stop for _, stop in wanted.values())
        try:
            for index, frame in enumerate(iter_frames(path, end_frame=end)):
                for ep, (start, stop) in wanted.items():
                    if start <= index < stop:
                        decoded[ep].append(square_frame(frame, size))
        except VideoError as e:
            raise LeRobotFormatError(f"{path} does not decode: {e.reason}") from None
        for _, ep, row in episodes:
            yield _episode(by_episode[ep], decoded[ep], row, info, tasks, bounds, name, camera)


def _episode(
    rows: pd.DataFrame,
    frames: list[np.ndarray],
    meta_row: pd.Series,
    info: dict[str, Any],
    tasks: dict[int, str],
    bounds: dict[str, list[float]],
    name: str,
    camera: str,
) -> Episode:
    episode = int(rows["episode_index"].iloc[0])
    length = min(len(rows), len(frames))
    if length < len(rows):
        logger.warning(
            "episode %d: %d frames in its video, %d rows; keeping %d", episode, len(frames), len(rows), length
        )
    if length < 2:
        raise LeRobotFormatError(f"episode {episode} has {length} decodable frame(s); a clip needs 2 or more")
    rows = rows.iloc[:length]
    arrays = {"actions": _column(rows, "action")[:-1]}
    for column, array, per_step in (
        ("observation.state", "state", False),
        ("next.reward", "rewards", True),
        ("next.done", "terminated", True),
    ):
        values = _column(rows, column)
        if values is not None:
            values = values[:-1] if per_step else values
            arrays[array] = values[:, 0] if per_step and values.shape[1] == 1 else values
    if "terminated" in arrays:
        arrays["terminated"] = arrays["terminated"].astype(bool)
    task = ""
    if "task_index" in rows.columns:
        task = tasks.get(int(rows["task_index"].iloc[0]), "")
    if not task and "tasks" in meta_row and meta_row["tasks"] is not None:
        task = "; ".join(str(t) for t in meta_row["tasks"])
    return Episode(
        source="lerobot",
        episode_id=f"lerobot-{name}-e{episode:06d}",
        fps=float(info["fps"]),
        frames={"main": np.stack(frames[:length])},
        arrays=arrays,
        meta={
            "task": task,
            "caption": task,
            "action_space": bounds,
            "robot_type": info.get("robot_type"),
            "lerobot": {
                "dataset": name,
                "episode_index": episode,
                "camera": camera,
                "codebase_version": info["codebase_version"],
            },
        },
    )


# --- writing ----------------------------------------------------------------------------------


def _feature(values: np.ndarray, dtype: str, names: list[str] | None = None) -> dict[str, Any]:
    shape = list(values.shape[1:]) or [1]
    return {"dtype": dtype, "shape": shape, "names": names}


def _stats(values: np.ndarray) -> dict[str, list[float]]:
    values = values.reshape(len(values), -1).astype(np.float64)
    return {
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
        "mean": values.mean(0).tolist(),
        "std": values.std(0).tolist(),
        "count": [len(values)],
    }


def write_lerobot(
    shards: str | Path | list[str | Path],
    out: str | Path,
    *,
    camera: str = DEFAULT_CAMERA,
    robot_type: str | None = None,
) -> dict[str, Any]:
    """Write the clips of ``shards`` that have ``actions.npy`` as a LeRobot v3.0 dataset in ``out``.

    Every clip is one episode: its frames the ``camera`` video, its ``actions`` the ``action``
    column (the last frame repeats the last action: LeRobot has an action on every row), its
    ``state.npy`` (if any) ``observation.state``, its ``rewards.npy`` ``next.reward`` (0 on the last
    row), its caption (or task) the episode's task. All clips must share one frame size and fps.
    Returns the ``info.json`` written.
    """
    out = Path(out)
    if (out / "meta" / "info.json").exists():
        raise LeRobotFormatError(f"{out} already holds a LeRobot dataset; pass an empty --out folder")
    samples = sorted((s for s in read_samples(shards) if "actions" in s), key=lambda s: s["key"])
    if not samples:
        raise LeRobotFormatError(f"no clip in {shards} has actions.npy; export writes robot episodes")
    first = samples[0]
    fps = float(first["meta"]["fps"])
    height, width = first["frames"].shape[1:3]
    has_state = all("state" in s for s in samples)
    has_rewards = all("rewards" in s for s in samples)
    tasks: dict[str, int] = {}
    rows: dict[str, list] = defaultdict(list)
    episodes: dict[str, list] = defaultdict(list)
    video_frames: list[np.ndarray] = []
    file_index, file_start = 0, 0

    def flush_video() -> None:
        nonlocal file_index, file_start, video_frames
        if video_frames:
            path = out / V3_VIDEO_PATH.format(video_key=camera, chunk_index=0, file_index=file_index)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, encode_video(np.concatenate(video_frames), fps))
            file_index, file_start, video_frames = file_index + 1, 0, []

    index = 0
    for episode, sample in enumerate(samples):
        frames, meta = sample["frames"][: int(sample["meta"]["num_frames"])], sample["meta"]
        if frames.shape[1:3] != (height, width) or float(meta["fps"]) != fps:
            raise LeRobotFormatError(
                f"clip {sample['key']!r} is {frames.shape[2]}x{frames.shape[1]} at {meta['fps']} fps, "
                f"others {width}x{height} at {fps} fps: one LeRobot dataset has one size and fps"
            )
        t = len(frames)
        actions = np.asarray(sample["actions"], np.float32)[: t - 1]
        action = np.concatenate([actions, actions[-1:]])  # (T, A)
        task = meta.get("caption") or meta.get("task") or ""
        task_index = tasks.setdefault(task, len(tasks))
        if file_start and file_start + t > FRAMES_PER_VIDEO_FILE:
            flush_video()
        episodes["episode_index"].append(episode)
        episodes["tasks"].append([task])
        episodes["length"].append(t)
        episodes["data/chunk_index"].append(0)
        episodes["data/file_index"].append(0)
        episodes["dataset_from_index"].append(index)
        episodes["dataset_to_index"].append(index + t)
        episodes[f"videos/{camera}/chunk_index"].append(0)
        episodes[f"videos/{camera}/file_index"].append(file_index)
        episodes[f"videos/{camera}/from_timestamp"].append(file_start / fps)
        episodes[f"videos/{camera}/to_timestamp"].append((file_start + t) / fps)
        episodes["meta/episodes/chunk_index"].append(0)
        episodes["meta/episodes/file_index"].append(0)
        video_frames.append(frames)
        file_start += t
        rows["action"].extend(action)
        if has_state:
            rows["observation.state"].extend(np.asarray(sample["state"], np.float32)[:t])
        if has_rewards:
            rewards = np.asarray(sample["rewards"], np.float32).reshape(-1)[: t - 1]
            rows["next.reward"].extend(np.append(rewards, 0.0).astype(np.float32))
        rows["next.done"].extend([False] * (t - 1) + [True])
        rows["timestamp"].extend((np.arange(t) / fps).astype(np.float32))
        rows["frame_index"].extend(range(t))
        rows["episode_index"].extend([episode] * t)
        rows["index"].extend(range(index, index + t))
        rows["task_index"].extend([task_index] * t)
        index += t
    flush_video()

    arrays = {name: np.asarray(values) for name, values in rows.items()}
    columns = {
        name: pa.array(list(values)) if values.ndim > 1 else pa.array(values)
        for name, values in arrays.items()
    }
    _write_parquet(out / V3_DATA_PATH.format(chunk_index=0, file_index=0), pa.table(columns))
    _write_parquet(out / EPISODES_PATH, pa.table(dict(episodes)))
    task_table = pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task"))
    _write_parquet(out / "meta" / "tasks.parquet", pa.Table.from_pandas(task_table))
    features = {
        "action": _feature(arrays["action"], "float32"),
        **({"observation.state": _feature(arrays["observation.state"], "float32")} if has_state else {}),
        **({"next.reward": _feature(arrays["next.reward"], "float32")} if has_rewards else {}),
        "next.done": _feature(arrays["next.done"], "bool"),
        camera: {
            "dtype": "video",
            "shape": [int(height), int(width), 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": int(height),
                "video.width": int(width),
                "video.codec": "h264",
                "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False,
                "video.fps": fps,
                "video.channels": 3,
                "has_audio": False,
            },
        },
        **{
            name: _feature(arrays[name], "float32" if name == "timestamp" else "int64")
            for name in ("timestamp", "frame_index", "episode_index", "index", "task_index")
        },
    }
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(samples),
        "total_frames": index,
        "total_tasks": len(tasks),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": fps,
        "splits": {"train": f"0:{len(samples)}"},
        "data_path": V3_DATA_PATH,
        "video_path": V3_VIDEO_PATH,
        "features": features,
    }
    stats = {"action": _stats(arrays["action"])}
    if has_state:
        stats["observation.state"] = _stats(arrays["observation.state"])
    atomic_write_text(out / "meta" / "stats.json", json.dumps(stats, indent=2))
    # info.json last: a folder with it is a complete dataset.
    atomic_write_text(out / "meta" / "info.json", json.dumps(info, indent=4))
    return info


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())

"""The curation stages: small functions of one row, run by Ray Data (``curation.pipeline``).

Two kinds of row flow through the pipeline, both flat dicts of strings and numbers
(nested values are json strings, so every block has one Arrow schema):

- an **input row** per video, from ``probe`` up to ``transcode``: ``path``,
  ``source_id``, ``ok`` / ``kind`` / ``reason`` (a rejected input keeps flowing, as a
  record, so the driver can quarantine it), ``info`` (timed by the frames, not the header),
  ``times`` (each frame's time, only for a variable frame rate), ``notes`` (where the header
  and the frames disagree, for the clip json), ``transitions``, ``clips``, ``stats``;
- after ``transcode``, **clip rows** (``CLIP_ROW``): one per clip, plus one record per
  input (``clip_index == -1``) carrying the input's outcome and ``num_clips``. A
  clip stage (filters, captions, dedup) maps a clip row to a clip row and drops a
  clip by setting ``dropped`` to its reason, so the driver can tell when an input
  is complete and count drops by reason. ``clip_stage`` makes a function of one clip
  row such a stage; the clip's embedding (``embed``) travels in ``embedding`` (a json
  list) for the driver's global dedup step.

Each stage adds its seconds and counters to the row's ``stats``; the manifest sums them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from curation.captions import ClipInfo, make_captioner
from curation.classifiers import ClipClassifier
from curation.embeddings import ClipEmbedder, make_embedder
from curation.frame_sampling import sample_frames
from curation.motion import MotionConfig, video_motion
from curation.quality import LearnedQuality, QualityConfig, load_learned_quality, video_quality
from curation.quarantine import (
    IMPLAUSIBLE_TIMING,
    InputRejectedError,
    check_resolution,
    check_timestamps,
    classify,
)
from curation.shots import ClipRules, Transition, plan_clips, shots_between
from curation.splitters import SPLIT_SIZE, decode_for_splitting, make_splitter
from curation.timing import ImplausibleTimingError, check_claims
from curation.transcode import TranscodeConfig, encode_clips, output_size, transcode_clips
from curation.video_io import VideoError, VideoInfo, iter_frames_at_sizes, probe
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

STAGE_ERROR = "stage_error"


class Splitter(Protocol):
    """What the split stage asks of a shot splitter (``curation.splitters``)."""

    def detect(self, frames: np.ndarray, fps: float) -> list[Transition]: ...


CLIP_ROW = {
    "source_id": "",
    "path": "",
    "clip_index": -1,
    "num_clips": 0,
    "key": "",
    "mp4": "",
    "meta": "{}",
    "dropped": "",
    "ok": True,
    "kind": "",
    "reason": "",
    "stats": "{}",
    "transitions": "[]",
    "embedding": "[]",
}


def input_row(path: str, source_id: str) -> dict:
    """The row a video enters the pipeline as."""
    return {
        "path": path,
        "source_id": source_id,
        "ok": True,
        "kind": "",
        "reason": "",
        "info": "{}",
        "times": "[]",
        "notes": "[]",
        "transitions": "[]",
        "clips": "[]",
        "stats": "{}",
    }


def add_stats(row: dict, stage: str, seconds: float, **counters: float) -> None:
    stats = json.loads(row["stats"])
    entry = stats.setdefault(stage, {})
    entry["seconds"] = entry.get("seconds", 0.0) + seconds
    for name, value in counters.items():
        entry[name] = entry.get(name, 0) + value
    row["stats"] = json.dumps(stats)


def _reject(row: dict, stage: str, kind: str, reason: str) -> dict:
    row.update(ok=False, kind=kind, reason=reason)
    add_stats(row, stage, 0.0, rejected=1)
    return row


def input_stage(name: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Make ``fn(row, **kw) -> row`` a stage: skip rejected rows, time it, turn failures into rejections.

    Any exception rejects only this input: a ``VideoError`` with its kind, anything
    else as ``stage_error`` with the exception, so one bad file cannot stop a run.
    """

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        @functools.wraps(fn)
        def stage(row: dict, *args: object, **kwargs: object) -> dict:
            if not row["ok"]:
                return row
            start = time.perf_counter()
            try:
                row = fn(row, *args, **kwargs)
            except InputRejectedError as e:
                return _reject(row, name, e.kind, e.reason)
            except VideoError as e:
                rejected = classify(e)
                return _reject(row, name, rejected.kind, rejected.reason)
            except Exception as e:  # noqa: BLE001 - quarantine, never crash the run
                detail = "".join(traceback.format_exception_only(e)).strip()
                return _reject(row, name, STAGE_ERROR, f"{name} stage failed: {detail}")
            add_stats(row, name, time.perf_counter() - start, inputs=1)
            return row

        return stage

    return wrap


@input_stage("probe")
def probe_stage(row: dict, *, max_input_height: int, max_input_width: int) -> dict:
    """Read the header, check the resolution cap and the timestamps; time the video by its frames.

    The header's rate and duration are claims (``curation.timing``): the info passed on
    has the frames' count, mean rate and span, a header that disagrees leaves a note for
    the clip json, and one whose frames cannot be video rejects the input.
    """
    info = probe(row["path"])
    check_resolution(info, max_input_height, max_input_width)
    timing = check_timestamps(row["path"])
    try:
        note = check_claims(info.duration_s, timing)
    except ImplausibleTimingError as e:
        raise InputRejectedError(row["path"], IMPLAUSIBLE_TIMING, str(e)) from None
    info = dataclasses.replace(
        info, fps=timing.fps, num_frames=timing.num_frames, duration_s=timing.duration_s
    )
    row["info"] = json.dumps(info.__dict__)
    row["times"] = json.dumps([round(t, 6) for t in timing.times] if timing.variable else [])
    row["notes"] = json.dumps([note] if note else [])
    add_stats(row, "probe", 0.0, video_seconds=info.duration_s, variable_frame_rate=int(timing.variable))
    return row


class SplitStage:
    """Shot splitting as a Ray actor: the detector (and its network) is built once per actor.

    The pipeline's path where the splitter has a GPU; on CPUs ``split_transcode_stage``
    splits each video in the task that transcodes it, from the same decode.
    """

    def __init__(self, splitter: str) -> None:
        self.splitter = make_splitter(splitter)
        # One stage function per actor, so timing and rejection work as for the others.
        self._stage = input_stage("split")(_split)

    def __call__(self, row: dict) -> dict:
        return self._stage(row, self.splitter)


def _split(
    row: dict,
    splitter: Splitter,
    *,
    transcode: TranscodeConfig | None = None,
    keep_bytes: int = 0,
    kept: list[tuple[float, np.ndarray]] | None = None,
) -> dict:
    """The split stage's work; with ``kept``, the same decode also appends each frame at the
    clips' size (``transcode``'s) with its time to ``kept`` while they fit in ``keep_bytes``."""
    info = VideoInfo(**json.loads(row["info"]))
    clip_size = output_size(info.height, info.width, transcode) if transcode is not None else (0, 0)
    frame_bytes = clip_size[0] * clip_size[1] * 3
    if kept is not None and frame_bytes and info.num_frames * frame_bytes <= keep_bytes:
        small = []
        for seconds, (frame, clip_frame) in iter_frames_at_sizes(row["path"], (SPLIT_SIZE, clip_size)):
            small.append(frame)
            # A header that undercounts its frames cannot make the kept frames outgrow the budget:
            # past it, they are dropped and the transcode decodes the video again.
            if len(small) * frame_bytes <= keep_bytes:
                kept.append((seconds, clip_frame))
            elif kept:
                kept.clear()
        frames = np.stack(small)
    else:
        frames = decode_for_splitting(row["path"])
    # The container counted its frames; far fewer decoding means the file was cut short.
    if info.num_frames > 0 and len(frames) < info.num_frames - 1 and len(frames) < 0.98 * info.num_frames:
        raise InputRejectedError(
            row["path"],
            "truncated",
            f"truncated: the container lists {info.num_frames} frames but only {len(frames)} decode",
        )
    transitions = splitter.detect(frames, info.fps)
    row["info"] = json.dumps({**info.__dict__, "num_frames": len(frames)})
    row["transitions"] = json.dumps([[t.start, t.end, t.kind] for t in transitions])
    add_stats(row, "split", 0.0, frames=len(frames), transitions=len(transitions))
    return row


_split_stage = input_stage("split")(_split)


@functools.lru_cache(maxsize=2)
def _splitter(name: str) -> Splitter:
    # Ray reuses worker processes, so each worker builds its splitter (and network) once.
    return make_splitter(name)


def split_transcode_stage(
    row: dict, *, splitter: str, rules: ClipRules, config: TranscodeConfig, staging: str, keep_bytes: int
) -> list[dict]:
    """``split``, ``plan`` and ``transcode`` of one video in one task, from one decode.

    The splitter's decode keeps the frames at the clips' size for the transcode when
    they fit in ``keep_bytes``; a video whose frames do not is decoded a second time.
    The clips are those of the three stages run one after the other.
    """
    kept: list[tuple[float, np.ndarray]] = []
    row = _split_stage(row, _splitter(splitter), transcode=config, keep_bytes=keep_bytes, kept=kept)
    row = plan_stage(row, rules=rules)
    return transcode_stage(row, config=config, staging=staging, splitter=splitter, frames=kept or None)


@input_stage("plan")
def plan_stage(row: dict, *, rules: ClipRules) -> dict:
    """Shots between the transitions, then the clip rules (drop short shots, cut long ones)."""
    info = VideoInfo(**json.loads(row["info"]))
    transitions = [Transition(*t) for t in json.loads(row["transitions"])]
    shots = shots_between(transitions, info.num_frames, margin=rules.margin_frames(info.fps))
    times = json.loads(row["times"])
    # A variable frame rate measures shots by their frames' times (frame n's end is frame n + 1's time).
    bounds = None
    if times:
        n = info.num_frames
        last = times[n - 1] - times[n - 2] if n > 1 else 1 / info.fps
        bounds = [*times[:n], times[n] if n < len(times) else times[n - 1] + last]
    clips, too_short = plan_clips(shots, info.fps, rules, bounds=bounds)
    trimmed = info.num_frames - sum(b - a for a, b in shots)
    row["clips"] = json.dumps(clips)
    add_stats(
        row, "plan", 0.0, shots=len(shots), clips=len(clips), too_short=too_short, trimmed_frames=trimmed
    )
    return row


def transcode_stage(
    row: dict,
    *,
    config: TranscodeConfig,
    staging: str,
    splitter: str,
    frames: list[tuple[float, np.ndarray]] | None = None,
) -> list[dict]:
    """Encode the input's clips into ``staging/<source_id>/`` and explode into clip rows.

    Each clip lands as ``<key>.mp4`` then ``<key>.json`` (both atomic), so a clip
    whose json exists is complete. Returns the input's record row and one row per clip.
    ``frames``: every frame of the video at the clips' size with its time, decoded
    already (``split_transcode_stage``); without them the video is decoded here.
    """
    record = {**CLIP_ROW, **{k: row[k] for k in ("source_id", "path", "ok", "kind", "reason", "stats")}}
    record["transitions"] = row["transitions"]
    if not row["ok"]:
        return [record]
    start = time.perf_counter()
    clip_rows: list[dict] = []
    try:
        info = VideoInfo(**json.loads(row["info"]))
        clips = [tuple(c) for c in json.loads(row["clips"])]
        size = output_size(info.height, info.width, config)
        folder = Path(staging) / row["source_id"]
        variable = bool(json.loads(row["times"]))
        notes = json.loads(row["notes"])
        encoded = (
            transcode_clips(row["path"], clips, fps=info.fps, size=size, config=config, variable=variable)
            if frames is None
            else encode_clips(frames, clips, fps=info.fps, size=size, config=config, variable=variable)
        )
        for clip in encoded:
            key = f"{row['source_id']}-{clip.index:04d}"
            first = clips[clip.index][0]
            # Timed by the frames that decoded: at a constant rate frame i is at i / fps exactly
            # (timestamps only round that); a variable rate keeps the frames' own times and gives
            # the clip its own mean rate.
            start_s, end_s = first / info.fps, (first + clip.num_frames) / info.fps
            if variable:
                start_s, end_s = clip.start_s, clip.end_s
            meta = {
                "source": row["path"],
                "start_s": round(start_s, 6),
                "end_s": round(end_s, 6),
                "fps": clip.num_frames / (end_s - start_s) if variable else info.fps,
                "width": size[1],
                "height": size[0],
                "num_frames": clip.num_frames,
                "source_frames": [first, first + clip.num_frames],
                "source_width": info.width,
                "source_height": info.height,
                "splitter": splitter,
                **({"source_rotation": info.rotation} if info.rotation else {}),
                **({"variable_frame_rate": _rate_range(clip.times, clip.end_s)} if variable else {}),
                **({"notes": notes} if notes else {}),
            }
            atomic_write_bytes(folder / f"{key}.mp4", clip.mp4)
            atomic_write_bytes(folder / f"{key}.json", json.dumps(meta, sort_keys=True).encode())
            clip_rows.append(
                {
                    **CLIP_ROW,
                    "source_id": row["source_id"],
                    "path": row["path"],
                    "clip_index": clip.index,
                    "key": key,
                    "mp4": str(folder / f"{key}.mp4"),
                    "meta": json.dumps(meta),
                }
            )
    except VideoError as e:
        rejected = classify(e)
        return [_reject(record, "transcode", rejected.kind, rejected.reason)]
    except Exception as e:  # noqa: BLE001 - quarantine, never crash the run
        detail = "".join(traceback.format_exception_only(e)).strip()
        return [_reject(record, "transcode", STAGE_ERROR, f"transcode stage failed: {detail}")]
    seconds_out = sum(json.loads(r["meta"])["num_frames"] / json.loads(r["meta"])["fps"] for r in clip_rows)
    add_stats(
        record,
        "transcode",
        time.perf_counter() - start,
        inputs=1,
        clips=len(clip_rows),
        clip_seconds=seconds_out,
    )
    record["num_clips"] = len(clip_rows)
    return [record, *clip_rows]


def _rate_range(times: tuple[float, ...], end_s: float) -> dict:
    """The slowest and fastest instantaneous frame rate of a variable-rate clip."""
    gaps = np.diff([*times, end_s])
    return {"min_fps": round(float(1 / gaps.max()), 6), "max_fps": round(float(1 / gaps.min()), 6)}


def clip_stage(name: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Make ``fn(row, **kw) -> row`` a clip stage: pass records and dropped clips through, time it.

    ``fn`` writes its result into the clip's ``meta`` and may set ``dropped`` to a
    reason. An exception drops only this clip, as ``<name>_failed`` (logged), so one
    odd clip cannot stop a run. Counters: ``clips`` seen, ``dropped`` by this stage.
    """

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        @functools.wraps(fn)
        def stage(row: dict, *args: object, **kwargs: object) -> dict:
            if row["clip_index"] < 0 or row["dropped"]:
                return row
            start = time.perf_counter()
            try:
                row = fn(row, *args, **kwargs)
            except Exception as e:  # noqa: BLE001 - drop the clip, never crash the run
                logger.warning("%s stage failed on %s: %s", name, row["key"], e)
                row["dropped"] = f"{name}_failed"
            add_stats(row, name, time.perf_counter() - start, clips=1, dropped=int(bool(row["dropped"])))
            return row

        return stage

    return wrap


def update_meta(row: dict, **values: object) -> None:
    """Add ``values`` to the clip's json (the row's ``meta``, which goes into its shard)."""
    meta = {**json.loads(row["meta"]), **values}
    row["meta"] = json.dumps(meta)


@functools.lru_cache(maxsize=2)
def _embedder(spec: str) -> ClipEmbedder:
    # Ray reuses worker processes, so each worker builds the model once, not once per clip.
    return make_embedder(spec)


@clip_stage("embed")
def embed_stage(row: dict, *, embedder: str) -> dict:
    """The clip's embedding (``curation.embeddings``) into ``embedding``; its model into the json."""
    model = _embedder(embedder)
    frames, _, _ = sample_frames(row["mp4"], model.num_frames)
    vector = model.embed(frames)
    row["embedding"] = json.dumps([round(float(v), 6) for v in vector])
    update_meta(row, embedding={"model": model.name, "dim": len(vector)})
    return row


@clip_stage("motion")
def motion_stage(row: dict, *, config: MotionConfig, min_speed: float) -> dict:
    """Flow statistics and the motion label (``curation.motion``) into ``motion``; drops clips
    whose median flow speed is under ``min_speed`` as ``low_motion``."""
    motion = video_motion(row["mp4"], config)
    update_meta(row, motion=motion)
    if motion["speed"] < min_speed:
        row["dropped"] = "low_motion"
    add_stats(row, "motion", 0.0, **{f"label_{motion['label']}": 1})
    return row


@functools.lru_cache(maxsize=2)
def _learned_quality(path: str) -> LearnedQuality:
    return load_learned_quality(path)


@clip_stage("quality")
def quality_stage(row: dict, *, config: QualityConfig, min_score: float, learned: str = "") -> dict:
    """No-reference quality measures and score (``curation.quality``) into ``quality``; drops
    clips scoring under ``min_score`` as ``low_quality``. ``learned``: optional local weights."""
    quality = video_quality(row["mp4"], config, _learned_quality(learned) if learned else None)
    update_meta(row, quality=quality)
    if quality["score"] < min_score:
        row["dropped"] = "low_quality"
    return row


@functools.lru_cache(maxsize=4)
def _classifier(path: str, task: str) -> ClipClassifier:
    return ClipClassifier(path, task=task)


def _classify(row: dict, checkpoint: str, task: str) -> tuple[ClipClassifier, np.ndarray]:
    """The class probabilities of the clip under ``checkpoint``, from what it reads
    (``ClipClassifier.clip_input``): the clip's embedding (the ``embed`` stage's), its text features."""
    model = _classifier(checkpoint, task)
    embedding = json.loads(row["embedding"])
    if model.reads_embedding:
        if not embedding:
            raise RuntimeError(f"clip {row['key']} reached {task} without an embedding (run the embed stage)")
        made_by = json.loads(row["meta"]).get("embedding", {}).get("model")
        if made_by != model.embedding:
            raise RuntimeError(
                f"{model.name} takes {model.embedding} embeddings, the clip has {made_by} ones"
            )
    return model, model.probabilities(model.clip_input(np.asarray(embedding, np.float32), row["mp4"]))


@clip_stage("text_overlay")
def text_overlay_stage(row: dict, *, checkpoint: str, threshold: float, drop: bool) -> dict:
    """The probability of burned-in text (``curation.classifiers``, on the clip's text features)
    into ``text_overlay``; with ``drop``, clips at or over ``threshold`` are dropped as
    ``text_overlay``."""
    model, p = _classify(row, checkpoint, "text-overlay")
    probability = float(p[model.classes.index("text")])
    text = probability >= threshold
    update_meta(row, text_overlay={"probability": round(probability, 4), "text": text, "model": model.name})
    if text and drop:
        row["dropped"] = "text_overlay"
    add_stats(row, "text_overlay", 0.0, with_text=int(text))
    return row


@clip_stage("category")
def category_stage(row: dict, *, checkpoint: str) -> dict:
    """The video type (manipulation, driving, camera_motion, other) and its probabilities into
    ``category``."""
    model, p = _classify(row, checkpoint, "category")
    label = model.classes[int(np.argmax(p))]
    update_meta(
        row,
        category={
            "label": label,
            "probability": round(float(p.max()), 4),
            "probabilities": {c: round(float(v), 4) for c, v in zip(model.classes, p, strict=True)},
            "model": model.name,
        },
    )
    add_stats(row, "category", 0.0, **{f"label_{label}": 1})
    return row


class CaptionStage:
    """Captions (``curation.captions``) into ``caption``, a batch of clip rows at a time, as a Ray
    actor so a vision-language model loads once per actor.

    Records and dropped clips pass through. A captioner failure drops that batch's clips as
    ``caption_failed`` (logged); the batch's seconds are shared out among its clips.
    """

    def __init__(self, captioner: str, prompt: str, max_new_tokens: int) -> None:
        self.captioner = make_captioner(captioner, prompt=prompt, max_new_tokens=max_new_tokens)

    def __call__(self, batch):  # noqa: ANN001, ANN204 - a pandas DataFrame in and out
        import pandas as pd

        rows = batch.to_dict("records")
        todo = [r for r in rows if r["clip_index"] >= 0 and not r["dropped"]]
        start = time.perf_counter()
        try:
            captions: list[str | None] = list(
                self.captioner.caption([ClipInfo(r["mp4"], json.loads(r["meta"])) for r in todo])
            )
        except Exception as e:  # noqa: BLE001 - drop the clips, never crash the run
            logger.warning("caption stage failed on %d clips: %s", len(todo), e)
            captions = [None] * len(todo)
        seconds = (time.perf_counter() - start) / max(1, len(todo))
        for row, caption in zip(todo, captions, strict=True):
            if caption is None:
                row["dropped"] = "caption_failed"
            else:
                update_meta(row, caption=caption, captioner=self.captioner.name)
            add_stats(row, "caption", seconds, clips=1, dropped=int(caption is None))
        return pd.DataFrame(rows, columns=list(batch.columns))

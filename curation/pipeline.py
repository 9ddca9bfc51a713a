"""``worldfm curate``: raw videos in, bucketed clip shards out, on Ray Data.

The stages (``curation.stages``) stream one video at a time through Ray Data:

    probe -> split -> plan -> transcode (one task per video, one row per clip out)
    -> motion, quality, embed, text_overlay, category (tasks), caption (actor pool, batched)
    (clip stages: json fields, drops)

and the driver collects the rows. Split, plan and transcode share one task and one
decode per video: the splitter reads the frames at 48x27, the clips are encoded from
the same decode's frames at their size (only a splitter with a GPU runs apart, in an
actor pool, and then the transcode decodes the video again).

A video is finished when all its clips (or its rejection) have come back; the driver
then writes a ``done`` record for it into ``<out>/.curate/``. Clips are staged there
too, one mp4 + json per clip. When every input is done, the driver writes the shards
from the staged clips in input order (after ``dedup``, a global step over every clip's
embedding, and re-balancing by category, when selected), ``quarantine.jsonl``, and
``manifest.json`` last.

Resume: a rerun with the same arguments skips every input with a ``done`` record and
redoes the rest, overwriting their staged clips under the same names, so after any
interruption (``kill -9`` included) the shards hold exactly the clips of an
uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from curation.balance import balance_copies, distribution
from curation.captions import DEFAULT_PROMPT, CaptionError, check_captioner_spec
from curation.classifiers import DEFAULT_CHECKPOINTS, TASKS, ClassifierError, check_classifier
from curation.dedup import DedupConfig, semantic_dedup
from curation.embeddings import EmbedderError, check_embedder_spec, embedder_name
from curation.inputs import VIDEO_EXTENSIONS, InputEntry, list_inputs
from curation.local_ray import LocalRayError, connect_ray, init_local_ray
from curation.model_device import DEVICE_ENV, model_device
from curation.motion import MotionConfig
from curation.quality import QualityConfig, check_quality_weights
from curation.quarantine import QUARANTINE, write_quarantine
from curation.sample import ClipSample
from curation.shards import MANIFEST, ShardWriter, load_manifest, owned_shard_file, remove_shard_set
from curation.shots import ClipRules
from curation.splitters import SPLITTERS
from curation.stages import (
    CaptionStage,
    SplitStage,
    category_stage,
    embed_stage,
    input_row,
    motion_stage,
    plan_stage,
    probe_stage,
    quality_stage,
    split_transcode_stage,
    text_overlay_stage,
    transcode_stage,
)
from curation.transcode import TranscodeConfig
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

WORK_DIR = ".curate"
# What became of each entry under the inputs; the manifest counts them (they add up to the entries).
OUTCOMES = ("curated", "dropped", "quarantined", "skipped")
# Optional stages, in pipeline order; probe comes first and sharding last, always.
STAGES = ("split", "transcode", "motion", "quality", "embed", "text_overlay", "category", "caption", "dedup")
REQUIRED_STAGES = ("transcode",)
# What a run does unless told otherwise: the clip filters and dedup are opt-in.
DEFAULT_STAGES = ("split", "transcode")
# Stages that need another one before them.
STAGE_NEEDS = {"dedup": "embed", "text_overlay": "embed", "category": "embed"}


class CurateError(ValueError):
    """The run cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class CurateConfig:
    """Everything that decides which clips a run produces (a resume must match it).

    Attributes:
        stages: optional stages to run, from ``STAGES`` (default ``DEFAULT_STAGES``); without
            ``split`` each video is one shot (still cut to ``max_clip_seconds``).
        splitter: ``cascade`` (cheap scores + TransNetV2 where needed), ``transnetv2``
            (the network on every frame) or ``pyscenedetect``.
        min_clip_seconds / max_clip_seconds: the clip rules.
        crf, preset, max_height, max_width: the transcode settings.
        max_input_height / max_input_width: inputs over this are quarantined.
        max_samples_per_shard: shard size.
        min_motion: ``motion`` drops clips whose median flow speed (half-frames per second)
            is below this; 0 keeps all.
        min_quality: ``quality`` drops clips whose score (0..1) is below this; 0 keeps all.
        quality_weights: optional local quality checkpoint folder (a ``QualityNet`` in safetensors)
            whose score replaces the no-reference one (``curation.quality.load_learned_quality``).
        embedder: the clip embedder of ``embed`` (``curation.embeddings.make_embedder``).
        dedup_threshold / dedup_clusters: ``curation.dedup.DedupConfig``.
        text_overlay_model: the ``text_overlay`` stage's classifier checkpoint (``curation.classifiers``).
        text_threshold: probability of burned-in text from which a clip counts as having text.
        keep_text: label clips with text but keep them (by default ``text_overlay`` drops them).
        category_model: the ``category`` stage's classifier checkpoint.
        balance: target share per category, e.g. ``(("driving", 0.5), ("manipulation", 0.5))``
            (``curation.balance.parse_balance``); empty keeps the clips as they are.
        balance_seed / balance_max_repeats: ``curation.balance.balance_copies``.
        captioner: ``metadata`` or ``vlm:<local model dir>`` (``curation.captions``).
        caption_prompt / caption_batch_size / caption_max_tokens: the ``vlm`` captioner's prompt,
            clips per batch and caption length cap.
    """

    stages: tuple[str, ...] = DEFAULT_STAGES
    splitter: str = "cascade"
    min_clip_seconds: float = 2.0
    max_clip_seconds: float = 60.0
    crf: int = 18
    preset: str = "fast"
    max_height: int = 720
    max_width: int = 1280
    max_input_height: int = 4320
    max_input_width: int = 7680
    max_samples_per_shard: int = 256
    min_motion: float = 0.0
    min_quality: float = 0.0
    quality_weights: str = ""
    embedder: str = "tokenizer"
    dedup_threshold: float = DedupConfig.threshold
    dedup_clusters: int = DedupConfig.clusters
    text_overlay_model: str = str(DEFAULT_CHECKPOINTS["text-overlay"])
    text_threshold: float = 0.5
    keep_text: bool = False
    category_model: str = str(DEFAULT_CHECKPOINTS["category"])
    balance: tuple[tuple[str, float], ...] = ()
    balance_seed: int = 0
    balance_max_repeats: int = 4
    captioner: str = "metadata"
    caption_prompt: str = DEFAULT_PROMPT
    caption_batch_size: int = 8
    caption_max_tokens: int = 40

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise CurateError(f"unknown stage(s) {unknown}; the stages are {', '.join(STAGES)}")
        # Pipeline order whatever the order given, so equal selections resume each other.
        object.__setattr__(self, "stages", tuple(s for s in STAGES if s in self.stages))
        missing = [s for s in REQUIRED_STAGES if s not in self.stages]
        if missing:
            raise CurateError(f"--stages must include {', '.join(missing)}: shards hold encoded clips")
        for stage, needed in STAGE_NEEDS.items():
            if stage in self.stages and needed not in self.stages:
                raise CurateError(f"--stages {stage} needs {needed} too (add {needed} to --stages)")
        if self.min_motion < 0:
            raise CurateError(f"--min-motion must be >= 0, got {self.min_motion}")
        if not 0 <= self.min_quality <= 1:
            raise CurateError(f"--min-quality must be in [0, 1], got {self.min_quality}")
        if self.quality_weights:
            try:
                check_quality_weights(self.quality_weights)
            except ValueError as e:
                raise CurateError(f"--quality-weights: {e}") from None
        if "embed" in self.stages:
            try:
                check_embedder_spec(self.embedder)
            except EmbedderError as e:
                raise CurateError(f"--embedder: {e}") from None
        self._check_classifiers_and_captions()
        if self.splitter not in SPLITTERS:
            raise CurateError(f"unknown splitter {self.splitter!r}; choose one of {', '.join(SPLITTERS)}")
        if self.max_input_height < 16 or self.max_input_width < 16:
            raise CurateError("the input resolution cap must be at least 16x16")
        try:
            self.rules()
            self.transcode()
            self.dedup()
        except ValueError as e:
            raise CurateError(str(e)) from None

    def _check_classifiers_and_captions(self) -> None:
        for stage, task, option, path in (
            ("text_overlay", "text-overlay", "--text-overlay-model", self.text_overlay_model),
            ("category", "category", "--category-model", self.category_model),
        ):
            if stage in self.stages:
                try:
                    check_classifier(path, task=task, embedding=embedder_name(self.embedder))
                except ClassifierError as e:
                    raise CurateError(f"{option}: {e}") from None
        if not 0.0 < self.text_threshold <= 1.0:
            raise CurateError(f"--text-threshold must be in (0, 1], got {self.text_threshold}")
        if self.balance:
            if "category" not in self.stages:
                raise CurateError("--balance needs the category stage (add category to --stages)")
            unknown = [c for c, _ in self.balance if c not in TASKS["category"]]
            if unknown or any(share < 0 for _, share in self.balance):
                raise CurateError(
                    f"--balance: shares must be >= 0 for categories among {', '.join(TASKS['category'])}"
                )
            if self.balance_max_repeats < 1:
                raise CurateError(f"--balance-max-repeats must be >= 1, got {self.balance_max_repeats}")
        if "caption" in self.stages:
            try:
                check_captioner_spec(self.captioner)
            except CaptionError as e:
                raise CurateError(f"--captioner: {e}") from None
            if self.caption_batch_size < 1 or self.caption_max_tokens < 1:
                raise CurateError("--caption-batch-size and --caption-max-tokens must be >= 1")

    def rules(self) -> ClipRules:
        return ClipRules(self.min_clip_seconds, self.max_clip_seconds)

    def transcode(self) -> TranscodeConfig:
        return TranscodeConfig(self.crf, self.preset, self.max_height, self.max_width)

    def dedup(self) -> DedupConfig:
        return DedupConfig(threshold=self.dedup_threshold, clusters=self.dedup_clusters)


@dataclass(frozen=True)
class Resources:
    """How the run uses the Ray cluster (does not change the clips, so a resume may differ).

    Attributes:
        split_actors: shot-splitter actors (one model each) when the splitter runs on a GPU;
            on CPUs every curation task splits the videos it transcodes.
        shared_frames_mib: on CPUs, a video whose frames at the clips' size fit in this many
            MiB is decoded once for both the splitter and the clips (held in the task's
            memory meanwhile); a larger one is decoded a second time for the clips.
        fail_fast: stop at the first input that cannot be curated.
    """

    split_actors: int = 1
    shared_frames_mib: int = 256
    fail_fast: bool = False

    def __post_init__(self) -> None:
        if self.split_actors < 1:
            raise CurateError(f"--split-actors must be >= 1, got {self.split_actors}")
        if self.shared_frames_mib < 0:
            raise CurateError(
                f"--shared-frames-mib must be >= 0 (0 decodes each video twice), got {self.shared_frames_mib}"
            )


@dataclass
class CurateResult:
    """What a run did: the manifest, and whether it found the run already complete."""

    manifest: dict
    out_dir: Path
    already_complete: bool = False
    resumed_inputs: int = 0
    quarantined: list[dict] = field(default_factory=list)


def find_inputs(
    spec: str, *, out_dir: str | os.PathLike | None = None, follow_symlinks: bool = False
) -> tuple[list[Path], Path]:
    """The videos named by ``spec`` (a folder, searched recursively, a glob or a file) and their root.

    Videos are told by content (``curation.inputs``); the entries that are not are skipped
    (``find_entries`` has them with their reasons)."""
    entries, root = find_entries(spec, out_dir=out_dir, follow_symlinks=follow_symlinks)
    return [e.path for e in entries if not e.skipped], root


def find_entries(
    spec: str, *, out_dir: str | os.PathLike | None = None, follow_symlinks: bool = False
) -> tuple[list[InputEntry], Path]:
    """Every entry named by ``spec`` (``curation.inputs.list_inputs``); an error if none is a video."""
    exclude = Path(out_dir) if out_dir is not None else None
    entries, root = list_inputs(spec, exclude=exclude, follow_symlinks=follow_symlinks)
    if not any(not e.skipped for e in entries):
        found = f"; found {len(entries)} entries, none a video, e.g. {entries[0].name}: {entries[0].skipped}"
        raise CurateError(
            f"no videos in {spec!r}{found if entries else ''}: pass a folder of videos "
            f"({', '.join(VIDEO_EXTENSIONS[:4])} ...), a glob such as 'raw/**/*.mp4' (quoted) or a video file"
        )
    return entries, root


def source_id(path: Path, root: Path) -> str:
    """A key-safe id, unique per input: the sanitised relative path plus a short hash of it."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", rel.rsplit(".", 1)[0]).strip("_")[:48] or "video"
    return f"{stem}_{hashlib.sha1(rel.encode()).hexdigest()[:8]}"


def _fingerprint(config: CurateConfig, sources: Sequence[tuple[str, str]]) -> dict:
    listing = "\n".join(f"{sid}\t{path}" for path, sid in sources)
    fingerprint = {
        "config": asdict(config),
        "inputs": len(sources),
        "inputs_sha1": hashlib.sha1(listing.encode()).hexdigest(),
    }
    # As json stores it (tuples become lists), so a stored fingerprint compares equal.
    return json.loads(json.dumps(fingerprint))


def _differences(a: dict, b: dict) -> list[str]:
    keys = sorted(set(a["config"]) | set(b["config"]))
    diffs = [k for k in keys if a["config"].get(k) != b["config"].get(k)]
    if a["inputs_sha1"] != b["inputs_sha1"]:
        diffs.append(f"the input videos ({a['inputs']} then, {b['inputs']} now)")
    return diffs


def _sum_into(total: dict, stats: dict) -> None:
    for stage, counters in stats.items():
        entry = total.setdefault(stage, {})
        for name, value in counters.items():
            entry[name] = round(entry.get(name, 0) + value, 6)


def _remove_run(out: Path) -> None:
    """What a previous run wrote into ``out``: its listed shards (``remove_shard_set``: only
    those proven inside ``out``), its work folder and its quarantine list."""
    if (out / MANIFEST).exists():
        remove_shard_set(out)
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    (out / QUARANTINE).unlink(missing_ok=True)


def _remove_stale_shards(out: Path) -> None:
    """Shards of an interrupted shard-writing step; rewritten from the staged clips. A bucket
    folder that is a link out of ``out`` is not followed (``owned_shard_file``)."""
    for pattern in ("*/shard-*.tar", "*/shard-*.tar.tmp"):
        for path in out.glob(pattern):
            if owned_shard_file(out, path.relative_to(out).as_posix()) is not None:
                path.unlink()


def _build_dataset(todo: list[dict], config: CurateConfig, resources: Resources, staging: Path):  # noqa: ANN202
    import ray.data

    ctx = ray.data.DataContext.get_current()
    # The CLI shows one progress bar over videos; Ray Data's own bars and notices would interleave.
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    # One block per video: videos, not rows of a table, are the unit of parallel work.
    ds = ray.data.from_items(todo, override_num_blocks=max(1, len(todo)))
    gpus = model_stage_gpus(ray.cluster_resources())
    ds = ds.map(
        probe_stage,
        fn_kwargs={"max_input_height": config.max_input_height, "max_input_width": config.max_input_width},
    )
    # A splitter on the CPUs runs in the task that transcodes the video, from the same decode;
    # one with a GPU keeps it in actors (``split_actors``), the clips' tasks decoding again.
    # PySceneDetect is a histogram rule; the other splitters run TransNetV2.
    splitter_gpus = 0 if config.splitter == "pyscenedetect" else gpus
    if "split" in config.stages and not splitter_gpus:
        ds = ds.flat_map(
            split_transcode_stage,
            fn_kwargs={
                "splitter": config.splitter,
                "rules": config.rules(),
                "config": config.transcode(),
                "staging": str(staging),
                "keep_bytes": resources.shared_frames_mib << 20,
            },
        )
    else:
        if "split" in config.stages:
            ds = ds.map(
                SplitStage,
                fn_constructor_kwargs={"splitter": config.splitter},
                compute=ray.data.ActorPoolStrategy(size=resources.split_actors),
                num_cpus=1,
                num_gpus=splitter_gpus,
            )
        ds = ds.map(plan_stage, fn_kwargs={"rules": config.rules()})
        ds = ds.flat_map(
            transcode_stage,
            fn_kwargs={
                "config": config.transcode(),
                "staging": str(staging),
                "splitter": _splitter_name(config),
            },
        )
    if "motion" in config.stages:
        ds = ds.map(motion_stage, fn_kwargs={"config": MotionConfig(), "min_speed": config.min_motion})
    if "quality" in config.stages:
        ds = ds.map(
            quality_stage,
            fn_kwargs={
                "config": QualityConfig(),
                "min_score": config.min_quality,
                "learned": config.quality_weights,
            },
        )
    if "embed" in config.stages:
        ds = ds.map(embed_stage, fn_kwargs={"embedder": config.embedder}, num_gpus=gpus)
    if "text_overlay" in config.stages:
        ds = ds.map(
            text_overlay_stage,
            fn_kwargs={
                "checkpoint": config.text_overlay_model,
                "threshold": config.text_threshold,
                "drop": not config.keep_text,
            },
        )
    if "category" in config.stages:
        ds = ds.map(category_stage, fn_kwargs={"checkpoint": config.category_model})
    if "caption" in config.stages:
        ds = ds.map_batches(
            CaptionStage,
            fn_constructor_kwargs={
                "captioner": config.captioner,
                "prompt": config.caption_prompt,
                "max_new_tokens": config.caption_max_tokens,
            },
            batch_size=config.caption_batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=1,
            # Metadata captions need no GPU; a vision-language model gets one when there is one.
            num_gpus=0 if config.captioner == "metadata" else gpus,
        )
    return ds


def _splitter_name(config: CurateConfig) -> str:
    return config.splitter if "split" in config.stages else "none"


def model_stage_gpus(cluster: dict[str, float]) -> int:
    """GPUs one task of a model stage (TransNetV2, embeddings, VLM captions) asks for, given
    ``ray.cluster_resources()``: one when the cluster has a GPU, else none (Ray would wait forever)."""
    return 1 if cluster.get("GPU", 0) >= 1 else 0


def _ensure_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local Ray on 127.0.0.1 only (``curation.local_ray``);
    returns whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address is None:
        try:
            init_local_ray(num_cpus)
        except LocalRayError as e:
            raise CurateError(str(e)) from None
        return True
    connect_ray(address)
    return True


def curate(
    inputs: str,
    out_dir: str | os.PathLike,
    config: CurateConfig = CurateConfig(),
    *,
    resources: Resources = Resources(),
    overwrite: bool = False,
    follow_symlinks: bool = False,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    progress: Callable[[dict], None] | None = None,
) -> CurateResult:
    """Curate the videos in ``inputs`` into shards in ``out_dir`` (module docstring).

    Args:
        inputs: a folder (searched recursively), a glob or one video.
        overwrite: discard a previous run in ``out_dir`` (finished or not) first.
        follow_symlinks: curate inputs that are links out of the input folder too (by default
            they are skipped and listed in the manifest's outcomes: ``curation.inputs``).
        ray_address: join this Ray cluster; None uses the running Ray or starts a local one.
        num_cpus: CPUs of a local Ray (default: all).
        progress: called with each input's done record as it finishes.

    Raises:
        CurateError: bad arguments, an unfinished run with other arguments in ``out_dir``,
            or (with ``resources.fail_fast``) the first input that had to be quarantined.
    """
    start = time.perf_counter()
    if ray_address is None and os.environ.get(DEVICE_ENV):
        # Here, not in every model task: a bad value would otherwise drop every clip as failed.
        try:
            model_device()
        except ValueError as e:
            raise CurateError(str(e)) from None
    out = Path(out_dir)
    # An output folder inside the input folder holds staged clips: they are not inputs.
    entries, root = find_entries(inputs, out_dir=out, follow_symlinks=follow_symlinks)
    sources = [(str(e.path), source_id(e.path, root)) for e in entries if not e.skipped]
    ids = [sid for _, sid in sources]
    if len(set(ids)) != len(ids):
        raise CurateError("two inputs map to the same source id; rename one of them")
    fingerprint = _fingerprint(config, sources)
    work = out / WORK_DIR
    if work.is_symlink():
        # Staged clips are written and the folder deleted at the end: never somewhere else.
        raise CurateError(f"{work} is a link; remove it (curate keeps its work files inside --out)")
    if overwrite:
        _remove_run(out)
    if (out / MANIFEST).exists():
        manifest = load_manifest(out)
        previous = manifest.get("stats", {}).get("run")
        if previous is None or _differences(previous, fingerprint):
            why = (
                ", ".join(_differences(previous, fingerprint)) if previous else "it was not written by curate"
            )
            raise CurateError(
                f"{out} already holds a finished shard set made differently ({why}); "
                "pass --overwrite to replace it or choose another --out"
            )
        return CurateResult(manifest, out, already_complete=True)
    run_file = work / "run.json"
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        diffs = _differences(previous, fingerprint)
        if diffs:
            raise CurateError(
                f"{out} holds an unfinished run made with other arguments (differs in: {', '.join(diffs)}); "
                "rerun with the same arguments to resume it, or pass --overwrite to start over"
            )
    atomic_write_bytes(run_file, json.dumps(fingerprint, indent=1).encode())
    done_dir, staging = work / "done", work / "clips"
    done_dir.mkdir(parents=True, exist_ok=True)
    done = {sid for _, sid in sources if (done_dir / f"{sid}.json").exists()}
    todo = [input_row(path, sid) for path, sid in sources if sid not in done]
    logger.info("%d inputs, %d already done, %d to curate", len(sources), len(done), len(todo))
    if progress is not None:
        for sid in sorted(done):
            progress(json.loads((done_dir / f"{sid}.json").read_text()))
    if todo:
        started = _ensure_ray(ray_address, num_cpus)
        try:
            _collect(
                _build_dataset(todo, config, resources, staging), done_dir, resources.fail_fast, progress
            )
        finally:
            if started:
                import ray

                ray.shutdown()
    manifest, quarantined = _write_shards(
        out, sources, entries, config, fingerprint, time.perf_counter() - start
    )
    shutil.rmtree(work, ignore_errors=True)
    return CurateResult(manifest, out, resumed_inputs=len(done), quarantined=quarantined)


def _collect(dataset, done_dir: Path, fail_fast: bool, progress: Callable[[dict], None] | None) -> None:  # noqa: ANN001
    """Gather clip rows per input; write each input's done record once all its rows are in."""
    pending: dict[str, dict] = {}
    for row in dataset.iter_rows():
        entry = pending.setdefault(row["source_id"], {"record": None, "clips": {}})
        if row["clip_index"] < 0:
            entry["record"] = row
        else:
            entry["clips"][row["clip_index"]] = row
        record = entry["record"]
        if record is None or len(entry["clips"]) < record["num_clips"]:
            continue
        del pending[row["source_id"]]
        clips = [entry["clips"][i] for i in sorted(entry["clips"])]
        stats = json.loads(record["stats"])
        for clip in clips:
            _sum_into(stats, json.loads(clip["stats"]))
        result = {
            "source_id": record["source_id"],
            "path": record["path"],
            "ok": bool(record["ok"]),
            "kind": record["kind"],
            "reason": record["reason"],
            "transitions": json.loads(record["transitions"]),
            "stats": stats,
            "clips": [
                {
                    "key": c["key"],
                    "mp4": c["mp4"],
                    "meta": json.loads(c["meta"]),
                    "dropped": c["dropped"],
                    "embedding": json.loads(c["embedding"]),
                }
                for c in clips
            ],
        }
        atomic_write_bytes(done_dir / f"{record['source_id']}.json", json.dumps(result).encode())
        if progress is not None:
            progress(result)
        if fail_fast and not result["ok"]:
            raise CurateError(
                f"{result['path']}: {result['reason']} ({result['kind']}); stopped by --fail-fast. "
                "Rerun without --fail-fast to quarantine it and go on (finished inputs are kept)"
            )
    if pending:
        raise RuntimeError(
            f"the pipeline ended with {len(pending)} input(s) incomplete, e.g. {next(iter(pending))}"
        )


def _write_shards(
    out: Path,
    sources: Sequence[tuple[str, str]],
    entries: Sequence[InputEntry],
    config: CurateConfig,
    fingerprint: dict,
    seconds: float,
) -> tuple[dict, list[dict]]:
    """Shards from the staged clips in input order, then quarantine.jsonl, then the manifest
    (with every entry's outcome, ``_outcomes``)."""
    _remove_stale_shards(out)
    done_dir = out / WORK_DIR / "done"

    def records() -> Iterator[dict]:
        # Read again for each pass, so only one input's record is in memory at a time.
        for _, sid in sources:
            yield json.loads((done_dir / f"{sid}.json").read_text())

    decisions, dedup = _dedup(records(), config.dedup()) if "dedup" in config.stages else ({}, None)
    copies, categories = _balance(records(), decisions, config) if "category" in config.stages else ({}, None)
    stages: dict = {}
    dropped: dict[str, int] = {}
    quarantined: list[dict] = []
    num_clips = 0
    num_copies = 0
    writer = ShardWriter(out, max_samples_per_shard=config.max_samples_per_shard)
    names = {str(e.path): e.name for e in entries}
    outcomes = [{"entry": e.name, "outcome": "skipped", "reason": e.skipped} for e in entries if e.skipped]
    with writer:
        for record in records():
            _sum_into(stages, record["stats"])
            if not record["ok"]:
                quarantined.append(record)
                outcomes.append(
                    {
                        "entry": names[record["path"]],
                        "outcome": "quarantined",
                        "kind": record["kind"],
                        "reason": record["reason"],
                    }
                )
                continue
            kept = num_clips
            for clip in record["clips"]:
                if clip["key"] in decisions:
                    clip["meta"]["dedup"], removed = decisions[clip["key"]]
                    clip["dropped"] = "duplicate" if removed else clip["dropped"]
                if not clip["dropped"] and copies.get(clip["key"], 1) == 0:
                    clip["dropped"] = "rebalanced"
                if clip["dropped"]:
                    dropped[clip["dropped"]] = dropped.get(clip["dropped"], 0) + 1
                    continue
                arrays = {"embedding": np.array(clip["embedding"], np.float32)} if clip["embedding"] else {}
                video = Path(clip["mp4"]).read_bytes()
                writer.write(ClipSample(clip["key"], video, clip["meta"], arrays=arrays))
                num_clips += 1
                # Up-sampled by re-balancing: the same clip again, under its own key.
                for j in range(1, copies.get(clip["key"], 1)):
                    meta = {**clip["meta"], "balance": {"copy_of": clip["key"], "copy": j}}
                    writer.write(ClipSample(f"{clip['key']}_copy{j}", video, meta, arrays=arrays))
                    num_clips += 1
                    num_copies += 1
            outcomes.append(_outcome(names[record["path"]], record, num_clips - kept, config))
        if dedup:
            stages["dedup"] = dedup.pop("stage")
        too_short = int(stages.get("plan", {}).get("too_short", 0))
        if too_short:
            dropped["too_short"] = dropped.get("too_short", 0) + too_short
        kinds: dict[str, int] = {}
        for record in quarantined:
            kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
        write_quarantine(out, quarantined)
        counts = {k: sum(o["outcome"] == k for o in outcomes) for k in OUTCOMES}
        stats = {
            "run": fingerprint,
            "entries": {"found": len(entries), **counts},
            "outcomes": sorted(outcomes, key=lambda o: o["entry"]),
            "inputs": len(sources),
            "inputs_curated": len(sources) - len(quarantined),
            "clips": num_clips,
            **({"balance_copies": num_copies} if categories and categories.get("target") else {}),
            "quarantined": dict(sorted(kinds.items())),
            "dropped": dict(sorted(dropped.items())),
            "trimmed_transition_frames": int(stages.get("plan", {}).get("trimmed_frames", 0)),
            "video_seconds": round(stages.get("probe", {}).get("video_seconds", 0.0), 3),
            "clip_seconds": round(stages.get("transcode", {}).get("clip_seconds", 0.0), 3),
            "stages": stages,
            **({"dedup": dedup} if dedup else {}),
            **({"categories": categories} if categories else {}),
            "wall_seconds_last_run": round(seconds, 3),
        }
        manifest = writer.close(stats)
    return manifest, quarantined


def _outcome(name: str, record: dict, kept: int, config: CurateConfig) -> dict:
    """A curated input's manifest entry: its clips in the shards, or why it has none."""
    if kept:
        return {"entry": name, "outcome": "curated", "clips": kept}
    plan = record["stats"].get("plan", {})
    why = []
    if plan.get("too_short"):
        why.append(
            f"{int(plan['too_short'])} of {int(plan.get('shots', 0))} shot(s) under the minimum "
            f"length ({config.min_clip_seconds:g} s)"
        )
    drops: dict[str, int] = {}
    for clip in record["clips"]:
        drops[clip["dropped"]] = drops.get(clip["dropped"], 0) + 1
    if drops:
        reasons = ", ".join(f"{k} {v}" for k, v in drops.items())
        why.append(f"{len(record['clips'])} clip(s) dropped ({reasons})")
    reason = "no clip kept: " + ("; ".join(why) or "no frame of a planned clip decoded")
    return {"entry": name, "outcome": "dropped", "clips": 0, "reason": reason}


def _balance(
    records: Iterable[dict], decisions: dict[str, tuple[dict, bool]], config: CurateConfig
) -> tuple[dict[str, int], dict]:
    """Copies per kept clip from re-balancing by category (``curation.balance``; all 1 without
    ``config.balance``), and the manifest's ``categories`` entry: the distribution before and after."""
    keys: list[str] = []
    labels: list[str] = []
    for record in records:
        for clip in record["clips"] if record["ok"] else []:
            if clip["dropped"] or decisions.get(clip["key"], (None, False))[1]:
                continue
            keys.append(clip["key"])
            labels.append(clip["meta"]["category"]["label"])
    target = dict(config.balance)
    if target:
        copies = balance_copies(
            labels, target, seed=config.balance_seed, max_repeats=config.balance_max_repeats
        )
    else:
        copies = np.ones(len(keys), dtype=np.int64)
    before, after = distribution(labels), distribution(labels, copies)
    summary: dict = {"before": before, "after": after}
    if target:
        total_before, total_after = max(1, sum(before.values())), max(1, sum(after.values()))
        summary.update(
            target=target,
            seed=config.balance_seed,
            share_before={c: round(v / total_before, 4) for c, v in before.items()},
            share_after={c: round(v / total_after, 4) for c, v in after.items()},
            dropped=int((copies == 0).sum()),
            copies_added=int(np.maximum(copies - 1, 0).sum()),
        )
    return dict(zip(keys, copies.tolist(), strict=True)), summary


def _dedup(records: Iterable[dict], config: DedupConfig) -> tuple[dict[str, tuple[dict, bool]], dict]:
    """Semantic dedup over every kept clip of ``records`` (streamed: only the embeddings are held).

    Returns, per clip key, its json ``dedup`` entry and whether it is removed as a duplicate,
    and the manifest's ``dedup`` entry (its ``stage`` item holds the stage counters).
    """
    start = time.perf_counter()
    keys: list[str] = []
    vectors: list[np.ndarray] = []
    pixels: list[int] = []
    seconds: list[float] = []
    for record in records:
        for clip in record["clips"] if record["ok"] else []:
            if clip["dropped"]:
                continue
            if not clip["embedding"]:
                raise RuntimeError(f"clip {clip['key']} reached dedup without an embedding")
            keys.append(clip["key"])
            vectors.append(np.asarray(clip["embedding"], np.float32))
            pixels.append(clip["meta"]["width"] * clip["meta"]["height"])
            seconds.append(clip["meta"]["num_frames"] / clip["meta"]["fps"])
    dim = len(vectors[0]) if vectors else 1
    result = semantic_dedup(
        np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
        pixels=np.array(pixels, dtype=np.float64),
        seconds=np.array(seconds, dtype=np.float64),
        config=config,
    )
    decisions = {}
    for i, key in enumerate(keys):
        original = int(result.duplicate_of[i])
        entry = {
            "cluster": int(result.cluster[i]),
            "duplicate_of": keys[original] if original >= 0 else None,
            "similarity": round(float(result.similarity[i]), 6),
        }
        decisions[key] = (entry, not bool(result.keep[i]))
    summary = {
        "clips": len(keys),
        "removed": result.removed,
        "share_removed": round(result.removed / len(keys), 6) if keys else 0.0,
        "clusters": len(np.unique(result.cluster)),
        "threshold": config.threshold,
        "stage": {
            "seconds": round(time.perf_counter() - start, 6),
            "clips": len(keys),
            "dropped": result.removed,
        },
    }
    return decisions, summary

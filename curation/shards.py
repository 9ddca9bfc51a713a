"""Bucketed WebDataset shards with a manifest: the writer and the reader.

Layout (ARCHITECTURE.md): ``<out>/<H>x<W>_<duration-bin>/shard-%06d.tar`` plus
``<out>/manifest.json`` listing every shard, its sample count and the run's stage
statistics. A shard is written as ``.tar.tmp`` and renamed when complete; the
manifest is written last, atomically, so a reader never sees half a run.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import webdataset as wds

from curation.sample import ClipSample, SampleError, decode_sample, encode_sample
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "worldfm-shards"
MANIFEST_VERSION = 1
# Upper edges (seconds) of the duration bins; clips of similar length batch together.
DURATION_BINS = (2.0, 5.0, 10.0, 30.0, 60.0)
# A shard's path inside its output folder, as ``ShardWriter`` names it: ``<bucket>/shard-%06d.tar``.
SHARD_PATH = re.compile(r"[A-Za-z0-9_.+-]+/shard-[0-9]{6}\.tar(\.tmp)?")


class ShardError(ValueError):
    """Shards or their manifest are missing or unreadable; the message says which and what to do."""


def duration_bin(seconds: float, bins: Sequence[float] = DURATION_BINS) -> str:
    """The name of the duration bin holding ``seconds``, e.g. ``"2-5s"`` or ``"60s+"``."""
    lower = 0.0
    for upper in bins:
        if seconds < upper:
            return f"{lower:g}-{upper:g}s"
        lower = upper
    return f"{lower:g}s+"


def bucket_name(height: int, width: int, seconds: float, bins: Sequence[float] = DURATION_BINS) -> str:
    return f"{height}x{width}_{duration_bin(seconds, bins)}"


@dataclass
class _OpenShard:
    path: Path
    tmp_path: Path
    file: object
    writer: wds.TarWriter
    num_samples: int = 0


@dataclass
class ShardWriter:
    """Write clip samples into bucketed shards and finish with a manifest.

    Use as a context manager; ``close`` (or leaving the ``with``) finalises every
    open shard and writes ``manifest.json``. An exception inside the ``with``
    leaves only completed shards and no manifest, so the run is clearly unfinished.

    Args:
        out_dir: the output folder.
        max_samples_per_shard / max_shard_bytes: a shard is closed at whichever comes first.
        overwrite: replace an existing run in ``out_dir`` (its shards and manifest) instead
            of refusing to touch it.
        duration_bins: upper edges in seconds of the duration buckets.
    """

    out_dir: Path
    max_samples_per_shard: int = 256
    max_shard_bytes: int = 512 * 2**20
    overwrite: bool = False
    duration_bins: Sequence[float] = DURATION_BINS
    _open: dict[str, _OpenShard] = field(default_factory=dict, init=False)
    _done: list[dict] = field(default_factory=list, init=False)
    _next_index: dict[str, int] = field(default_factory=dict, init=False)
    _keys: set[str] = field(default_factory=set, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.max_samples_per_shard < 1:
            raise ValueError(f"max_samples_per_shard must be >= 1, got {self.max_samples_per_shard}")
        manifest = self.out_dir / MANIFEST
        if manifest.exists():
            if not self.overwrite:
                raise ShardError(
                    f"{self.out_dir} already holds a shard set ({MANIFEST} exists); "
                    "pick another output folder or pass overwrite=True (--overwrite) to replace it"
                )
            remove_shard_set(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
        elif not self._closed:
            self.close()

    def write(self, sample: ClipSample) -> str:
        """Add one sample; returns the bucket it went to."""
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        if sample.key in self._keys:
            raise SampleError(f"sample {sample.key!r}: key written twice; keys must be unique in a run")
        encoded = encode_sample(sample)
        bucket = bucket_name(
            int(sample.meta["height"]), int(sample.meta["width"]), sample.duration_s, self.duration_bins
        )
        shard = self._open.get(bucket) or self._start_shard(bucket)
        shard.writer.write(encoded)
        shard.num_samples += 1
        self._keys.add(sample.key)
        size = shard.file.tell()
        if shard.num_samples >= self.max_samples_per_shard or size >= self.max_shard_bytes:
            self._finish_shard(bucket)
        return bucket

    def _start_shard(self, bucket: str) -> _OpenShard:
        index = self._next_index.get(bucket, 0)
        self._next_index[bucket] = index + 1
        path = self.out_dir / bucket / f"shard-{index:06d}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = path.with_name(path.name + ".tmp")
        file = open(tmp_path, "wb")  # noqa: SIM115 - closed in _finish_shard
        shard = _OpenShard(path, tmp_path, file, wds.TarWriter(file, encoder=False))
        self._open[bucket] = shard
        return shard

    def _finish_shard(self, bucket: str) -> None:
        shard = self._open.pop(bucket)
        shard.writer.close()
        shard.file.flush()
        os.fsync(shard.file.fileno())
        shard.file.close()
        os.replace(shard.tmp_path, shard.path)
        self._done.append(
            {
                "path": shard.path.relative_to(self.out_dir).as_posix(),
                "bucket": bucket,
                "num_samples": shard.num_samples,
                "bytes": shard.path.stat().st_size,
            }
        )

    def _abort(self) -> None:
        for shard in self._open.values():
            shard.writer.close()
            shard.file.close()
            shard.tmp_path.unlink(missing_ok=True)
        self._open.clear()
        self._closed = True

    def close(self, stats: dict | None = None) -> dict:
        """Finalise all shards, write the manifest atomically and return it.

        Args:
            stats: the run's stage statistics (counts, timings, success rates ...),
                stored under ``"stats"`` in the manifest.
        """
        if self._closed:
            raise RuntimeError("ShardWriter is already closed")
        for bucket in list(self._open):
            self._finish_shard(bucket)
        shards = sorted(self._done, key=lambda s: s["path"])
        buckets: dict[str, dict] = {}
        for s in shards:
            b = buckets.setdefault(s["bucket"], {"num_samples": 0, "num_shards": 0})
            b["num_samples"] += s["num_samples"]
            b["num_shards"] += 1
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "num_samples": sum(s["num_samples"] for s in shards),
            "shards": shards,
            "buckets": buckets,
            "stats": stats or {},
        }
        atomic_write_bytes(self.out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
        self._closed = True
        return manifest


def owned_shard_file(out_dir: Path, name: str) -> Path | None:
    """``out_dir / name`` if it is a file a ``ShardWriter`` could have written there: named as
    it names shards (``SHARD_PATH``) and, with every link resolved, inside ``out_dir``. Else None:
    an overwrite or a resume never deletes what it cannot prove its own."""
    if not isinstance(name, str) or not SHARD_PATH.fullmatch(name):
        return None
    path = out_dir / name
    if not path.resolve().is_relative_to(out_dir.resolve()):
        return None
    return path


def remove_shard_set(out_dir: str | os.PathLike) -> None:
    """Delete the shards a worldfm ``manifest.json`` in ``out_dir`` lists, then the manifest.

    Only entries ``owned_shard_file`` accepts are deleted; the others (``../x``, absolute paths,
    links out of the folder, other names) are logged and left alone. A ``manifest.json`` that is
    not a worldfm shard manifest deletes nothing (it is replaced when the new one is written).
    """
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST
    try:
        entries = load_manifest(out_dir).get("shards", [])
    except ShardError as e:
        logger.warning("not deleting what %s lists: %s", manifest, e)
        return
    for entry in entries if isinstance(entries, list) else []:
        name = entry.get("path") if isinstance(entry, dict) else None
        path = owned_shard_file(out_dir, name)
        if path is None:
            logger.warning("%s lists %r, not a shard inside %s: left alone", manifest, name, out_dir)
            continue
        path.unlink(missing_ok=True)
    manifest.unlink()


def load_manifest(path: str | os.PathLike) -> dict:
    """Read ``manifest.json`` from a shard folder (or the file itself)."""
    path = Path(path)
    file = path / MANIFEST if path.is_dir() else path
    if not file.exists():
        raise ShardError(
            f"no {MANIFEST} in {path}: the folder is not a finished worldfm shard set "
            "(an interrupted run writes none); rerun the command that writes it"
        )
    try:
        manifest = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ShardError(f"{file} is not valid JSON ({e}); rerun the command that wrote it") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ShardError(f"{file} is not a worldfm shard manifest (format={manifest.get('format')!r})")
    if manifest.get("version", 0) > MANIFEST_VERSION:
        raise ShardError(
            f"{file} has manifest version {manifest['version']}, newer than this worldfm reads "
            f"({MANIFEST_VERSION}); upgrade worldfm"
        )
    return manifest


def shard_paths(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Resolve shards from a shard folder (via its manifest), a manifest, a ``.tar``, a glob or a list."""
    if isinstance(source, (list, tuple)):
        return [p for s in source for p in shard_paths(s)]
    path = Path(source)
    if path.is_dir() or path.name == MANIFEST:
        root = path if path.is_dir() else path.parent
        paths = [str(root / s["path"]) for s in load_manifest(path)["shards"]]
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise ShardError(f"manifest of {root} lists {len(missing)} missing shard(s), e.g. {missing[0]}")
        return paths
    matches = sorted(glob.glob(str(source)))
    if not matches:
        raise ShardError(f"no shards match {source!r}; pass a shard folder with {MANIFEST}, a .tar or a glob")
    return matches


def count_samples(path: str | os.PathLike) -> int:
    """Count the samples in one shard by reading its tar index (no decoding)."""
    with tarfile.open(path) as tar:
        keys = {m.name.split(".", 1)[0] for m in tar.getmembers() if m.isfile()}
    return len(keys)


def read_samples(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    shuffle: int = 0,
    epochs: int = 1,
    seed: int = 0,
    decode_video: bool = True,
    size: tuple[int, int] | None = None,
) -> Iterator[dict]:
    """Stream decoded samples (see ``decode_sample``) from shards.

    Args:
        source: anything ``shard_paths`` accepts.
        shuffle: size of the sample shuffle buffer (0 = file order); shard order
            is shuffled too when > 0. Reproducible for a given ``seed``.
        epochs: passes over the data; ``math.inf`` streams forever.
        decode_video: decode mp4 members to ``uint8 (T, H, W, 3)`` frames.
        size: optional ``(H, W)`` to resize frames to on decode.
    """
    urls = shard_paths(source)
    epoch = 0
    while epoch < epochs:
        dataset = wds.WebDataset(
            urls,
            shardshuffle=len(urls) if shuffle else False,
            seed=seed + epoch,
            # Every process reads every shard: trainers hold clips in memory and give each
            # process its own samples through get_batch's micro-batch index.
            nodesplitter=None,
            empty_check=False,
            handler=_raise_shard_error,
        )
        if shuffle:
            dataset = dataset.shuffle(shuffle, seed=seed + epoch)
        for raw in dataset:
            yield decode_sample(raw, decode_video=decode_video, size=size)
        epoch += 1


def _raise_shard_error(exn: Exception) -> bool:
    if isinstance(exn, SampleError):
        raise exn
    raise ShardError(f"could not read shard data: {exn}") from exn

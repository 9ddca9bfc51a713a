import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from curation.sample import ClipSample, SampleError
from curation.shards import ShardError, ShardWriter, bucket_name, count_samples, load_manifest, read_samples
from curation.video_io import encode_video


def make_sample(
    key: str, t: int = 6, h: int = 16, w: int = 24, fps: float = 10.0, views: bool = False
) -> ClipSample:
    rng = np.random.default_rng(abs(hash(key)) % 2**32)
    frames = np.full((t, h, w, 3), rng.integers(0, 255), np.uint8)
    meta = {
        "source": "test",
        "start_s": 0.0,
        "end_s": t / fps,
        "fps": fps,
        "width": w,
        "height": h,
        "num_frames": t,
        "caption": f"clip {key}",
    }
    video = encode_video(frames, fps)
    return ClipSample(
        key=key,
        video=video,
        meta=meta,
        views={"left": video, "right": video} if views else {},
        arrays={
            "actions": rng.normal(size=(t - 1, 4)).astype(np.float32),
            "trajectory": np.zeros((t, 3), np.float32),
        },
    )


def test_shards_round_trip_samples_arrays_and_views(tmp_path: Path) -> None:
    samples = [make_sample(f"src-{i}", views=i == 0) for i in range(5)]
    with ShardWriter(tmp_path, max_samples_per_shard=2) as writer:
        for s in samples:
            writer.write(s)
    read = {s["key"]: s for s in read_samples(tmp_path)}
    assert sorted(read) == sorted(s.key for s in samples)
    for s in samples:
        got = read[s.key]
        assert got["frames"].shape == (6, 16, 24, 3)
        assert got["meta"] == s.meta
        np.testing.assert_array_equal(got["actions"], s.arrays["actions"])
        assert got["actions"].dtype == np.float32
    assert sorted(read["src-0"]["views"]) == ["left", "right"]
    assert read["src-0"]["views"]["left"].shape == (6, 16, 24, 3)


def test_manifest_counts_match_shards_and_buckets(tmp_path: Path) -> None:
    with ShardWriter(tmp_path, max_samples_per_shard=2) as writer:
        for i in range(3):
            writer.write(make_sample(f"a-{i}"))
        for i in range(2):
            writer.write(make_sample(f"b-{i}", t=40, h=8, w=8))
    manifest = load_manifest(tmp_path)
    assert manifest["num_samples"] == 5
    for shard in manifest["shards"]:
        assert count_samples(tmp_path / shard["path"]) == shard["num_samples"]
    assert manifest["buckets"] == {
        "16x24_0-2s": {"num_samples": 3, "num_shards": 2},
        "8x8_2-5s": {"num_samples": 2, "num_shards": 1},
    }
    assert (tmp_path / "16x24_0-2s" / "shard-000001.tar").exists()


def test_plain_webdataset_reads_the_shards(tmp_path: Path) -> None:
    with ShardWriter(tmp_path) as writer:
        writer.write(make_sample("x-0"))
    shard = str(tmp_path / load_manifest(tmp_path)["shards"][0]["path"])
    (sample,) = list(wds.WebDataset(shard, shardshuffle=False, empty_check=False))
    assert sample["__key__"] == "x-0"
    assert json.loads(sample["json"])["num_frames"] == 6
    assert np.load(io.BytesIO(sample["actions.npy"])).shape == (5, 4)


def test_bucket_names_follow_size_and_duration() -> None:
    assert bucket_name(64, 64, 1.9) == "64x64_0-2s"
    assert bucket_name(64, 128, 2.0) == "64x128_2-5s"
    assert bucket_name(90, 160, 75.0) == "90x160_60s+"


def test_shuffled_reading_is_reproducible_and_epochs_repeat(tmp_path: Path) -> None:
    with ShardWriter(tmp_path, max_samples_per_shard=3) as writer:
        for i in range(9):
            writer.write(make_sample(f"k-{i}"))
    order = lambda seed: [s["key"] for s in read_samples(tmp_path, shuffle=5, seed=seed, decode_video=False)]  # noqa: E731
    assert order(1) == order(1)
    assert sorted(order(1)) == sorted(f"k-{i}" for i in range(9))
    assert len(list(read_samples(tmp_path, epochs=2, decode_video=False))) == 18


def test_interrupted_run_leaves_no_manifest_and_no_partial_shard(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), ShardWriter(tmp_path) as writer:
        writer.write(make_sample("a-0"))
        raise KeyboardInterrupt
    assert not (tmp_path / "manifest.json").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ShardError, match="not a finished worldfm shard set"):
        list(read_samples(tmp_path))


def test_existing_run_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    with ShardWriter(tmp_path) as writer:
        writer.write(make_sample("a-0"))
    with pytest.raises(ShardError, match="overwrite"):
        ShardWriter(tmp_path)
    with ShardWriter(tmp_path, overwrite=True) as writer:
        writer.write(make_sample("b-0"))
    assert [s["key"] for s in read_samples(tmp_path, decode_video=False)] == ["b-0"]


def planted_manifest(out: Path, victims: Path) -> dict[str, Path]:
    """A finished run in ``out`` whose manifest also lists files outside it: ``../victim.txt``, an
    absolute path, a shard-named file behind a bucket folder that links out, and a non-shard name."""
    with ShardWriter(out) as writer:
        writer.write(make_sample("a-0"))
    victims.mkdir()
    files = {name: victims / name for name in ("victim.txt", "absolute.txt", "shard-000000.tar")}
    for path in files.values():
        path.write_text("not yours")
    (out / "linked_bucket").symlink_to(victims)
    files["inside"] = out / "notes.txt"
    files["inside"].write_text("mine, not a shard")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] += [
        {"path": f"../{victims.name}/victim.txt"},
        {"path": str(files["absolute.txt"])},
        {"path": "linked_bucket/shard-000000.tar"},
        {"path": "notes.txt"},
        {"path": ["not", "a", "path"]},
    ]
    (out / "manifest.json").write_text(json.dumps(manifest))
    return files


def test_overwrite_deletes_only_shards_inside_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = planted_manifest(out, tmp_path / "victims")
    own = [out / s["path"] for s in load_manifest(out)["shards"][:1]]
    with ShardWriter(out, overwrite=True) as writer:
        writer.write(make_sample("b-0"))
    assert all(path.read_text() for path in files.values())
    assert [s["key"] for s in read_samples(out, decode_video=False)] == ["b-0"]
    assert own[0].exists()  # the same name, rewritten by the new run


def test_misaligned_actions_are_rejected_naming_the_key(tmp_path: Path) -> None:
    sample = make_sample("bad-0")
    sample.arrays["actions"] = sample.arrays["actions"][:-1]
    with pytest.raises(SampleError, match=r"'bad-0'.*actions.npy.*5 rows"), ShardWriter(tmp_path) as writer:
        writer.write(sample)


def test_sample_without_json_names_key_and_shard(tmp_path: Path) -> None:
    shard = tmp_path / "broken.tar"
    with tarfile.open(shard, "w") as tar:
        data = make_sample("c-0").video
        info = tarfile.TarInfo("c-0.mp4")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(SampleError, match=r"'c-0' in shard .*broken.tar.*no 'json'"):
        list(read_samples(shard))


def test_missing_required_meta_key_is_named(tmp_path: Path) -> None:
    sample = make_sample("d-0")
    del sample.meta["fps"]
    with pytest.raises(SampleError, match=r"\['fps'\]"), ShardWriter(tmp_path) as writer:
        writer.write(sample)

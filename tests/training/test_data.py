from pathlib import Path

import numpy as np
import pytest
import torch

from curation.sample import ClipSample
from curation.shards import ShardWriter
from curation.video_io import encode_video
from training.data import ClipDataset, batches_for, split_by_key

FPS = 10.0


def level(t: int) -> int:
    """The grey level of frame t in every test clip: frames are told apart by brightness."""
    return 20 + 25 * t


def make_clip(key: str, t: int, *, h: int = 16, w: int = 24, arrays: bool = True) -> ClipSample:
    frames = np.stack([np.full((h, w, 3), level(i), np.uint8) for i in range(t)])
    camera = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1))
    camera[:, 0, 3] = np.arange(t)
    video = encode_video(frames, FPS)
    return ClipSample(
        key=key,
        video=video,
        meta={
            "source": "test",
            "start_s": 0.0,
            "end_s": t / FPS,
            "fps": FPS,
            "width": w,
            "height": h,
            "num_frames": t,
            "caption": f"caption of {key}",
        },
        views={"left": video},
        # Row i of each array holds i, so a window's rows say where they came from.
        arrays=(
            {
                "actions": np.stack([np.arange(t - 1), np.full(t - 1, 7.0)], 1).astype(np.float32),
                "camera": camera,
                "trajectory": np.stack([np.arange(t), np.zeros(t), np.zeros(t)], 1).astype(np.float32),
            }
            if arrays
            else {}
        ),
    )


def write_shards(folder: Path, clips: list[ClipSample]) -> Path:
    with ShardWriter(folder, max_samples_per_shard=3) as writer:
        for clip in clips:
            writer.write(clip)
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shards")
    return write_shards(folder, [make_clip(f"ep-{i}", t) for i, t in enumerate([8, 8, 9, 3])])


def test_batch_has_the_documented_shapes_and_range(shards: Path) -> None:
    data = ClipDataset(shards, frames=4, size=8, arrays=("actions", "camera", "trajectory"))
    batch = data.sample_batch(5, np.random.default_rng(0))
    assert batch["video"].shape == (5, 3, 4, 8, 8) and batch["video"].dtype == torch.float32
    assert batch["video"].min() >= -1 and batch["video"].max() <= 1
    assert batch["actions"].shape == (5, 3, 2) and batch["actions"].dtype == torch.float32
    assert batch["camera"].shape == (5, 4, 4, 4)
    assert batch["trajectory"].shape == (5, 4, 3)
    assert len(batch["caption"]) == len(batch["key"]) == 5
    assert all(c == f"caption of {k}" for c, k in zip(batch["caption"], batch["key"], strict=True))
    assert "image" not in batch


def test_window_arrays_and_frames_come_from_the_same_rows(shards: Path) -> None:
    data = ClipDataset(shards, frames=4, size=(8, 8), arrays=("actions", "camera", "trajectory"))
    batch = data.sample_batch(16, np.random.default_rng(1))
    for b in range(16):
        start = int(batch["trajectory"][b, 0, 0])
        rows = torch.arange(start, start + 4, dtype=torch.float32)
        torch.testing.assert_close(batch["trajectory"][b, :, 0], rows)
        torch.testing.assert_close(batch["camera"][b, :, 0, 3], rows)
        torch.testing.assert_close(batch["actions"][b, :, 0], rows[:-1])
        pixels = (batch["video"][b].mean(dim=(0, 2, 3)) + 1) * 127.5
        expected = torch.tensor([level(start + i) for i in range(4)], dtype=torch.float32)
        torch.testing.assert_close(pixels, expected, atol=3, rtol=0)


def test_same_seed_and_step_give_the_same_batch(shards: Path) -> None:
    get_batch = batches_for(ClipDataset(shards, frames=4, size=8), batch_size=4, seed=3)
    again = batches_for(ClipDataset(shards, frames=4, size=8), batch_size=4, seed=3)
    other_seed = batches_for(ClipDataset(shards, frames=4, size=8), batch_size=4, seed=4)
    first = get_batch(5, 0)
    for same in (get_batch(5, 0), again(5, 0)):
        torch.testing.assert_close(same["video"], first["video"], atol=0, rtol=0)
        torch.testing.assert_close(same["actions"], first["actions"], atol=0, rtol=0)
        assert same["key"] == first["key"]
    for different in (get_batch(5, 1), get_batch(6, 0), other_seed(5, 0)):
        assert not torch.equal(different["actions"], first["actions"])


def test_heldout_split_is_disjoint_complete_and_stable(tmp_path: Path) -> None:
    keys = [f"ep-{i}" for i in range(400)]
    train, heldout = split_by_key(keys, 0.25)
    assert set(train).isdisjoint(heldout) and sorted(train + heldout) == sorted(keys)
    assert 60 <= len(heldout) <= 140
    more_train, more_heldout = split_by_key([*keys, *(f"new-{i}" for i in range(100))], 0.25)
    assert set(heldout) <= set(more_heldout) and set(train) <= set(more_train)

    folder = write_shards(tmp_path, [make_clip(f"ep-{i}", 5, arrays=False) for i in range(12)])
    splits = {
        s: ClipDataset(folder, frames=2, size=8, split=s, heldout_fraction=0.3) for s in ("train", "heldout")
    }
    assert len(splits["heldout"]) > 0 and len(splits["train"]) > 0
    assert set(splits["train"].keys).isdisjoint(splits["heldout"].keys)
    assert sorted(splits["train"].keys + splits["heldout"].keys) == sorted(f"ep-{i}" for i in range(12))
    assert (
        ClipDataset(folder, frames=2, size=8, split="heldout", heldout_fraction=0.3).keys
        == splits["heldout"].keys
    )


def test_short_clips_are_skipped_and_all_short_is_a_clear_error(shards: Path) -> None:
    data = ClipDataset(shards, frames=4, size=8)
    assert sorted(data.keys) == ["ep-0", "ep-1", "ep-2"]
    with pytest.raises(ValueError, match=r"frames=10.*lengths found: \[3, 8, 9\]"):
        ClipDataset(shards, frames=10, size=8)


def test_image_fraction_returns_single_frames_as_their_own_entry(shards: Path) -> None:
    batch = ClipDataset(shards, frames=4, size=8, image_fraction=0.5).sample_batch(
        6, np.random.default_rng(0)
    )
    assert batch["video"].shape == (3, 3, 4, 8, 8) and batch["actions"].shape == (3, 3, 2)
    assert batch["image"].shape == (3, 3, 1, 8, 8)
    assert len(batch["image_caption"]) == len(batch["image_key"]) == 3


def test_extra_view_with_random_crop_gives_the_requested_size(shards: Path) -> None:
    data = ClipDataset(shards, frames=3, size=(8, 8), views="left", crop="random")
    assert data.clips[0].frames.shape[1:] == (8, 12, 3)  # stored at the covering size
    assert data.sample_batch(2, np.random.default_rng(0))["video"].shape == (2, 3, 3, 8, 8)
    with pytest.raises(ValueError, match="no view 'front'"):
        ClipDataset(shards, frames=3, size=8, views="front")


def test_mixed_sources_load_together_and_partial_arrays_are_refused(shards: Path, tmp_path: Path) -> None:
    plain = write_shards(tmp_path, [make_clip("raw-0", 6, arrays=False)])
    mixed = ClipDataset([shards, plain], frames=4, size=8, arrays=())
    assert sorted(mixed.keys) == ["ep-0", "ep-1", "ep-2", "raw-0"]
    assert "actions" not in ClipDataset(plain, frames=4, size=8).sample_batch(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="3 of 4 clips have actions.npy"):
        ClipDataset([shards, plain], frames=4, size=8)


def test_memory_limit_error_states_the_estimate(shards: Path) -> None:
    with pytest.raises(ValueError, match=r"about 0\.0 GB.*max_memory_gb"):
        ClipDataset(shards, frames=4, size=8, max_memory_gb=1e-6)

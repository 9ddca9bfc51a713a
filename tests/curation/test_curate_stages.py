"""``worldfm curate`` with the clip stages (embed, dedup ...): json fields, drops and the manifest.

All tests share the session's Ray (``ray_address`` in tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from curation.pipeline import CurateConfig, CurateError
from curation.shards import load_manifest, read_samples
from curation.stages import CLIP_ROW, clip_stage
from curation.video_io import write_video
from envs.sim.orbit import generate_episodes

PATHS = ("pan_left", "tilt_up", "zoom_out", "orbit_left")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four distinct 2.5 s orbit clips (known camera paths), two near-duplicates of the first
    (resized, and trimmed) and a still shot."""
    folder = tmp_path_factory.mktemp("planted")
    clips = []
    for i, path in enumerate(PATHS):
        (episode,) = generate_episodes(1, size=64, seed=11 + i, frames_per_episode=60, motions=(path,))
        clips.append(episode.frames["main"])
        write_video(folder / f"distinct{i}.mp4", clips[-1], 24.0)
    (still,) = generate_episodes(1, size=64, seed=10, frames_per_episode=60, motions=("static",))
    write_video(folder / "still.mp4", still.frames["main"], 24.0)
    small = np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) for f in clips[0]])
    write_video(folder / "copy_resized.mp4", small, 24.0, crf=28)
    write_video(folder / "copy_trimmed.mp4", clips[0][5:-5], 24.0)
    return folder


def test_all_clip_stages_label_filter_and_dedup_into_json_and_manifest(
    planted: Path, tmp_path: Path, ray_address: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    stages = "transcode,motion,quality,embed,dedup"
    argv = ["curate", str(planted), "--out", str(out), "--stages", stages, "--min-motion", "0.02"]
    assert main([*argv, "--min-quality", "0.001", "--no-progress"]) == 0
    assert "dedup removed 2 of 6 clips (33.3%)" in capsys.readouterr().out
    stats = load_manifest(out)["stats"]
    # Every input is accounted for: kept, or dropped with a reason.
    assert stats["clips"] == 4 and stats["dropped"] == {"duplicate": 2, "low_motion": 1}
    assert stats["dedup"]["clips"] == 6 and stats["dedup"]["removed"] == 2
    assert stats["dedup"]["share_removed"] == pytest.approx(2 / 6, abs=1e-5)
    assert stats["stages"]["motion"]["clips"] == 7 and stats["stages"]["motion"]["label_static"] == 1
    assert stats["stages"]["quality"]["clips"] == 6 and stats["stages"]["quality"]["dropped"] == 0
    assert stats["stages"]["embed"]["clips"] == 6 and stats["stages"]["dedup"]["dropped"] == 2
    samples = {Path(s["meta"]["source"]).name: s for s in read_samples(out, decode_video=False)}
    assert sorted(samples) == [f"distinct{i}.mp4" for i in range(4)]
    for i, path in enumerate(PATHS):
        meta = samples[f"distinct{i}.mp4"]["meta"]
        # These camera paths are labels of their own (a dolly would read as a zoom).
        assert meta["motion"]["label"] == path and meta["motion"]["speed"] > 0.02
        assert 0.001 <= meta["quality"]["score"] <= 1
        assert set(meta["quality"]["factors"]) >= {"sharpness", "noise", "exposure", "frozen"}
        assert meta["dedup"]["duplicate_of"] is None and isinstance(meta["dedup"]["cluster"], int)
        assert meta["embedding"]["model"] == "tokenizer:tokenizer-ci8x8-fetch64"
        assert np.linalg.norm(samples[f"distinct{i}.mp4"]["embedding"]) == pytest.approx(1.0, abs=1e-4)


def test_dedup_without_embed_is_refused() -> None:
    with pytest.raises(CurateError, match="dedup needs embed"):
        CurateConfig(stages=("transcode", "dedup"))
    with pytest.raises(CurateError, match="threshold"):
        CurateConfig(stages=("transcode", "embed", "dedup"), dedup_threshold=1.5)
    with pytest.raises(CurateError, match="unknown embedder"):
        CurateConfig(stages=("transcode", "embed"), embedder="clip:foo")
    with pytest.raises(CurateError, match="no config.json"):
        CurateConfig(stages=("transcode", "embed"), embedder="hf:/nonexistent/videomae")
    with pytest.raises(CurateError, match="min-quality"):
        CurateConfig(min_quality=2.0)
    with pytest.raises(CurateError, match="quality-weights"):
        CurateConfig(quality_weights="/nonexistent/quality.pt")


def test_a_failing_clip_stage_drops_only_that_clip_and_counts_it() -> None:
    @clip_stage("sharpen")
    def sharpen(row: dict) -> dict:
        if row["clip_index"] == 1:
            raise RuntimeError("boom")
        row["meta"] = json.dumps({"sharpened": True})
        return row

    rows = [{**CLIP_ROW, "clip_index": i, "key": f"v-{i:04d}"} for i in range(3)]
    rows[2]["dropped"] = "low_motion"
    record, ok, failed, dropped = (
        sharpen(dict(CLIP_ROW)),
        sharpen(rows[0]),
        sharpen(rows[1]),
        sharpen(rows[2]),
    )
    assert record["stats"] == "{}" and dropped["stats"] == "{}" and dropped["dropped"] == "low_motion"
    assert json.loads(ok["meta"]) == {"sharpened": True} and not ok["dropped"]
    assert failed["dropped"] == "sharpen_failed"
    assert json.loads(failed["stats"])["sharpen"]["dropped"] == 1
    assert json.loads(ok["stats"])["sharpen"]["clips"] == 1


def test_curate_with_every_stage_writes_every_field_and_accounts_for_every_clip(
    footage: tuple[Path, dict], planted: Path, tmp_path: Path, ray_address: str
) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    raw_folder, _ = footage
    for video in sorted(raw_folder.glob("raw_*.mp4")):
        (mixed / video.name).write_bytes(video.read_bytes())
    (mixed / "labels.json").write_bytes((raw_folder / "labels.json").read_bytes())
    for name in ("distinct0.mp4", "distinct2.mp4", "still.mp4"):
        (mixed / name).write_bytes((planted / name).read_bytes())
    out = tmp_path / "out"
    stages = "split,transcode,motion,quality,embed,text_overlay,category,caption,dedup"
    argv = ["curate", str(mixed), "--out", str(out), "--stages", stages, "--min-clip-seconds", "1.0"]
    argv += ["--keep-text", "--balance", "manipulation=1,driving=1,camera_motion=1,other=1", "--no-progress"]
    assert main(argv) == 0
    stats = load_manifest(out)["stats"]
    made = stats["stages"]["transcode"]["clips"] + stats["stages"]["plan"]["too_short"]
    # Every clip cut from the inputs is written (once, plus re-balancing copies) or dropped for a reason.
    assert made == stats["clips"] - stats["balance_copies"] + sum(stats["dropped"].values())
    assert stats["inputs"] == 5 and stats["inputs_curated"] == 5
    for stage in ("text_overlay", "category", "caption"):
        assert stats["stages"][stage]["clips"] == stats["stages"]["embed"]["clips"]
    categories = stats["categories"]
    assert sum(categories["before"].values()) == stats["dedup"]["clips"] - stats["dedup"]["removed"]
    assert sum(categories["after"].values()) == stats["clips"]
    samples = list(read_samples(out, decode_video=False))
    assert len(samples) == stats["clips"] > 0
    for sample in samples:
        meta = sample["meta"]
        assert {"motion", "quality", "text_overlay", "category", "caption", "dedup"} <= set(meta)
        assert 0.0 <= meta["text_overlay"]["probability"] <= 1.0 and isinstance(
            meta["text_overlay"]["text"], bool
        )
        assert meta["category"]["label"] in ("manipulation", "driving", "camera_motion", "other")
        assert meta["caption"].startswith("A ") and meta["captioner"] == "metadata"
    # Clips of the raw videos carry the simulator's own shot caption.
    assert any(
        "filmed as the camera" in s["meta"]["caption"] for s in samples if "raw_" in s["meta"]["source"]
    )


def test_classifier_and_caption_options_are_checked_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(CurateError, match="text_overlay needs embed"):
        CurateConfig(stages=("transcode", "text_overlay"))
    with pytest.raises(CurateError, match="--category-model: .* does not exist"):
        CurateConfig(stages=("transcode", "embed", "category"), category_model=str(tmp_path / "nope"))
    with pytest.raises(CurateError, match="--balance needs the category stage"):
        CurateConfig(stages=("transcode", "embed"), balance=(("driving", 1.0),))
    with pytest.raises(CurateError, match="--captioner: .*no config.json"):
        CurateConfig(stages=("transcode", "caption"), captioner=f"vlm:{tmp_path}")

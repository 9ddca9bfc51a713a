"""Every entry under the inputs is a video to curate or skipped with a reason, by content (issue 26)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curation.inputs import list_inputs
from curation.pipeline import CurateError, find_inputs
from curation.video_io import encode_video
from tests.curation.bad_inputs import _audio_only, moving_video


def write_odd_folder(folder: Path, outside: Path) -> dict[str, str]:
    """A folder of every kind of entry; returns name -> the start of its skip reason ("" = a video)."""
    good = encode_video(moving_video(8, 16, 16), 24.0)
    folder.mkdir(parents=True)
    (folder / "good.mp4").write_bytes(good)
    (folder / "no_extension").write_bytes(good)
    (folder / "sub").mkdir()
    (folder / "sub" / "clip.MOV").write_bytes(good)
    (folder / "folder.mp4").mkdir()
    (folder / "folder.mp4" / "inner.mp4").write_bytes(good)
    (folder / "voice.m4a").write_bytes(_audio_only())
    (folder / "labels.json").write_text('{"videos": {}}\n')
    (folder / "blank.bin").write_bytes(b"")
    (folder / "noise.dat").write_bytes(bytes(range(256)) * 8)
    (folder / "gone.mp4").symlink_to(folder / "deleted.mp4")
    (folder / "again.mp4").symlink_to("good.mp4")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "elsewhere.mp4").write_bytes(good)
    (folder / "far.mp4").symlink_to(outside / "elsewhere.mp4")
    (folder / "farfolder").symlink_to(outside)
    os.mkfifo(folder / "pipe.mp4")
    return {
        "good.mp4": "",
        "no_extension": "",
        "sub/clip.MOV": "",
        "folder.mp4": "a directory, not a video file",
        "folder.mp4/inner.mp4": "",
        "voice.m4a": "audio only (aac)",
        "labels.json": "a text file",
        "blank.bin": "empty file",
        "noise.dat": "not a video by content",
        "gone.mp4": "dangling symlink",
        "again.mp4": "symlink to good.mp4 (inside the input folder, which is listed itself)",
        "far.mp4": "symlink to ",
        "farfolder": "symlink to ",
        "pipe.mp4": "not a regular file (a fifo)",
    }


def test_every_entry_is_listed_as_a_video_or_skipped_with_its_reason(tmp_path: Path) -> None:
    expected = write_odd_folder(tmp_path / "in", tmp_path / "outside")
    entries, root = list_inputs(str(tmp_path / "in"))
    assert root == tmp_path / "in"
    assert sorted(e.name for e in entries) == sorted(expected)
    for entry in entries:
        if expected[entry.name]:
            assert entry.skipped.startswith(expected[entry.name]), (entry.name, entry.skipped)
        else:
            assert entry.skipped == "", (entry.name, entry.skipped)
    far = {e.name: e.skipped for e in entries}
    assert "outside the input folder" in far["far.mp4"] and "outside the input folder" in far["farfolder"]


def test_a_video_without_an_extension_is_found_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "recording").write_bytes(encode_video(moving_video(8, 16, 16), 24.0))
    (tmp_path / "in" / "notes.txt").write_text("not a video\n")
    assert find_inputs(str(tmp_path / "in"))[0] == [tmp_path / "in" / "recording"]


def test_the_output_folder_inside_the_inputs_is_one_skipped_entry(tmp_path: Path) -> None:
    (tmp_path / "in" / "out" / ".curate").mkdir(parents=True)
    (tmp_path / "in" / "out" / ".curate" / "staged.mp4").write_bytes(encode_video(moving_video(8), 24.0))
    (tmp_path / "in" / "a.mp4").write_bytes(encode_video(moving_video(8), 24.0))
    entries, _ = list_inputs(str(tmp_path / "in"), exclude=tmp_path / "in" / "out")
    assert [(e.name, e.skipped) for e in entries] == [("a.mp4", ""), ("out", "the output folder of this run")]


def test_a_folder_without_videos_is_refused_saying_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "song.m4a").write_bytes(_audio_only())
    with pytest.raises(CurateError, match=r"found 1 entries, none a video, e\.g\. song\.m4a: audio only"):
        find_inputs(str(tmp_path / "in"))

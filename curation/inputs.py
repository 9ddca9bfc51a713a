"""Every entry under the inputs of ``worldfm curate``, each either a video to curate or skipped with why.

Nothing named by the inputs vanishes: ``list_inputs`` returns one ``InputEntry`` per
entry found (a folder is walked recursively, symlinks are not followed), and the
manifest lists each one with its outcome. Whether a file is a video is decided by its
content, not its name: a good mp4 without an extension is curated, a ``labels.json``
or an audio-only ``.m4a`` is skipped. A file *named* like a video goes to the pipeline
whatever it holds, so a broken one is quarantined with the reason (the user meant it
as a video); anything else that is not a video by content is skipped with the reason.

Skipped, with the reason: a dangling symlink, a symlink (it is not followed: one to an
entry inside the folder would curate that entry twice, one to outside the folder
reaches files the user did not point at), a directory named like a video (its files
are listed on their own), something that is not a regular file (a fifo, a socket), an
empty file, a text file, an image, an audio-only file, any other file no demuxer reads
as video.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import av

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")
# FFmpeg reads single pictures as one-frame "video" through these demuxers.
_IMAGE_FORMATS = ("image2", "webp", "gif")
# Demuxers that render text as video (ANSI art, subtitles): never footage.
_TEXT_FORMATS = ("tty", "bin", "xbin", "adf", "idf", "srt", "ass", "webvtt")
# Bytes read to tell text from binary.
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class InputEntry:
    """One entry found under the inputs.

    Attributes:
        name: the entry's path relative to the input folder (posix), as the manifest lists it.
        path: where it is.
        skipped: why it is not curated; empty for a video that goes to the pipeline.
    """

    name: str
    path: Path
    skipped: str = ""


def list_inputs(
    spec: str, *, exclude: Path | None = None, follow_symlinks: bool = False
) -> tuple[list[InputEntry], Path]:
    """Every entry named by ``spec`` (a folder, walked recursively; a glob; one file) and the root
    the names are relative to. ``exclude`` (the run's output folder) is listed as one skipped
    entry, not walked. ``follow_symlinks``: a symlink to a file out of the input folder is judged
    as the file it names (``worldfm curate --follow-symlinks``). Entries come sorted by name."""
    path = Path(spec)
    if path.is_dir() and not path.is_symlink():
        root = path
        entries = _walk(root, exclude, follow_symlinks)
    elif path.exists() or path.is_symlink():
        root = path.parent
        entries = [_entry(path, root, follow_symlinks)]
    else:
        matches = [Path(p) for p in glob.glob(spec, recursive=True)]
        root = Path(os.path.commonpath([str(p.parent) for p in matches])) if matches else Path(".")
        entries = [_entry(p, root, follow_symlinks) for p in matches if not _inside(p, exclude)]
    return sorted(entries, key=lambda e: e.name), root


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder.resolve())


def _walk(root: Path, exclude: Path | None, follow_symlinks: bool) -> list[InputEntry]:
    entries = []
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in list(dirnames):
            sub = here / name
            if sub.is_symlink():
                # os.walk lists a symlink to a folder among the folders; it is an entry, not walked.
                dirnames.remove(name)
                entries.append(_entry(sub, root, follow_symlinks))
            elif exclude is not None and sub.resolve() == exclude.resolve():
                dirnames.remove(name)
                entries.append(InputEntry(_name(sub, root), sub, "the output folder of this run"))
            elif sub.suffix.lower() in VIDEO_EXTENSIONS:
                entries.append(_entry(sub, root, follow_symlinks))
        entries.extend(_entry(here / name, root, follow_symlinks) for name in filenames)
    return entries


def _name(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def _entry(path: Path, root: Path, follow_symlinks: bool = False) -> InputEntry:
    return InputEntry(_name(path, root), path, skip_reason(path, root, follow_symlinks=follow_symlinks))


def skip_reason(path: Path, root: Path, *, follow_symlinks: bool = False) -> str:
    """Why ``path`` is not curated, or ``""`` when it goes to the pipeline (module docstring).

    A symlink out of the input folder would pull another folder's files (anyone who can write
    to the input folder can plant one) into the shards: it is skipped unless ``follow_symlinks``,
    when the file it names is judged instead. One to an entry inside the folder is skipped either
    way, since that entry is listed itself."""
    if path.is_symlink():
        target = Path(os.readlink(path))
        resolved = (path.parent / target).resolve()
        if not resolved.exists():
            return f"dangling symlink: its target {target} does not exist"
        if resolved.is_relative_to(root.resolve()):
            return f"symlink to {target} (inside the input folder, which is listed itself); not followed"
        if not follow_symlinks:
            return f"symlink to {target}, outside the input folder (pass --follow-symlinks to curate it)"
        if resolved.is_dir():
            return f"symlink to the folder {target}, outside the input folder; folders are not followed"
        return skip_reason(resolved, resolved.parent)
    mode = path.lstat().st_mode
    if stat.S_ISDIR(mode):
        return "a directory, not a video file (its files are listed on their own)"
    if not stat.S_ISREG(mode):
        return f"not a regular file (a {_file_type(mode)})"
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return ""
    return not_a_video_reason(path)


def _file_type(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"))
    for test, name in kinds:
        if test(mode):
            return name
    return "block device" if stat.S_ISBLK(mode) else "special file"


def not_a_video_reason(path: Path) -> str:
    """``""`` when the file's content is a video (a demuxer opens it and finds a video stream),
    else what it is instead."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        return "empty file (0 bytes), not a video"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "a text file, not a video"
        except UnicodeDecodeError as e:
            # A multi-byte character cut by the sniff window is still text.
            if e.start >= len(head) - 3:
                return "a text file, not a video"
    try:
        with av.open(str(path), mode="r") as container:
            fmt = container.format.name
            video = container.streams.video
            audio = container.streams.audio
            if any(f in _TEXT_FORMATS for f in fmt.split(",")):
                return f"not a video ({fmt} content)"
            if fmt.endswith("_pipe") or any(f in _IMAGE_FORMATS for f in fmt.split(",")):
                return f"an image ({fmt}), not a video"
            if not video:
                kind = f"audio only ({audio[0].codec_context.name})" if audio else "no video stream"
                return f"{kind}: not a video"
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        return f"not a video by content (no demuxer reads it: {e.__class__.__name__})"
    return ""

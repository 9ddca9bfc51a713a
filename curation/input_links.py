"""Inputs that are links out of the input folder: skipped unless the user asks to follow them.

A folder of videos may hold symbolic links (its own, or planted by whoever can write there). A
link whose target, every link resolved, lies outside the input folder would pull another
folder's files into the shards; ``worldfm curate`` skips such inputs unless ``--follow-symlinks``
is given and lists them in the manifest (``stats.skipped_inputs``) with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

OUTSIDE = "links outside the input folder (pass --follow-symlinks to curate it)"


def links_out_of(root: Path, files: Sequence[Path], *, follow: bool) -> tuple[list[Path], list[dict]]:
    """``(kept, skipped)``: ``files`` whose resolved path lies inside ``root`` (resolved), and
    ``{"path", "reason"}`` for the others; with ``follow`` every file is kept."""
    if follow:
        return list(files), []
    inside = root.resolve()
    kept: list[Path] = []
    skipped: list[dict] = []
    for path in files:
        if path.resolve().is_relative_to(inside):
            kept.append(path)
        else:
            skipped.append({"path": str(path), "reason": OUTSIDE})
    return kept, skipped

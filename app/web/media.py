"""Uploads in, files out: type and size checks, decoding, and the app's one output folder.

Every upload is checked here before a model sees it (right extension, not empty, under the size
limit, actually decodable), and every failure becomes a ``gr.Error`` whose message names the
file the user picked, never a server path or a traceback. A few kilobytes of video can declare
thousands of 4K frames, so an upload's cost is read from its header first and held to an
``UploadBudget`` (bytes, duration, width x height x frames decoded) before anything is decoded,
and frames are decoded straight to the size the model needs.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import gradio as gr
import numpy as np
from PIL import Image, UnidentifiedImageError

from curation.guardrails import BlockedPromptError
from curation.video_io import VideoError, iter_frames, probe, write_video
from worldmodel.hub import CheckpointError

logger = logging.getLogger(__name__)

# Upload boxes this tall show Gradio's "Drop File Here - or - Click to Upload" in full.
UPLOAD_HEIGHT = 150
VIDEO_TYPES = (".mp4", ".mov", ".webm", ".mkv", ".avi")
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# What users can fix themselves: shown as the message, without a traceback.
USER_ERRORS = (ValueError, VideoError, CheckpointError, BlockedPromptError, FileNotFoundError)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn a handler's expected failures into ``gr.Error`` messages shown in the page.

    A user error is one line in the server log (Gradio would print its traceback); anything
    unexpected is logged with its traceback and shown as one line.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error as err:
            err.print_exception = False
            logger.info("%s: %s", fn.__name__, err.message)
            raise
        except USER_ERRORS as err:
            logger.info("%s: %s", fn.__name__, err)
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:
            logger.exception("handler %s failed", fn.__name__)
            message = f"Internal error ({type(err).__name__}); the server log has the details"
            raise gr.Error(message, print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def cleared(*outputs: Any) -> tuple:
    """Empty values for ``outputs``: a run clears the last result first, so a failed run leaves
    no stale video or summary under its error."""
    return tuple(None for _ in outputs)


def upload_path(upload: Any, what: str) -> Path:
    """The local path of a Gradio upload (a path string or a file object); error if there is none."""
    if upload is None or upload == "" or upload == []:
        raise gr.Error(f"Upload {what} first.")
    path = Path(getattr(upload, "name", None) or upload)
    if not path.is_file():
        raise gr.Error(f"The upload {path.name!r} did not arrive; upload it again.")
    if path.stat().st_size == 0:
        raise gr.Error(f"{path.name!r} is empty (0 bytes).")
    return path


def check_type(path: Path, allowed: tuple[str, ...]) -> str:
    """``"video"`` or ``"image"``, by extension; an error naming the allowed types otherwise."""
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise gr.Error(f"{path.name!r} is not a supported file type; upload one of: {', '.join(allowed)}")
    return "video" if suffix in VIDEO_TYPES else "image"


@dataclass(frozen=True)
class UploadBudget:
    """What one upload may cost (``WebConfig.upload_budget`` sets it; no defaults here)."""

    max_frames: int  # frames decoded at most; a longer video is cut, with a warning
    max_megapixels: float  # width x height x frames decoded, millions
    max_seconds: float  # a video's duration as its container states it
    max_bytes: int


@dataclass(frozen=True)
class UploadHeader:
    """An upload as its header describes it, checked against the budget; nothing decoded yet."""

    path: Path
    kind: str  # "video" or "image"
    width: int
    height: int
    frames: int  # frames that will be decoded: the file's, cut to the budget
    fps: float

    @property
    def name(self) -> str:
        return self.path.name


def _over(name: str, what: str, option: str, fix: str) -> gr.Error:
    return gr.Error(f"{name!r} {what}, over this server's limit ({option}); {fix}.")


def inspect_upload(upload: Any, *, what: str, allowed: tuple[str, ...], budget: UploadBudget) -> UploadHeader:
    """Read an upload's header (size, frames, duration) and refuse it if it is over ``budget``."""
    path = upload_path(upload, what)
    kind = check_type(path, allowed)
    name = path.name
    size = path.stat().st_size
    if size > budget.max_bytes:
        raise _over(
            name, f"is {size / 2**20:.1f} MB", f"{budget.max_bytes / 2**20:g} MB", "upload a smaller file"
        )
    if kind == "image":
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            # PIL's own ceiling (twice Image.MAX_IMAGE_PIXELS), met while reading the header.
            limit = f"{budget.max_megapixels:g} megapixels, --max-upload-megapixels"
            raise _over(name, "is a decompression bomb", limit, "downscale it") from None
        except (UnidentifiedImageError, OSError) as err:
            raise gr.Error(f"{name!r} is not a readable image ({err.__class__.__name__}).") from None
        fps, count = 1.0, 1
    else:
        try:
            info = probe(path)
        except VideoError as err:
            raise gr.Error(
                f"{name!r} is not a readable video: {err.reason.replace(str(path), name)}"
            ) from None
        if info.duration_s > budget.max_seconds:
            limit = f"{budget.max_seconds:g} s, --max-upload-seconds"
            raise _over(name, f"lasts {info.duration_s:.0f} s", limit, "cut it shorter")
        width, height, fps = info.width, info.height, info.fps
        count = min(max(info.num_frames, 1), budget.max_frames)
    megapixels = width * height * count / 1e6
    if megapixels > budget.max_megapixels:
        frames = f"{count} frame{'s' if count > 1 else ''}"
        limit = f"{budget.max_megapixels:g} megapixels, --max-upload-megapixels"
        fix = "downscale it" + (" or cut it shorter" if kind == "video" else "")
        raise _over(name, f"is {width}x{height}, {frames}: {megapixels:.0f} megapixels to decode", limit, fix)
    return UploadHeader(path, kind, width, height, count, fps)


def decode_upload(
    header: UploadHeader,
    budget: UploadBudget,
    *,
    size: tuple[int, int] | None = None,
    frames: int | None = None,
) -> np.ndarray:
    """The first ``frames`` frames (default: all the header allows) as ``uint8 (T, H, W, 3)``,
    decoded straight to ``size=(H, W)`` (default: the file's size).

    However many frames the container declared, decoding stops where the pixel budget ends.
    """
    name = header.name
    if header.kind == "image":
        try:
            with Image.open(header.path) as image:
                if size is not None:  # JPEG decodes at 1/2, 1/4, 1/8 scale when that is enough
                    image.draft("RGB", (size[1], size[0]))
                rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)[None]
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
            raise gr.Error(f"{name!r} is not a readable image ({err.__class__.__name__}).") from None
        return rgb if size is None else resize_frames(rgb, size)
    per_frame = header.width * header.height
    allowed = max(1, int(budget.max_megapixels * 1e6 // per_frame))
    end = min(frames or header.frames, header.frames, allowed)
    try:
        # One more than wanted tells whether the file was longer (for the warning).
        decoded = list(iter_frames(header.path, size=size, end_frame=end + 1))
    except VideoError as err:
        reason = err.reason.replace(str(header.path), name)
        raise gr.Error(f"{name!r} is not a readable video: {reason}") from None
    if len(decoded) > end:
        if end == budget.max_frames:
            gr.Warning(f"{name}: using its first {end} frames")
        decoded = decoded[:end]
    return np.stack(decoded)


def read_upload(
    upload: Any,
    *,
    what: str,
    allowed: tuple[str, ...],
    budget: UploadBudget,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float, str]:
    """Check (``inspect_upload``) and decode (``decode_upload``) a video or image upload:
    ``uint8 (T, H, W, 3)`` frames at ``size`` (default: the file's), fps and the file's name.

    At most ``max_frames`` frames (default: the budget's) are decoded; an image is a one-frame
    video at 1 fps.
    """
    header = inspect_upload(upload, what=what, allowed=allowed, budget=budget)
    return decode_upload(header, budget, size=size, frames=max_frames), header.fps, header.name


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``uint8 (T, H, W, 3)`` -> ``(T, size[0], size[1], 3)``, area-averaged when shrinking."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    shrinking = h < frames.shape[1] or w < frames.shape[2]
    mode = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=mode) for f in frames])


def enlarge(frames: np.ndarray, min_side: int = 256) -> np.ndarray:
    """Nearest-neighbour upscale by an integer factor so small model frames are visible in a page."""
    factor = max(1, -(-min_side // min(frames.shape[-3:-1])))
    return np.repeat(np.repeat(frames, factor, axis=-3), factor, axis=-2)


def side_by_side(*videos: np.ndarray, gap: int = 2, above: bool = False) -> np.ndarray:
    """Videos of one shape ``(T, H, W, 3)`` next to each other (or one above the next, for wide
    multi-view canvases) with a white gap between them."""
    axis = 1 if above else 2
    shape = list(videos[0].shape)
    shape[axis] = gap
    spacer = np.full(shape, 255, np.uint8)
    parts: list[np.ndarray] = []
    for video in videos:
        parts += [video, spacer]
    return np.concatenate(parts[:-1], axis=axis)


class Outputs:
    """The app's output folder: one fresh subfolder per job, the oldest pruned past ``keep``.

    This folder is the only one the server may send files from (``allowed_paths``).
    """

    def __init__(self, root: Path, keep: int = 200) -> None:
        self.root = Path(root).resolve()
        self.keep = keep
        self.root.mkdir(parents=True, exist_ok=True)

    def new(self, kind: str) -> Path:
        """A new empty folder ``<root>/<kind>-<time>-<id>``."""
        self._prune()
        folder = self.root / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def write_video(self, folder: Path, name: str, frames: np.ndarray, fps: float) -> str:
        """Write frames (upscaled for viewing) as ``folder/name`` mp4; returns its path as a string."""
        path = folder / name
        write_video(path, enlarge(frames), fps=max(fps, 1.0))
        return str(path)

    def _prune(self) -> None:
        runs = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - self.keep + 1)]:
            shutil.rmtree(old, ignore_errors=True)

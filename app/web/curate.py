"""Curate: split uploaded videos into fixed-length clips and write them as WebDataset shards.

What exists of the curation pipeline runs here: decoding with clear errors for bad files
(``curation.video_io``), fixed windows (``iter_windows``), the clip-sample contract and bucketed
shards with a manifest (``curation.shards.ShardWriter``). Shot splitting, motion / quality
filters, captions and deduplication (the Ray pipeline) are not built yet, and the page says so.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app.web.media import VIDEO_TYPES, Outputs, check_type, upload_path, user_errors
from curation.sample import ClipSample
from curation.shards import ShardWriter
from curation.video_io import VideoError, encode_video, iter_windows, probe

MAX_VIDEOS = 8
MAX_CLIPS_PER_VIDEO = 32
NOT_BUILT = "not built yet"
COLUMNS = [
    "key",
    "source",
    "start_s",
    "end_s",
    "frames",
    "size",
    "fps",
    "bucket",
    "label",
    "caption",
    "dedup",
]


def source_id(name: str, index: int) -> str:
    """A clip-key-safe id for an upload: its stem with other characters replaced, plus its index."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", Path(name).stem).strip("_") or "video"
    return f"{stem[:40]}_{index}"


class CurateTab:
    def __init__(self, outputs: Outputs) -> None:
        self.outputs = outputs

    @user_errors
    def curate(
        self,
        uploads: list[Any] | None,
        clip_seconds: float,
        size: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[pd.DataFrame, str, str]:
        """Returns the clips table, a summary and a ``.tar.gz`` of the shard folder."""
        if not uploads:
            raise gr.Error("Upload one or more videos first.")
        if len(uploads) > MAX_VIDEOS:
            raise gr.Error(f"upload at most {MAX_VIDEOS} videos at a time, got {len(uploads)}")
        if clip_seconds <= 0:
            raise gr.Error(f"clip length must be > 0 seconds, got {clip_seconds}")
        folder = self.outputs.new("curate")
        rows, skipped = [], []
        side = int(size)
        with ShardWriter(folder / "shards") as writer:
            for i, upload in enumerate(progress.tqdm(uploads, desc="videos")):
                path = upload_path(upload, "a video")
                check_type(path, VIDEO_TYPES)
                try:
                    rows += self._split(writer, path, source_id(path.name, i), clip_seconds, side)
                except VideoError as err:
                    skipped.append(f"{path.name}: {err.reason.replace(str(path), path.name)}")
            if not rows:
                raise gr.Error("No clip could be read. " + "; ".join(skipped))
        archive = shutil.make_archive(str(folder / "shards"), "gztar", root_dir=folder, base_dir="shards")
        summary = f"{len(rows)} clips from {len(uploads) - len(skipped)} video(s) in {folder.name}/shards"
        if skipped:
            gr.Warning(f"skipped {len(skipped)} unreadable video(s)")
            summary += ". Skipped: " + "; ".join(skipped)
        summary += (
            ". Motion / quality labels, captions and duplicate clusters come from the curation pipeline, "
            f"which is {NOT_BUILT} (issue 7): those columns stay empty."
        )
        return pd.DataFrame(rows, columns=COLUMNS), summary, archive

    @staticmethod
    def _split(writer: ShardWriter, path: Path, source: str, clip_seconds: float, side: int) -> list[dict]:
        info = probe(path)
        window = max(1, round(clip_seconds * info.fps))
        # Keep the aspect ratio; even sides, as H.264 yuv420p wants.
        h = side
        w = max(2, round(side * info.width / info.height / 2) * 2)
        rows = []
        for index, (start, clip) in enumerate(iter_windows(path, window, size=(h, w))):
            if index >= MAX_CLIPS_PER_VIDEO:
                gr.Warning(f"{path.name}: kept its first {MAX_CLIPS_PER_VIDEO} clips")
                break
            meta = {
                "source": path.name,
                "start_s": start / info.fps,
                "end_s": (start + len(clip)) / info.fps,
                "fps": info.fps,
                "width": w,
                "height": h,
                "num_frames": len(clip),
            }
            key = f"{source}-{index}"
            bucket = writer.write(ClipSample(key, encode_video(clip, info.fps), meta))
            rows.append(
                {
                    "key": key,
                    "source": path.name,
                    "start_s": round(meta["start_s"], 2),
                    "end_s": round(meta["end_s"], 2),
                    "frames": len(clip),
                    "size": f"{w}x{h}",
                    "fps": round(info.fps, 2),
                    "bucket": bucket,
                    "label": NOT_BUILT,
                    "caption": NOT_BUILT,
                    "dedup": NOT_BUILT,
                }
            )
        return rows


def build_curate_tab(tab: CurateTab) -> None:
    gr.Markdown(
        "Upload a few videos: each is decoded (unreadable files are reported and skipped), split into "
        "fixed-length clips and written as WebDataset shards (`<H>x<W>_<duration>/shard-*.tar` + "
        "`manifest.json`), the format training reads. **Not built yet:** shot detection, motion and "
        "quality filters, captions and duplicate clusters (the Ray curation pipeline, issue 7)."
    )
    with gr.Row():
        uploads = gr.File(label="videos", file_count="multiple", file_types=list(VIDEO_TYPES), height=120)
        clip_seconds = gr.Slider(0.5, 10, value=2, step=0.5, label="clip length (s)")
        size = gr.Slider(32, 256, value=64, step=16, label="clip height (pixels)")
    run = gr.Button("Curate", variant="primary")
    summary = gr.Markdown()
    table = gr.Dataframe(headers=COLUMNS, label="clips", interactive=False)
    archive = gr.File(label="shards (.tar.gz)", interactive=False)
    run.click(tab.curate, [uploads, clip_seconds, size], [table, summary, archive], api_name="curate")

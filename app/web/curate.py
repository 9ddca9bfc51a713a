"""Curate: run the curation pipeline (``curation.pipeline.curate``) on uploaded videos.

The same run as ``worldfm curate``: shot splitting, the clip rules, H.264 clips, and whichever
filters are ticked (motion, quality, burned-in text, video type, captions, semantic dedup), on a
local Ray started for the click (or the one this process already runs). Each filter that drops
clips has its threshold beside the filters (``THRESHOLDS``); the pipeline's own defaults for
motion and quality keep every clip, so the page starts from thresholds that drop. The page shows
every kept clip with its labels, what each filter dropped at which threshold, the inputs that were
quarantined, and offers the WebDataset shards as a ``.tar.gz``.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app.web.media import UPLOAD_HEIGHT, VIDEO_TYPES, Outputs, check_type, cleared, upload_path, user_errors
from curation.motion import MotionConfig
from curation.pipeline import STAGE_NEEDS, CurateConfig, curate
from curation.shards import read_samples
from curation.splitters import SPLITTERS

MAX_VIDEOS = 8
# The clip filters offered, in pipeline order; split and transcode always run.
FILTERS = {
    "motion": "motion (drop static clips)",
    "quality": "quality score",
    "text_overlay": "burned-in text (drop)",
    "category": "video type",
    "caption": "captions",
    "dedup": "semantic dedup",
}


@dataclass(frozen=True)
class Threshold:
    """The threshold of a filter that drops clips: a ``CurateConfig`` field, shown and editable."""

    field: str  # the CurateConfig field it sets
    default: float
    label: str  # the page's label: what the number means, in its unit
    rule: str  # what a kept clip satisfies, for the summary ("{:g}" takes the value)
    reason: str  # the drop reason the stage writes into the manifest
    dropped: str  # what the summary calls the clips it dropped ("{s}" takes the plural s)
    allowed: str  # the valid range, for the error message
    low: float
    high: float = math.inf
    low_open: bool = False  # the range excludes ``low`` itself

    def check(self, value: float | None, name: str) -> float:
        """``value`` as a float; ``gr.Error`` naming the filter and the range if it is not in it."""
        valid = value is not None and not math.isnan(value)
        if valid:
            valid = (value > self.low if self.low_open else value >= self.low) and value <= self.high
        if not valid:
            got = "nothing" if value is None else f"{value:g}"
            raise gr.Error(f"the {name} threshold must be {self.allowed}, got {got}")
        return float(value)


# The thresholds of the filters that drop clips, shown beside the filters; the rest only label.
THRESHOLDS = {
    # The speed under which ``curation.motion`` labels a clip static, so a ticked motion filter
    # drops exactly the clips it would label "static". Measured on 64x64 clips at 10 fps: a still
    # frame 0.0, a square crossing it at 1.5 px/frame 0.08, a rendered camera pan 0.57.
    "motion": Threshold(
        field="min_motion",
        default=MotionConfig.static_speed,
        label="motion: drop clips slower than (half-frames/s)",
        rule="motion ≥ {:g} half-frames/s",
        reason="low_motion",
        dropped="clip{s} moving slower",
        allowed="≥ 0 half-frames/s (0 keeps every clip)",
        low=0.0,
    ),
    # The ``worldfm curate`` example's --min-quality. The score multiplies one factor per measure,
    # so a blurred, dark or flat picture alone falls under it (a frozen clip's score is halved).
    # Measured at 64x64: flat synthetic squares 0.05 still, 0.09 moving; rendered scenes 0.2 still,
    # 0.4 panning.
    "quality": Threshold(
        field="min_quality",
        default=0.05,
        label="quality: drop clips scoring under (0..1)",
        rule="quality ≥ {:g}",
        reason="low_quality",
        dropped="clip{s} scoring lower",
        allowed="in [0, 1] (0 keeps every clip)",
        low=0.0,
        high=1.0,
    ),
    "text_overlay": Threshold(
        field="text_threshold",
        default=CurateConfig.text_threshold,
        label="burned-in text: drop clips with a text probability of at least (0..1]",
        rule="text probability < {:g}",
        reason="text_overlay",
        dropped="clip{s} with burned-in text",
        allowed="in (0, 1]",
        low=0.0,
        high=1.0,
        low_open=True,
    ),
    "dedup": Threshold(
        field="dedup_threshold",
        default=CurateConfig.dedup_threshold,
        label="dedup: drop copies with a cosine similarity of at least (0..1]",
        rule="dedup (copies at cosine similarity ≥ {:g})",
        reason="duplicate",
        dropped="duplicate clip{s}",
        allowed="in (0, 1]",
        low=0.0,
        high=1.0,
        low_open=True,
    ),
}
COLUMNS = [
    "key",
    "source",
    "start_s",
    "end_s",
    "frames",
    "size",
    "bucket",
    "motion",
    "quality",
    "text",
    "type",
    "caption",
    "dedup",
]


def safe_name(name: str, index: int) -> str:
    """An upload's file name made safe for a folder of inputs, unique by its index."""
    path = Path(name)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_") or "video"
    return f"{index:02d}_{stem[:40]}{path.suffix.lower()}"


def stages_for(filters: list[str], split: bool) -> tuple[str, ...]:
    """The pipeline stages for the ticked filters, with ``embed`` added where one needs it."""
    unknown = [f for f in filters if f not in FILTERS]
    if unknown:
        raise ValueError(f"unknown filter(s) {unknown}; choose among {', '.join(FILTERS)}")
    stages = {"transcode", *filters}
    if split:
        stages.add("split")
    stages |= {STAGE_NEEDS[s] for s in filters if s in STAGE_NEEDS}
    return tuple(stages)


def clip_row(key: str, meta: dict, names: dict[str, str], bucket: str) -> dict:
    """One table row from a shard sample's json; ``names`` maps input paths to upload names."""
    motion, quality = meta.get("motion"), meta.get("quality")
    text, category, dedup = meta.get("text_overlay"), meta.get("category"), meta.get("dedup")
    return {
        "key": key,
        "source": names.get(meta["source"], Path(meta["source"]).name),
        "start_s": round(meta["start_s"], 2),
        "end_s": round(meta["end_s"], 2),
        "frames": meta["num_frames"],
        "size": f"{meta['width']}x{meta['height']}",
        "bucket": bucket,
        "motion": f"{motion['label']} ({motion['speed']:.2f})" if motion else "",
        "quality": round(quality["score"], 3) if quality else "",
        "text": f"{text['probability']:.2f}" if text else "",
        "type": f"{category['label']} ({category['probability']:.2f})" if category else "",
        "caption": meta.get("caption", ""),
        "dedup": (f"cluster {dedup['cluster']}" if dedup else ""),
    }


def summary_text(
    manifest: dict,
    quarantined: list[dict],
    names: dict[str, str],
    folder: str,
    thresholds: dict[str, float] | None = None,
) -> str:
    """The run in a few lines; ``thresholds`` maps each ticked filter that drops clips to its value."""
    stats = manifest["stats"]
    dropped = dict(stats["dropped"])
    lines = [
        f"**{stats['clips']} clips** from {stats['inputs_curated']} of {stats['inputs']} video(s) "
        f"({stats['video_seconds']:.1f} s in, {stats['clip_seconds']:.1f} s of clips) in `{folder}/shards`."
    ]
    for name, value in (thresholds or {}).items():
        t = THRESHOLDS[name]
        n = dropped.pop(t.reason, 0)
        line = f"{t.rule.format(value)}: dropped {n} {t.dropped.format(s='' if n == 1 else 's')}"
        if name == "dedup" and "dedup" in stats:
            line += f" of {stats['dedup']['clips']}"
        lines.append(line + ".")
    if dropped:
        why = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in dropped.items())
        lines.append(f"{'Also dropped' if thresholds else 'Dropped clips'}: {why}.")
    for record in quarantined:
        name = names.get(record["path"], Path(record["path"]).name)
        lines.append(f"Quarantined {name}: {record['reason'].replace(record['path'], name)}")
    return "\n\n".join(lines)


class CurateTab:
    def __init__(self, outputs: Outputs) -> None:
        self.outputs = outputs

    @user_errors
    def curate(
        self,
        uploads: list[Any] | None,
        filters: list[str] | None,
        splitter: str,
        min_seconds: float,
        max_seconds: float,
        height: float,
        min_motion: float | None = THRESHOLDS["motion"].default,
        min_quality: float | None = THRESHOLDS["quality"].default,
        text_threshold: float | None = THRESHOLDS["text_overlay"].default,
        dedup_threshold: float | None = THRESHOLDS["dedup"].default,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[pd.DataFrame, str, str]:
        """Returns the kept clips' table, a summary (what each filter dropped at which threshold,
        dedup, quarantine) and a ``.tar.gz`` of the shard folder. The thresholds are those of
        ``THRESHOLDS``, in its order."""
        if not uploads:
            raise gr.Error("Upload one or more videos first.")
        if len(uploads) > MAX_VIDEOS:
            raise gr.Error(f"upload at most {MAX_VIDEOS} videos at a time, got {len(uploads)}")
        paths = [upload_path(u, "a video") for u in uploads]
        for path in paths:
            check_type(path, VIDEO_TYPES)
        if min_seconds > max_seconds:
            raise gr.Error(
                f"the shortest clip ({min_seconds:g} s) is longer than the longest ({max_seconds:g} s); "
                "raise the longest or lower the shortest"
            )
        given = dict(zip(THRESHOLDS, (min_motion, min_quality, text_threshold, dedup_threshold), strict=True))
        values = {name: t.check(given[name], name) for name, t in THRESHOLDS.items()}
        filters = list(filters or [])
        side = int(height)
        config = CurateConfig(
            stages=stages_for(filters, split=splitter != "none"),
            splitter=splitter if splitter != "none" else "cascade",
            min_clip_seconds=float(min_seconds),
            max_clip_seconds=float(max_seconds),
            max_height=side,
            # Wide enough for 16:9 at that height, so the height is what limits the size.
            max_width=2 * round(side * 16 / 9 / 2),
            **{t.field: values[name] for name, t in THRESHOLDS.items()},
        )
        folder = self.outputs.new("curate")
        inputs = folder / "inputs"
        inputs.mkdir()
        names = {}
        for i, path in enumerate(paths):
            copy = inputs / safe_name(path.name, i)
            shutil.copyfile(path, copy)
            names[str(copy)] = path.name
        done = [0]

        def advance(_record: dict) -> None:
            done[0] += 1
            progress((done[0], len(paths)), desc="videos curated")

        progress((0, len(paths)), desc="videos curated")
        result = curate(str(inputs), folder / "shards", config, progress=advance)
        kept = (
            read_samples(folder / "shards", decode_video=False) if result.manifest["stats"]["clips"] else []
        )
        rows = [clip_row(s["key"], s["meta"], names, Path(s["shard"]).parent.name) for s in kept]
        ticked = {name: values[name] for name in THRESHOLDS if name in filters}
        summary = summary_text(result.manifest, result.quarantined, names, folder.name, ticked)
        if result.quarantined:
            gr.Warning(f"{len(result.quarantined)} video(s) could not be curated (see the summary)")
        if not rows:
            gr.Warning("no clip was kept (see the summary for why)")
        shutil.rmtree(inputs)
        archive = shutil.make_archive(str(folder / "shards"), "gztar", root_dir=folder, base_dir="shards")
        return pd.DataFrame(rows, columns=COLUMNS), summary, archive


def build_curate_tab(tab: CurateTab) -> None:
    gr.Markdown(
        "Upload a few videos and run the curation pipeline on them (`worldfm curate`): shot splitting, "
        "the clip length rules, H.264 clips and the filters you tick. Kept clips come back as WebDataset "
        "shards (`<H>x<W>_<duration>/shard-*.tar` + `manifest.json`), the format training reads; the "
        "summary says what was dropped and why. Unreadable or corrupt uploads are quarantined, not fatal."
    )
    with gr.Row():
        uploads = gr.File(
            label="videos", file_count="multiple", file_types=list(VIDEO_TYPES), height=UPLOAD_HEIGHT
        )
        with gr.Column():
            filters = gr.CheckboxGroup(
                [(label, name) for name, label in FILTERS.items()],
                # Quality is offered, not ticked: at its threshold it drops some rendered robot clips
                # (large flat tables score low), which a first run should not hide.
                value=["motion"],
                label="filters",
            )
            with gr.Row():
                thresholds = [
                    gr.Number(t.default, label=t.label, step=0.01, min_width=120) for t in THRESHOLDS.values()
                ]
            splitter = gr.Dropdown(
                [*SPLITTERS, "none"], value="cascade", label="shot splitter (none: fixed-length pieces)"
            )
    with gr.Row():
        min_seconds = gr.Slider(0.5, 10, value=2, step=0.5, label="shortest clip (s)")
        max_seconds = gr.Slider(0.5, 60, value=10, step=0.5, label="longest clip (s; longer shots are cut)")
        height = gr.Slider(32, 720, value=256, step=16, label="largest clip height (pixels)")
    run = gr.Button("Curate", variant="primary")
    summary = gr.Markdown()
    table = gr.Dataframe(headers=COLUMNS, label="kept clips", interactive=False)
    archive = gr.File(label="shards (.tar.gz)", interactive=False)
    results = [table, summary, archive]
    run.click(lambda: cleared(*results), None, results, queue=False, api_visibility="private").then(
        tab.curate,
        [uploads, filters, splitter, min_seconds, max_seconds, height, *thresholds],
        results,
        api_name="curate",
        # One run at a time: a run that started Ray shuts it down when it ends.
        concurrency_limit=1,
    )

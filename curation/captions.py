"""Clip captions: a ``Captioner`` maps a batch of clips to one caption each.

Two captioners, chosen by ``make_captioner(spec)``:

- ``metadata`` (the default) writes a descriptive caption from what is known about a
  clip without looking at it again: what the simulator said about the shot (a
  ``labels.json`` beside the source video, as ``worldfm simulate raw`` writes it), the
  category, the motion label, burned-in text, quality, resolution and duration,
  whichever of them earlier stages put into the clip's json.
- ``vlm:<dir>`` runs a vision-language model through ``transformers`` from a local
  directory (``save_pretrained`` layout; nothing is downloaded): the clip's middle
  frame and ``prompt`` go through the model's processor (its chat template when it
  has one), a batch at a time, and the generated text is the caption.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from curation.model_device import model_device

CAPTIONERS = ("metadata", "vlm")
DEFAULT_PROMPT = "Describe this video clip in one sentence."

CATEGORY_PHRASES = {
    "manipulation": "robot manipulation footage",
    "driving": "driving footage",
    "camera_motion": "scene filmed by a moving camera",
    "other": "footage",
}
MOTION_PHRASES = {
    "static": "the camera holds still",
    "pan_left": "the camera pans left",
    "pan_right": "the camera pans right",
    "tilt_up": "the camera tilts up",
    "tilt_down": "the camera tilts down",
    "zoom_in": "the camera zooms in",
    "zoom_out": "the camera zooms out",
    "orbit_left": "the camera orbits to the left",
    "orbit_right": "the camera orbits to the right",
    "object_motion": "things move in front of a still camera",
    "shaky": "the camera shakes",
}


class CaptionError(ValueError):
    """A captioner cannot be built; the message says why and what to pass instead."""


@dataclass(frozen=True)
class ClipInfo:
    """What a captioner gets for one clip: its encoded file and its json so far."""

    mp4: str
    meta: dict


@runtime_checkable
class Captioner(Protocol):
    """Maps a batch of clips to one caption each; ``name`` goes into the clip json."""

    name: str

    def caption(self, clips: list[ClipInfo]) -> list[str]: ...


@functools.lru_cache(maxsize=32)
def _labels_file(path: str) -> dict:
    return json.loads(Path(path).read_text())


def simulator_labels(source: str, frames: tuple[int, int] | None) -> dict:
    """The simulator's ground truth for source frames ``[a, b)`` of ``source``, from the
    ``labels.json`` beside it (``worldfm simulate raw``): the shot overlapping them most
    (``source``, ``motion``, ``caption``) and whether an overlay covers any of them.
    Empty when there is no such file or it does not list the video."""
    labels_path = Path(source).parent / "labels.json"
    if not labels_path.is_file():
        return {}
    try:
        labels = _labels_file(str(labels_path))
    except (OSError, json.JSONDecodeError):
        return {}
    name = Path(source).name
    if name in labels.get("clips", {}):
        clip = labels["clips"][name]
        return {k: clip[k] for k in ("source", "motion", "caption", "category", "text") if k in clip}
    video = labels.get("videos", {}).get(name)
    if video is None or frames is None:
        return {}
    a, b = frames
    overlap = [(min(b, s["end"]) - max(a, s["start"]), s) for s in video["shots"]]
    best, shot = max(overlap, key=lambda o: o[0])
    if best <= 0:
        return {}
    text = any(o["start"] < b and a < o["end"] for o in video.get("overlays", []))
    return {"source": shot["source"], "motion": shot["motion"], "caption": shot["caption"], "text": text}


def _quality_phrase(score: float) -> str:
    if score >= 0.6:
        return "sharp, clean"
    if score >= 0.35:
        return "fair-quality"
    return "low-quality"


def _article(seconds: float) -> str:
    """The article before a duration: "An" where the number starts with a vowel sound (8, 11, 18,
    80-89 ... seconds), else "A"."""
    whole = int(f"{seconds:.1f}".split(".")[0])
    return "An" if str(whole).startswith("8") or whole in (11, 18) else "A"


def metadata_caption(meta: dict) -> str:
    """A descriptive caption from a clip's json (module docstring); uses whatever fields it has."""
    seconds = meta["num_frames"] / meta["fps"] if meta.get("fps") else meta["end_s"] - meta["start_s"]
    quality = meta.get("quality", {}).get("score")
    category = meta.get("category", {}).get("label")
    adjective = f"{_quality_phrase(quality)} " if quality is not None else ""
    what = CATEGORY_PHRASES.get(category, "clip") if category else "clip"
    sentences = [
        f"{_article(seconds)} {seconds:.1f}-second {adjective}{meta['width']}x{meta['height']} {what}."
    ]
    frames = meta.get("source_frames")
    sim = simulator_labels(meta.get("source", ""), tuple(frames) if frames else None)
    if sim.get("caption"):
        sentences.append(sim["caption"].rstrip(".") + ".")
    motion = meta.get("motion", {}).get("label")
    if motion in MOTION_PHRASES:
        phrase = MOTION_PHRASES[motion]
        sentences.append(phrase[0].upper() + phrase[1:] + ".")
    if meta.get("text_overlay", {}).get("text"):
        sentences.append("Burned-in text is visible.")
    return " ".join(sentences)


class MetadataCaptioner:
    """Captions from what is known (``metadata_caption``); looks at no pixels."""

    name = "metadata"

    def caption(self, clips: list[ClipInfo]) -> list[str]:
        return [metadata_caption(c.meta) for c in clips]


class VLMCaptioner:
    """A local Hugging Face vision-language model (module docstring).

    Args:
        path: a directory with the model's ``config.json``, weights and processor files.
        prompt: the instruction (or, for captioners such as BLIP, the text prefix).
        max_new_tokens: caption length cap.
    """

    def __init__(self, path: str | Path, *, prompt: str = DEFAULT_PROMPT, max_new_tokens: int = 40) -> None:
        path = Path(path)
        check_captioner_spec(f"vlm:{path}")
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as e:
            raise CaptionError(
                f"the vlm captioner needs transformers (pip install worldfm[t5]): {e}"
            ) from None
        try:
            self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError, KeyError) as e:
            raise CaptionError(
                f"{path} is not a loadable vision-language model ({type(e).__name__}: {e}); pass a directory "
                "written by save_pretrained of an image-text-to-text model and its processor"
            ) from None
        self.device = model_device()
        self.model.to(self.device)
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.name = f"vlm:{path.name}"
        self._torch = torch
        self._chat = bool(getattr(self.processor, "chat_template", None))

    def _text(self) -> str:
        if not self._chat:
            return self.prompt
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def caption(self, clips: list[ClipInfo]) -> list[str]:
        from curation.frame_sampling import sample_frames

        if not clips:
            return []
        images = []
        for clip in clips:
            frames, _, _ = sample_frames(clip.mp4, 3)
            images.append(np.ascontiguousarray(frames[len(frames) // 2]))
        inputs = self.processor(
            images=images, text=[self._text()] * len(images), return_tensors="pt", padding=True
        ).to(self.device)
        with self._torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        if self._chat:
            # Decoder-only models return the prompt too; keep only what they generated.
            out = out[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(out, skip_special_tokens=True)
        return [_strip_prompt(t, self.prompt) for t in texts]


def _strip_prompt(text: str, prompt: str) -> str:
    """Prefix captioners (BLIP) echo the prompt before the caption."""
    text = text.strip()
    if prompt and text.lower().startswith(prompt.lower()):
        text = text[len(prompt) :].strip()
    return text


def check_captioner_spec(spec: str) -> None:
    """Raise ``CaptionError`` if ``spec`` names an unknown captioner or a missing model directory
    (without loading anything, so a run can refuse bad arguments before it starts)."""
    kind, _, arg = spec.partition(":")
    if kind not in CAPTIONERS:
        raise CaptionError(f"unknown captioner {spec!r}; use metadata or vlm:<local model dir>")
    if kind == "metadata" and arg:
        raise CaptionError(f"the metadata captioner takes no argument, got {spec!r}; use metadata")
    if kind == "vlm" and not arg:
        raise CaptionError("the vlm captioner needs a local model directory: --captioner vlm:<dir>")
    if kind == "vlm" and not (Path(arg) / "config.json").is_file():
        raise CaptionError(
            f"vlm captioner: {arg} is not a model directory (no config.json); download the model yourself "
            "(e.g. `huggingface-cli download <repo> --local-dir DIR`) and pass --captioner vlm:DIR"
        )


def make_captioner(
    spec: str = "metadata", *, prompt: str = DEFAULT_PROMPT, max_new_tokens: int = 40
) -> Captioner:
    """A captioner from ``metadata`` or ``vlm:<model dir>``."""
    check_captioner_spec(spec)
    kind, _, arg = spec.partition(":")
    if kind == "metadata":
        return MetadataCaptioner()
    return VLMCaptioner(arg, prompt=prompt, max_new_tokens=max_new_tokens)

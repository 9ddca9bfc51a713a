"""Captioners (``curation.captions``): metadata captions, a tiny local VLM, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curation.captions import (
    CaptionError,
    ClipInfo,
    VLMCaptioner,
    make_captioner,
    metadata_caption,
    simulator_labels,
)
from curation.video_io import write_video

META = {"source": "", "start_s": 0.0, "end_s": 2.0, "fps": 24.0, "width": 96, "height": 64, "num_frames": 48}


def test_metadata_caption_says_what_the_stages_found(tmp_path: Path) -> None:
    labels = {
        "videos": {
            "raw_0000.mp4": {
                "shots": [
                    {
                        "start": 0,
                        "end": 30,
                        "source": "orbit",
                        "motion": "pan_left",
                        "caption": "Two red boxes.",
                    },
                    {
                        "start": 30,
                        "end": 90,
                        "source": "driving",
                        "motion": "forward",
                        "caption": "A car turns.",
                    },
                ],
                "overlays": [{"start": 80, "end": 90}],
            }
        }
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    meta = {
        **META,
        "source": str(tmp_path / "raw_0000.mp4"),
        "source_frames": [32, 80],
        "motion": {"label": "pan_left"},
        "quality": {"score": 0.7},
        "category": {"label": "driving"},
        "text_overlay": {"text": True},
    }
    caption = metadata_caption(meta)
    assert caption.startswith("A 2.0-second sharp, clean 96x64 driving footage.")
    assert "A car turns." in caption and "The camera pans left." in caption and "text" in caption
    # The overlay starts at frame 80, after these frames: the simulator saw no text there.
    assert simulator_labels(meta["source"], (32, 80))["text"] is False
    assert metadata_caption(META) == "A 2.0-second 96x64 clip."
    moving = {**META, "category": {"label": "camera_motion"}, "num_frames": 88, "fps": 11}
    assert metadata_caption(moving) == "An 8.0-second 96x64 scene filmed by a moving camera."


def _tiny_blip(folder: Path) -> Path:
    """A randomly initialised BLIP captioner with a 20-word vocabulary, saved like a download."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    folder.mkdir(parents=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "video", "of", "robot", "car"]
    words += ["scene", "describe", "this", "clip", "in", "one", "sentence", "road", "."]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tiny = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = BlipConfig(
        vision_config={**tiny, "image_size": 32, "patch_size": 16},
        text_config={**tiny, "vocab_size": len(words), "max_position_embeddings": 64, "bos_token_id": 5,
                     "pad_token_id": 0, "sep_token_id": 3, "eos_token_id": 3},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    tokenizer = BertTokenizer(vocab_file=str(folder / "vocab.txt"), bos_token="[DEC]")
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_vlm_captioner_runs_a_local_model_on_a_batch_of_clips(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = _tiny_blip(tmp_path / "blip")
    clips = []
    for i in range(3):
        frames = np.random.default_rng(i).integers(0, 256, (6, 40, 56, 3), dtype=np.uint8)
        write_video(tmp_path / f"c{i}.mp4", frames, 24.0)
        clips.append(ClipInfo(str(tmp_path / f"c{i}.mp4"), META))
    captioner = make_captioner(f"vlm:{model}", prompt="describe this clip", max_new_tokens=4)
    assert isinstance(captioner, VLMCaptioner) and captioner.name == "vlm:blip"
    captions = captioner.caption(clips)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    # Greedy decoding of the same weights: one clip alone gets the caption it got in the batch.
    assert captioner.caption(clips[1:2]) == captions[1:2]


def test_captioner_specs_fail_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CaptionError, match="no config.json"):
        make_captioner(f"vlm:{tmp_path / 'missing'}")
    with pytest.raises(CaptionError, match="needs a local model directory"):
        make_captioner("vlm")
    with pytest.raises(CaptionError, match="unknown captioner 'gpt'"):
        make_captioner("gpt")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    with pytest.raises(CaptionError, match="not a loadable vision-language model"):
        make_captioner(f"vlm:{tmp_path / 'broken'}")

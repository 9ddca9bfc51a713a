"""Generation guardrails: the prompt blocklist and face blurring."""

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from curation.guardrails import (
    DEFAULT_BLOCKLIST,
    BlockedPromptError,
    Guardrails,
    PromptBlocklist,
    blur_faces,
    default_face_detector,
)


def test_blocked_prompt_is_refused_naming_the_term():
    with pytest.raises(BlockedPromptError, match="refused by the guardrail.*'gore'") as info:
        PromptBlocklist().check("A robot arm covered in GORE picks up a cube")
    assert isinstance(info.value, ValueError) and info.value.term == "gore"


@pytest.mark.parametrize(
    "prompt",
    [
        "a robot arm pushes the red cube to the left",
        "the camera orbits a kitchen table at sunset",
        "a car overtakes a truck on a rainy highway in Essex",
        "a classy glass vase on a shelf",
    ],
)
def test_innocent_prompt_passes(prompt):
    PromptBlocklist().check(prompt)


def test_word_boundaries_are_respected():
    blocklist = PromptBlocklist(words=["ass"])
    for prompt in ["a class of students", "grass and glass", "an assembly line", "passing cars"]:
        blocklist.check(prompt)
    with pytest.raises(BlockedPromptError, match="'ass'"):
        blocklist.check("kick his ass")


@pytest.mark.parametrize(
    "prompt",
    [
        "a NUDE figure",  # case
        "nudes on a beach",  # plural
        "n u d e figure",  # spelled out
        "n.u.d.e figure",  # punctuation between letters
        "a n-u-d-e figure",  # spelled out after a one-letter word
        "nuuude figure",  # repeated letters
        "nüde figure",  # accents
        "nud3 figure",  # leetspeak
        "(nude)!!! figure",  # punctuation around
    ],
)
def test_simple_obfuscations_of_a_blocked_word_are_refused(prompt):
    with pytest.raises(BlockedPromptError, match="'nude'"):
        PromptBlocklist().check(prompt)


def test_multi_word_terms_match_across_spacing_and_punctuation():
    with pytest.raises(BlockedPromptError, match="'self harm'"):
        PromptBlocklist().check("a video about self-harm")
    with pytest.raises(BlockedPromptError, match="'self harm'"):
        PromptBlocklist().check("a video about self   harm")
    PromptBlocklist().check("a self-driving car and a harmless bunny")


def test_blocklist_loads_extra_terms_from_a_text_file(tmp_path):
    path = tmp_path / "blocklist.txt"
    path.write_text("# company terms\nacme corp\n\nzorblax  # a product codename\n")
    only_file = PromptBlocklist.from_file(path, include_default=False)
    assert only_file.terms == ("acme corp", "zorblax")
    with pytest.raises(BlockedPromptError, match="'acme corp'"):
        only_file.check("the ACME  corp. logo on a truck")
    only_file.check("a gory scene")  # defaults left out
    with_defaults = PromptBlocklist.from_file(path)
    assert set(DEFAULT_BLOCKLIST) < set(with_defaults.terms)


def test_guardrails_switches_turn_each_check_off():
    frames = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    off = Guardrails(prompt_check_enabled=False, face_blur_enabled=False)
    off.check_prompt("gore")
    assert off.postprocess(frames) is frames
    on = Guardrails(detector=lambda gray: [])
    with pytest.raises(BlockedPromptError):
        on.check_prompt("gore")
    on.check_prompt(None)
    assert np.array_equal(on.postprocess(frames), frames)


def _noise_video(t: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_blur_faces_blurs_only_boxes_from_an_injected_detector():
    frames = _noise_video(2, 240, 320)
    out, num_faces = blur_faces(frames, detector=lambda gray: [(100, 60, 80, 80)], confidence=None)
    assert num_faces == 2 and out.shape == frames.shape and out.dtype == np.uint8
    face, blurred = frames[:, 60:140, 100:180].astype(float), out[:, 60:140, 100:180].astype(float)
    assert blurred.std() < 0.2 * face.std()  # noise in the box is smoothed away
    assert np.array_equal(out[:, :, :60], frames[:, :, :60])  # far from the box nothing changes
    assert np.array_equal(out[:, 180:], frames[:, 180:])
    assert not np.shares_memory(out, frames)


def test_small_frames_are_upsampled_for_detection_and_boxes_mapped_back():
    frames = _noise_video(1, 64, 96)
    seen = []

    def detector(gray):
        seen.append(gray.shape)
        return [(96, 48, 96, 96)]  # in upsampled pixels: (32, 16, 32, 32) in the frame

    out, _ = blur_faces(frames, detector=detector, detect_min_side=192, confidence=None)
    assert seen == [(192, 288)]
    assert out[0, 16:48, 32:64].std() < 0.2 * frames[0, 16:48, 32:64].std()
    assert np.array_equal(out[0, :, 72:], frames[0, :, 72:])


def _astronaut_video(size: int) -> np.ndarray:
    image = cv2.resize(skimage_data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return image[None]


@pytest.mark.parametrize("size", [256, 64])
def test_lbp_cascade_finds_and_blurs_a_real_face(size):
    """The astronaut photo shipped in scikit-image; her face spans rows/cols ~[0.14, 0.32] x [0.34, 0.5]."""
    frames = _astronaut_video(size)
    out, num_faces = blur_faces(frames)
    assert num_faces >= 1
    r0, r1, c0, c1 = (int(f * size) for f in (0.16, 0.30, 0.36, 0.48))
    face, blurred = frames[0, r0:r1, c0:c1].astype(float), out[0, r0:r1, c0:c1].astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.5 * np.abs(np.diff(face, axis=1)).mean()


def test_lbp_cascade_finds_no_face_in_a_plain_simulator_like_frame():
    """A rendered-looking tabletop (sky gradient, floor, flat boxes, a gray arm): no detections."""
    h, w = 240, 320
    frame = np.zeros((h, w, 3), dtype=np.uint8)
    frame[: h // 2] = np.linspace(200, 120, h // 2, dtype=np.uint8)[:, None, None] * np.array([0.6, 0.8, 1.0])
    frame[h // 2 :] = (90, 80, 70)
    cv2.rectangle(frame, (60, 150), (110, 200), (200, 40, 40), -1)
    cv2.rectangle(frame, (200, 140), (260, 190), (40, 160, 60), -1)
    cv2.line(frame, (160, 0), (180, 130), (150, 150, 150), 12)
    cv2.circle(frame, (180, 135), 10, (100, 100, 100), -1)
    assert len(default_face_detector()(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))) == 0
    out, num_faces = blur_faces(frame[None])
    assert num_faces == 0 and np.array_equal(out[0], frame)


def test_grouping_keeps_scikit_images_faces_and_counts_their_windows():
    """``LBPFaceDetector`` groups the cascade's windows itself, as scikit-image does, to count them."""
    gray = cv2.cvtColor(_astronaut_video(256)[0], cv2.COLOR_RGB2GRAY)
    detector = default_face_detector()
    theirs = detector.cascade.detect_multi_scale(
        img=gray,
        scale_factor=1.2,
        step_ratio=1.0,
        min_size=(24, 24),
        max_size=(256, 256),
        min_neighbor_number=4,
    )
    assert len(theirs) >= 1
    assert sorted(detector(gray)) == sorted((d["c"], d["r"], d["width"], d["height"]) for d in theirs)
    counted = detector.detect_scored(gray, min_neighbors=1)
    assert sorted(box for box, n in counted if n >= 4) == sorted(detector(gray))
    assert len(counted) > len(theirs)


def _driving_canvas(seed: int, frames: int) -> np.ndarray:
    """The first scripted driving episode of ``seed``: the world model's 64 x 192 left | front | right."""
    from envs.sim.driving import generate_episodes

    episode = next(iter(generate_episodes(1, size=64, seed=seed, frames_per_episode=frames)))
    return np.concatenate([episode.frames[view] for view in ("left", "front", "right")], axis=2)


def test_driving_frames_the_old_rule_blurred_are_left_alone():
    """A grey facade's window bands at the left | front seam pass the cascade with 6 windows in frame 0.

    The old rule blurred them (issue 22); they hold no skin colour, so the new one leaves them.
    """
    canvas = _driving_canvas(seed=4, frames=16)[:8]
    gray = cv2.resize(cv2.cvtColor(canvas[0], cv2.COLOR_RGB2GRAY), (576, 192), interpolation=cv2.INTER_LINEAR)
    old_rule = default_face_detector()(gray)  # the old rule blurred every detection of 4+ windows
    assert len(old_rule) == 1, (
        "the old rule no longer fires on this clip; pick another with benchmarks/face_blur.py"
    )
    out, num_faces = blur_faces(canvas)
    assert num_faces == 0 and np.array_equal(out, canvas)


def _astronaut_clip(size: int, frames: int) -> np.ndarray:
    """The astronaut photo at ``size`` px, the view panning 1 px a frame: a face clip as a model makes."""
    image = cv2.resize(skimage_data.astronaut(), (size + frames, size + frames), interpolation=cv2.INTER_AREA)
    return np.stack([image[t // 2 : t // 2 + size, t : t + size] for t in range(frames)])


def test_a_real_face_clip_is_still_blurred():
    frames = _astronaut_clip(128, 8)
    out, num_faces = blur_faces(frames)
    assert num_faces >= len(frames) - 1
    r0, r1, c0, c1 = (int(f * 128) for f in (0.16, 0.30, 0.36, 0.48))
    face, blurred = frames[:, r0:r1, c0:c1].astype(float), out[:, r0:r1, c0:c1].astype(float)
    assert np.abs(np.diff(blurred, axis=2)).mean() < 0.5 * np.abs(np.diff(face, axis=2)).mean()


ASTRONAUT_FACE_256 = (90, 40, 40, 40)
# her face's box (x, y, w, h) in the 256 px astronaut frame.


def test_a_detection_in_one_frame_alone_is_not_blurred():
    frames = np.repeat(_astronaut_video(256), 5, axis=0)
    flicker = iter([[], [], [ASTRONAUT_FACE_256], [], []])
    out, num_faces = blur_faces(frames, detector=lambda gray: next(flicker))
    assert num_faces == 0 and np.array_equal(out, frames)
    out, num_faces = blur_faces(frames, detector=lambda gray: [ASTRONAUT_FACE_256])
    assert num_faces == 5 and not np.array_equal(out, frames)


def test_a_box_without_skin_colour_is_blurred_only_in_black_and_white_frames():
    """Colour frames need a skin-coloured box centre; black and white can't tell skin, so it can't veto."""
    frame = np.zeros((96, 96, 3), dtype=np.uint8)
    frame[:48], frame[48:] = (90, 140, 220), (60, 140, 50)  # sky, grass
    frame[24:72, 24:72] = 150  # a grey facade
    frame[36:42, 24:72] = frame[54:60, 24:72] = 60  # with dark window bands
    colour = np.repeat(frame[None], 3, axis=0)
    gray = np.repeat(cv2.cvtColor(colour.reshape(-1, 96, 3), cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    facade = (48, 48, 96, 96)  # in the 2x upsampled frame the detector sees: (24, 24, 48, 48) in the frame
    assert blur_faces(colour, detector=lambda g: [facade])[1] == 0
    assert blur_faces(gray.reshape(colour.shape), detector=lambda g: [facade])[1] == 3


def test_postprocess_report_returns_the_frames_and_the_number_of_faces_blurred():
    frames = np.repeat(_astronaut_video(256), 3, axis=0)
    guardrails = Guardrails(detector=lambda gray: [ASTRONAUT_FACE_256])
    out, num_faces = guardrails.postprocess_report(frames)
    assert num_faces == 3 and not np.array_equal(out, frames)
    assert np.array_equal(guardrails.postprocess(frames), out)
    out, num_faces = Guardrails(face_blur_enabled=False).postprocess_report(frames)
    assert out is frames and num_faces == 0
    out, num_faces = Guardrails(detector=lambda gray: []).postprocess_report(frames)
    assert num_faces == 0 and np.array_equal(out, frames)


@pytest.mark.parametrize(
    "prompt",
    [
        "a NUD\u0415 robot arm",  # Cyrillic capital Ie (the /generate bypass of the issue)
        "a nud\u0435 robot arm",  # Cyrillic small ie
        "a \u039dUDE figure",  # Greek capital Nu
        "a n\u03c5de figure",  # Greek small upsilon
        "a \u0274\u1d1c\u1d05\u1d07 figure",  # Latin small capitals
        "a \uff4e\uff55\uff44\uff45 figure",  # full-width letters (NFKC)
        "a nu\u200bde figure",  # zero-width space
        "a nu\u200dde figure",  # zero-width joiner
        "a nu\u00adde figure",  # soft hyphen
        "a \ufeffnude figure",  # byte-order mark
        "a nu-de figure",  # a separator between letters
        "a nu_d.e figure",  # several
        "a n00d3 figure",  # leetspeak digits, 0 for u
        "a nudebeach",  # glued to the next word
        "a robotnude",  # glued to the previous one
        "a robot-nudes scene",  # glued by a separator, plural
    ],
)
def test_unicode_and_separator_bypasses_of_a_blocked_word_are_refused(prompt):
    with pytest.raises(BlockedPromptError, match="'nude'"):
        PromptBlocklist().check(prompt)


def test_multi_word_and_short_terms_are_refused_through_the_same_bypasses():
    with pytest.raises(BlockedPromptError, match="'self harm'"):
        PromptBlocklist().check("a video about selfharm")
    with pytest.raises(BlockedPromptError, match="'sex'"):
        PromptBlocklist().check("a s-\u0435-x scene")


@pytest.mark.parametrize(
    "prompt",
    [
        "push the red block",
        "assess the nudibranch on the reef",
        "a bunch of grapes beside the drapes",
        "a category of objects",
        "a sextant and a parapet in Sussex",
        "a therapeutic massage chair",
        "a self-driving car in a denuded landscape",
        "a ｒｏｂｏｔ arm picks up a cube",  # full-width, innocent
        "a car on the 101 at 4 pm",
    ],
)
def test_ordinary_prompts_still_pass_the_normalised_checks(prompt):
    PromptBlocklist().check(prompt)

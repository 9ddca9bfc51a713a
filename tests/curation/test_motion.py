"""Camera motion (``curation.motion``): the global fit against its definition, the labelling rules,
and labels of orbit clips whose camera paths are known."""

from __future__ import annotations

import numpy as np
import pytest

from curation.motion import (
    MOTION_LABELS,
    GlobalMotion,
    MotionConfig,
    classify_motion,
    fit_global_motion,
    video_motion,
)
from curation.video_io import encode_video
from envs.sim.orbit import FPS, generate_episodes


def _affine_flow(h: int, w: int, tx: float, ty: float, a: float, b: float, c: float, d: float) -> np.ndarray:
    """The flow (H, W, 2) in pixels of ``u = tx + a x + b y``, ``v = ty + c x + d y`` (normalised units)."""
    half = max(h, w) / 2
    ys, xs = np.mgrid[0:h, 0:w]
    x, y = (xs - (w - 1) / 2) / half, (ys - (h - 1) / 2) / half
    return np.stack([tx + a * x + b * y, ty + c * x + d * y], axis=-1) * half


def test_global_fit_recovers_an_exact_affine_flow() -> None:
    flow = _affine_flow(24, 32, tx=0.1, ty=-0.05, a=0.03, b=0.2, c=-0.02, d=0.05)
    fit = fit_global_motion(flow)
    assert fit.tx == pytest.approx(0.1) and fit.ty == pytest.approx(-0.05)
    assert fit.divergence == pytest.approx(0.04) and fit.shear == pytest.approx(0.2)
    assert fit.rotation == pytest.approx((-0.02 - 0.2) / 2) and fit.residual == pytest.approx(0, abs=1e-9)


def test_global_fit_ignores_a_small_moving_object() -> None:
    flow = _affine_flow(32, 32, tx=0.2, ty=0.0, a=0, b=0, c=0, d=0)
    flow[4:10, 4:10] = [-5.0, 3.0]  # 3.5% of the frame moves on its own
    fit = fit_global_motion(flow)
    assert fit.tx == pytest.approx(0.2, abs=1e-6) and fit.ty == pytest.approx(0.0, abs=1e-6)
    assert fit.residual > 0


def _fits(n: int = 8, **kw: float) -> list[GlobalMotion]:
    base = {
        "tx": 0.0,
        "ty": 0.0,
        "divergence": 0.0,
        "rotation": 0.0,
        "shear": 0.0,
        "speed": 0.1,
        "residual": 0.0,
    }
    return [GlobalMotion(**{**base, **kw}) for _ in range(n)]


@pytest.mark.parametrize(
    ("fit", "label"),
    [
        ({"tx": 0.05}, "pan_left"),
        ({"tx": -0.05}, "pan_right"),
        ({"ty": 0.05}, "tilt_up"),
        ({"ty": -0.05}, "tilt_down"),
        ({"divergence": 0.2}, "zoom_in"),
        ({"divergence": -0.2}, "zoom_out"),
        ({"shear": 0.2, "tx": 0.02}, "orbit_left"),
        ({"shear": -0.2, "tx": 0.02}, "orbit_right"),
        ({"tx": 0.05, "residual": 0.09}, "object_motion"),
        ({"speed": 0.001}, "static"),
    ],
)
def test_labels_follow_the_dominant_global_motion(fit: dict, label: str) -> None:
    result = classify_motion(_fits(**fit), per_second=12.0)
    assert result["label"] == label and label in MOTION_LABELS


def test_translation_that_keeps_reversing_is_shaky() -> None:
    fits = [
        GlobalMotion(tx=0.06 * (-1) ** i, ty=0.0, divergence=0, rotation=0, shear=0, speed=0.06, residual=0)
        for i in range(8)
    ]
    result = classify_motion(fits, per_second=12.0)
    assert result["label"] == "shaky" and result["jitter"] == pytest.approx(0.72)
    steady = classify_motion(_fits(tx=0.06, speed=0.06), per_second=12.0)
    assert steady["label"] == "pan_left" and steady["pan"] == pytest.approx(-0.72)


def test_bad_motion_settings_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="object_residual"):
        MotionConfig(object_residual=1.5)
    with pytest.raises(ValueError, match="at least one"):
        classify_motion([], per_second=1.0)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        fit_global_motion(np.zeros((4, 4)))


# One clip per camera path; the benchmark (benchmarks/motion_labels.py) measures all of them.
@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("static", "static"),
        ("pan_left", "pan_left"),
        ("tilt_down", "tilt_down"),
        ("zoom_in", "zoom_in"),
        ("dolly_out", "zoom_out"),
        ("orbit_right", "orbit_right"),
    ],
)
def test_orbit_clips_get_the_label_of_their_camera_path(path: str, label: str) -> None:
    (episode,) = generate_episodes(1, size=64, seed=3, motions=(path,))
    motion = video_motion(encode_video(episode.frames["main"], FPS))
    assert motion["label"] == label, motion

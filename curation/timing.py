"""A video's frame times from its own frames, and the header's claims checked against them.

A container's header (mp4 ``mvhd`` / ``tkhd`` / ``mdhd`` / ``elst`` durations, the frame
rate FFmpeg averages from them) is a claim; the timestamps of the frames that are really
there are the evidence. Curation plans and labels clips from the evidence:

- ``frame_timing`` turns the video packets' timestamps into per-frame times, the mean
  frame rate and whether the rate varies (phones and screen recorders write variable
  frame rate video, whose container "average" rate is no frame's real rate);
- ``check_claims`` compares the header with them: a duration claim the frames do not
  fill is cut to what the frames hold, with a note for the clip json; frames timed so
  far apart that they cannot be video (a header that says 4 s of frames last 10 hours)
  are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

# Below this mean rate (one frame per second) the frames are not footage to learn motion
# from; in practice it is a header that stretches seconds of frames over hours.
MIN_FPS = 1.0
# A header duration this far off the frames' span (seconds, and share of the span) is
# noted; container rounding and a last frame's duration stay well under both.
CLAIM_TOLERANCE_S = 1.0
CLAIM_TOLERANCE_SHARE = 0.05


@dataclass(frozen=True)
class FrameTiming:
    """When each frame of a video is shown.

    Attributes:
        times: presentation time of each frame in seconds from the first (sorted).
        fps: mean frame rate, ``(T - 1) / (times[-1] - times[0])``; exact for constant rates.
        variable: whether the intervals between frames differ (beyond timestamp rounding).
        coded_fps: the rate the video bitstream itself declares (H.264 VUI timing), 0 if none.
    """

    times: tuple[float, ...]
    fps: float
    variable: bool
    coded_fps: float = 0.0

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def last_interval(self) -> float:
        """How long the last frame is shown: one frame interval, the last one at a variable rate."""
        return self.times[-1] - self.times[-2] if self.variable else 1 / self.fps

    @property
    def duration_s(self) -> float:
        """The frames' span, the last frame included (``T / fps`` at a constant rate)."""
        return self.times[-1] + self.last_interval if self.variable else self.num_frames / self.fps

    def end_of(self, index: int) -> float:
        """When frame ``index`` stops being shown: the next frame's time, or ``last_interval`` on."""
        if index + 1 < len(self.times):
            return self.times[index + 1]
        return self.times[index] + self.last_interval


def frame_timing(
    pts: Sequence[int], time_base: Fraction, *, header_fps: float, coded_fps: float = 0.0
) -> FrameTiming:
    """Frame times from the packets' presentation timestamps (``time_base`` ticks, any order).

    A difference of one tick between intervals is timestamp rounding (24 fps in a 1/1000
    time base alternates 41 and 42 ms), not a variable rate; the rate of such a constant-rate
    video is the header's ``header_fps`` when it agrees within 1 % (the header holds the exact
    fraction the ticks round), else the frames' mean. A one-frame video has no interval and
    keeps ``header_fps``.
    """
    ticks = sorted(pts)
    if not ticks:
        raise ValueError("no frames to time")
    first = ticks[0]
    times = tuple(float((t - first) * time_base) for t in ticks)
    if len(ticks) < 2 or ticks[-1] == first:
        return FrameTiming(times, header_fps, False, coded_fps)
    fps = float(Fraction(len(ticks) - 1) / ((ticks[-1] - first) * time_base))
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    variable = max(gaps) - min(gaps) > 1 and max(gaps) > 1.02 * min(gaps)
    if not variable and abs(header_fps - fps) < 0.01 * fps:
        fps = header_fps
    return FrameTiming(times, fps, variable, coded_fps)


class ImplausibleTimingError(Exception):
    """The frames' own timestamps cannot be a video's; the message says why."""


def check_claims(claimed_seconds: float, timing: FrameTiming) -> str | None:
    """Check a header's duration claim against the frames; returns a note for the clip json or None.

    Raises:
        ImplausibleTimingError: the frames are timed more than ``1 / MIN_FPS`` s apart on
            average (the header stretches them), whatever the duration claimed.
    """
    if timing.num_frames > 1 and timing.fps < MIN_FPS:
        coded = (
            f"; the video stream itself is coded at {timing.coded_fps:g} fps, "
            f"{timing.num_frames / timing.coded_fps:.3f} s"
            if timing.coded_fps >= MIN_FPS
            else ""
        )
        raise ImplausibleTimingError(
            f"implausible timing: the header times its {timing.num_frames} frames "
            f"{timing.duration_s:.0f} s long, one frame every {1 / timing.fps:.3g} s "
            f"({timing.fps:.3g} fps){coded}; the header does not describe these frames"
        )
    span = timing.duration_s
    if abs(claimed_seconds - span) > max(CLAIM_TOLERANCE_S, CLAIM_TOLERANCE_SHARE * span):
        return (
            f"the header claims {claimed_seconds:.3f} s but the {timing.num_frames} frames span "
            f"{span:.3f} s: clips are cut from the frames and timed by them"
        )
    return None

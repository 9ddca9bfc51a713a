"""``WebConfig``: what ``worldfm demo`` serves, where, and within which limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from worldmodel.shipped import SHIPPED_CHECKPOINTS

# The environment variable holding ``USER:PASS`` when ``--auth`` is not given (it stays out of
# the process list and the shell history).
AUTH_ENV = "WORLDFM_AUTH"


@dataclass
class WebConfig:
    """Settings of one web-app server.

    The defaults serve the shipped checkpoints on this machine only.
    """

    host: str = "127.0.0.1"
    # 7860 is Gradio's usual port, so links in docs and muscle memory work.
    port: int = 7860
    checkpoints: Path = SHIPPED_CHECKPOINTS
    # Every file the app writes (videos, .rrd, shards) lives here; it is the only folder served.
    out: Path = Path("demo_out/web")
    # Uploads larger than this are refused by the server before any handler runs.
    max_file_size_mb: float = 50.0
    # Jobs run one at a time per event: two CPU cores cannot run two models faster.
    concurrency: int = 1
    # Longest video (frames) any tab decodes from an upload; more is cut, with a warning.
    max_frames: int = 64
    # The Inspect tab serves its offline copy of Rerun's web viewer on this port (0: a free port).
    rerun_port: int = 9090
    # USER:PASS a browser must log in with (Gradio's auth); empty: WORLDFM_AUTH, else no login.
    auth: str = field(default="", repr=False)
    # Requests waiting in the queue at most; more are refused at once ("queue full").
    queue_size: int = 16
    # Uploads and results in Gradio's cache older than this are deleted (checked as often).
    cache_minutes: float = 60.0
    # Budget of one uploaded video or image, read from its header before decoding: width x height x
    # frames decoded (millions; 64 frames of 1080p is 133), and the container's duration.
    max_upload_megapixels: float = 144.0
    max_upload_seconds: float = 600.0

    def __post_init__(self) -> None:
        self.checkpoints = Path(self.checkpoints)
        self.out = Path(self.out).resolve()
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.max_file_size_mb <= 0:
            raise ValueError(f"max_file_size_mb must be > 0, got {self.max_file_size_mb}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        self.auth = self.auth or os.environ.get(AUTH_ENV, "")
        user, _, password = self.auth.partition(":")
        if self.auth and not (user and password):
            raise ValueError(f"--auth / {AUTH_ENV} must be USER:PASS with both parts non-empty")
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {self.queue_size}")
        for name in ("cache_minutes", "max_upload_megapixels", "max_upload_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def upload_budget(self):  # noqa: ANN201 - an app.web.media.UploadBudget (imports gradio: lazily)
        """What one upload may cost (``app.web.media``)."""
        from app.web.media import UploadBudget

        return UploadBudget(
            max_frames=self.max_frames,
            max_megapixels=self.max_upload_megapixels,
            max_seconds=self.max_upload_seconds,
            max_bytes=int(self.max_file_size_mb * 2**20),
        )

    @property
    def credentials(self) -> tuple[str, str] | None:
        """``(user, password)`` for Gradio's login, or None when the app needs none."""
        if not self.auth:
            return None
        user, _, password = self.auth.partition(":")
        return user, password

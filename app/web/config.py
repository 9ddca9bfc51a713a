"""``WebConfig``: what ``worldfm demo`` serves, where, and within which limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worldmodel.shipped import SHIPPED_CHECKPOINTS


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

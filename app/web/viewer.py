"""Inspect: the last rollout of this session in an embedded Rerun web viewer.

The viewer is the one ``rerun-sdk`` ships (``rerun.serve_web_viewer``), served on its own port
and shown in an iframe that opens the session's ``.rrd`` through Gradio's file route, so the
recording never leaves the app's output folder. (``gradio-rerun`` would embed the viewer as a
component, but every release pins an older ``rerun-sdk`` than the one worldfm records with.)
"""

from __future__ import annotations

import html
import logging
import socket
import urllib.parse
from pathlib import Path

import gradio as gr
import rerun as rr

from app.web.media import Outputs, user_errors

logger = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RerunViewer:
    """Rerun's web viewer, started on first use on ``port`` (0: a free one)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._started = False

    def ensure_started(self) -> int:
        if not self._started:
            self.port = self.port or free_port()
            rr.serve_web_viewer(web_port=self.port, open_browser=False)
            self._started = True
            logger.info("Rerun web viewer on port %d", self.port)
        return self.port


class InspectTab:
    def __init__(self, outputs: Outputs, viewer: RerunViewer) -> None:
        self.outputs = outputs
        self.viewer = viewer

    @user_errors
    def show(self, last_rrd: str | None, request: gr.Request) -> tuple[str, str]:
        """The viewer iframe for the session's last ``.rrd`` and the file itself for download."""
        if not last_rrd:
            raise gr.Error("No rollout yet: play an episode and save it, or generate a video, first.")
        path = Path(last_rrd).resolve()
        if not path.is_file() or self.outputs.root not in path.parents:
            raise gr.Error("That recording is gone (old outputs are pruned); make a new one.")
        port = self.viewer.ensure_started()
        # The browser reached Gradio at this host; the viewer and the file are fetched from it too.
        host = request.headers.get("host", "127.0.0.1")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        scheme = request.headers.get("x-forwarded-proto", "http")
        rrd_url = f"{scheme}://{host}/gradio_api/file={urllib.parse.quote(str(path))}"
        src = f"{scheme}://{hostname}:{port}/?url={urllib.parse.quote(rrd_url, safe='')}"
        frame = (
            f'<iframe src="{html.escape(src)}" title="Rerun viewer" '
            'style="width:100%;height:640px;border:0" allow="fullscreen"></iframe>'
            f'<p>Open the viewer <a href="{html.escape(src)}" target="_blank">in its own tab</a>.</p>'
        )
        return frame, str(path)


def build_inspect_tab(tab: InspectTab, last_rrd: gr.State) -> None:
    gr.Markdown(
        "The last rollout of this session (Play: *Save episode*, or Generate) in the Rerun viewer: "
        "predicted and true frames on one `step` timeline, with the per-step PSNR and actions."
    )
    show = gr.Button("Show the last rollout", variant="primary")
    viewer = gr.HTML()
    rrd = gr.File(label="recording (.rrd)", interactive=False)
    show.click(tab.show, [last_rrd], [viewer, rrd], api_name="inspect")

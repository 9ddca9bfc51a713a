"""Inspect: the last rollout of this session in an embedded Rerun web viewer, served offline.

The viewer is the one ``rerun-sdk`` ships. Served as Rerun serves it, the page reaches outside
the machine: it loads Google Fonts, and its wasm posts usage analytics to ``tel.rerun.io`` and
asks ``api.github.com`` for the latest release. So the app copies the viewer's files once per
Rerun version (from Rerun's own server, run for a moment on 127.0.0.1 with analytics off) into
a cache folder, drops the external font links from its page, and serves them itself, on the
app's host, with a Content-Security-Policy that lets the page connect only to this machine's
app. The recording is opened through Gradio's file route, so it never leaves the output folder.
(``gradio-rerun`` would embed the viewer as a component, but every release pins an older
``rerun-sdk`` than the one worldfm records with.)
"""

from __future__ import annotations

import html
import http.server
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import gradio as gr
import rerun as rr

from app.web.media import Outputs, user_errors
from worldmodel.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

# What the viewer page loads (index.html names the first two; the wasm is fetched by the page).
VIEWER_FILES = {
    "index.html": "text/html; charset=utf-8",
    "re_viewer.js": "text/javascript",
    "re_viewer_bg.wasm": "application/wasm",
    "favicon.ico": "image/x-icon",
    "apple-touch-icon.png": "image/png",
}
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*/?>\s*", re.IGNORECASE | re.DOTALL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_origin(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """``(host, hostname, scheme)`` the browser used to reach this server, from a request's headers
    (case-insensitive mappings: Gradio's and http.server's both are)."""
    host = headers.get("host", "127.0.0.1")
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return host, hostname, headers.get("x-forwarded-proto", "http")


def offline_index(page: str) -> str:
    """The viewer's ``index.html`` without its links to outside hosts (Google Fonts)."""
    return _EXTERNAL_LINK.sub("", page)


def viewer_csp(scheme: str, hostname: str) -> str:
    """The Content-Security-Policy of the viewer page: nothing may be fetched from another host.

    ``connect-src`` allows the host the browser reached the page at, on any port, because the
    recording comes from Gradio's port. Wasm needs ``'wasm-unsafe-eval'``; the page's own
    scripts are inline. Blocked: analytics, the release check, fonts and scripts from the web.
    """
    here = f"{scheme}://{hostname}:*"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "worker-src 'self' blob:",
            f"connect-src 'self' {here} data: blob:",
        ]
    )


def viewer_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "worldfm" / f"rerun-web-viewer-{rr.__version__}"


def _wait_until_serving(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Rerun's viewer server exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"Rerun's viewer server did not answer at {url} within {timeout_s:.0f} s")


def copy_viewer(dest: Path, timeout_s: float = 60.0) -> Path:
    """Copy Rerun's web viewer into ``dest`` (once; later calls reuse it) and return ``dest``."""
    if all((dest / name).is_file() for name in VIEWER_FILES):
        return dest
    web_port, grpc_port = free_port(), free_port()
    # `--bind 127.0.0.1`: the copy is never served beyond this machine. `CI=1` is the switch
    # Rerun's analytics pipeline reads to stay off (re_analytics, `Pipeline::new`).
    cmd = [sys.executable, "-m", "rerun_cli", "--serve-web", "--bind", "127.0.0.1"]
    cmd += ["--web-viewer-port", str(web_port), "--port", str(grpc_port)]
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{web_port}/"
        _wait_until_serving(base + "index.html", proc, timeout_s)
        for name in VIEWER_FILES:
            with urllib.request.urlopen(base + name, timeout=timeout_s) as response:
                data = response.read()
            if name == "index.html":
                data = offline_index(data.decode()).encode()
            atomic_write_bytes(dest / name, data)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    logger.info("Rerun %s web viewer copied to %s", rr.__version__, dest)
    return dest


class _ViewerHandler(http.server.BaseHTTPRequestHandler):
    root: Path  # set on the subclass made per server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = urllib.parse.urlsplit(self.path).path.lstrip("/") or "index.html"
        if name not in VIEWER_FILES:
            self.send_error(404)
            return
        body = (self.root / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", VIEWER_FILES[name])
        self.send_header("Content-Length", str(len(body)))
        if name == "index.html":
            _, hostname, scheme = request_origin(self.headers)
            self.send_header("Content-Security-Policy", viewer_csp(scheme, hostname))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        logger.debug("viewer: " + format, *args)


class RerunViewer:
    """The offline Rerun web viewer, started on first use on ``host:port`` (port 0: a free one)."""

    def __init__(self, port: int, host: str = "127.0.0.1", cache: Path | None = None) -> None:
        self.port = port
        self.host = host
        self.cache = cache or viewer_cache_dir()
        self._server: http.server.ThreadingHTTPServer | None = None

    def ensure_started(self) -> int:
        if self._server is None:
            root = copy_viewer(self.cache)
            handler = type("ViewerHandler", (_ViewerHandler,), {"root": root})
            self._server = http.server.ThreadingHTTPServer((self.host, self.port), handler)
            self.port = int(self._server.server_address[1])
            threading.Thread(target=self._server.serve_forever, name="rerun-viewer", daemon=True).start()
            logger.info("Rerun web viewer (offline copy) on %s:%d", self.host, self.port)
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


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
        host, hostname, scheme = request_origin(request.headers)
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

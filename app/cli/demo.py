"""``worldfm demo``: the web app on the shipped checkpoints, or with ``--offline`` the recorded preview.

The server's options are ``app.web.config.WebConfig``'s fields.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.cli.common import UserError, summary
from app.cli.options import add_options, values

EXAMPLES = """examples:
  worldfm demo                                   # the web app on http://127.0.0.1:7860
  WORLDFM_AUTH=me:secret worldfm demo --host 0.0.0.0 --port 8080 --checkpoints runs/
  worldfm demo --offline --out /tmp/demo --episodes 4   # no server: shards, preview.mp4, episode.rrd
"""
SERVER = (
    "host",
    "port",
    "auth",
    "checkpoints",
    "max_file_size_mb",
    "max_upload_megapixels",
    "max_upload_seconds",
    "concurrency",
    "queue_size",
    "cache_minutes",
    "max_frames",
    "rerun_port",
)
# WebConfig documents its fields in comments, which argparse cannot read: their help, for the user.
SERVER_HELP = {
    "host": "address to serve on (127.0.0.1: this machine only; anything else warns, see --auth)",
    "auth": "USER:PASS a browser must log in with (default: the WORLDFM_AUTH environment variable, "
    "which keeps the password out of the process list; none: no login)",
    "max_upload_megapixels": "an upload's width x height x frames decoded, millions, at most",
    "max_upload_seconds": "an uploaded video's duration at most",
    "queue_size": "requests waiting at most (more are refused)",
    "cache_minutes": "uploads and results older than this are deleted from Gradio's cache",
    "checkpoints": "folder of checkpoint folders",
    "max_file_size_mb": "largest upload accepted",
    "concurrency": "jobs run at once per event",
    "max_frames": "frames read from an upload at most",
    "rerun_port": "port of the embedded Rerun viewer",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from app.web.config import WebConfig

    demo = sub.add_parser(
        "demo",
        help="the web app (play, generate, tokenize, curate, inspect); --offline: the recorded preview",
        description="Serve the worldfm web app on the checkpoints in --checkpoints. With --offline, "
        "run the end-to-end demo without a server instead: record Fetch, orbit and driving episodes, "
        "write them as shards, a side-by-side preview mp4 and a Rerun recording.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="demo_out", help="output folder (the web app writes to OUT/web)")
    add_options(demo, WebConfig, SERVER, help=SERVER_HELP)
    demo.add_argument("--offline", action="store_true", help="no server: record episodes and a preview")
    demo.add_argument("--episodes", type=int, default=2, help="--offline: Fetch episodes to record")
    demo.add_argument("--size", type=int, default=64, help="--offline: render size in pixels")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.offline:
        return serve_web_app(args)
    from app.preview import run_demo

    start = time.perf_counter()
    paths = run_demo(Path(args.out), episodes=args.episodes, size=args.size, seed=args.seed)
    summary(f"demo done in {time.perf_counter() - start:.1f} s:")
    for name, path in paths.items():
        summary(f"  {name:8s} {path}")
    return 0


def exposure_warning(config) -> str | None:  # noqa: ANN001 - a WebConfig (imported lazily)
    """What to tell the user when the app listens beyond this machine; None on loopback."""
    from curation.local_ray import is_loopback

    if is_loopback(config.host):
        return None
    login = (
        "a login is required (--auth)"
        if config.credentials
        else "with no login (set --auth USER:PASS or WORLDFM_AUTH)"
    )
    return (
        f"serving on {config.host}: anyone who can reach port {config.port} (and the Rerun viewer's "
        f"{config.rerun_port or 'port'}) can use the app, {login}; traffic is plain HTTP: put it "
        "behind a TLS reverse proxy (README, Security)"
    )


def serve_web_app(args: argparse.Namespace) -> int:
    from app.web.app import WebApp
    from app.web.config import WebConfig

    try:
        config = WebConfig(**values(args, SERVER), out=Path(args.out) / "web")
    except ValueError as e:
        raise UserError(str(e)) from None
    if not config.checkpoints.is_dir():
        raise UserError(f"--checkpoints {config.checkpoints} is not a folder")
    warning = exposure_warning(config)
    if warning:
        print(f"worldfm demo: warning: {warning}", file=sys.stderr)
    app = WebApp(config)
    summary(f"worldfm web app on http://{config.host}:{config.port} (Ctrl+C stops it)")
    try:
        app.launch(block=True)
    finally:
        app.close()
    return 0

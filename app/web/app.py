"""Assemble the tabs into one Gradio page and serve it (``worldfm demo``)."""

from __future__ import annotations

import logging

import gradio as gr

from app.web.catalog import Catalog
from app.web.config import WebConfig
from app.web.curate import CurateTab, build_curate_tab
from app.web.generate import GenerateTab, build_generate_tab
from app.web.media import Outputs
from app.web.plan import PlanPanel, build_plan_section
from app.web.play import KEYBOARD_JS, PlayTab, build_play_tab
from app.web.tokens import TokenizeTab, build_tokenize_tab
from app.web.viewer import InspectTab, RerunViewer, build_inspect_tab, free_port

logger = logging.getLogger(__name__)

TABS = ("Play", "Generate", "Tokenize", "Curate", "Inspect")


class WebApp:
    """The page and the state every session shares (loaded models, simulators, outputs)."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.catalog = Catalog(config.checkpoints)
        self.outputs = Outputs(config.out)
        budget = config.upload_budget()
        self.play = PlayTab(self.catalog, self.outputs, config.max_frames, budget=budget)
        self.planner = PlanPanel(self.catalog, self.outputs, self.play.sims)
        self.generate = GenerateTab(self.catalog, self.outputs, self.play.sims, budget)
        self.tokenize = TokenizeTab(self.catalog, self.outputs, budget)
        self.curate = CurateTab(self.outputs)
        self.viewer = RerunViewer(config.rerun_port, config.host)
        self.inspect = InspectTab(self.outputs, self.viewer)
        self.blocks = self._build()

    def _build(self) -> gr.Blocks:
        # No usage analytics or version check calls to Gradio's servers: the app works offline.
        # Gradio keeps every upload and result it serves in its cache; without this it never
        # deletes them. (Seconds between checks, age in seconds from which a file goes.)
        cache_s = int(self.config.cache_minutes * 60)
        with gr.Blocks(title="worldfm", analytics_enabled=False, delete_cache=(cache_s, cache_s)) as blocks:
            gr.Markdown(
                "# worldfm\nAn open world-foundation-model platform: drive a learned world, generate, "
                f"tokenize, curate and inspect. Checkpoints: `{self.config.checkpoints.name}/`."
            )
            # The session's last rollout (.rrd path), written by Play and Generate, shown by Inspect.
            last_rrd = gr.State(None)
            with gr.Tabs():
                with gr.Tab(TABS[0], id="play"):
                    play = build_play_tab(self.play, self.catalog, last_rrd)
                    build_plan_section(self.planner, play)
                with gr.Tab(TABS[1], id="generate"):
                    build_generate_tab(self.generate, self.catalog, last_rrd)
                with gr.Tab(TABS[2], id="tokenize"):
                    build_tokenize_tab(self.tokenize, self.catalog)
                with gr.Tab(TABS[3], id="curate"):
                    build_curate_tab(self.curate)
                with gr.Tab(TABS[4], id="inspect"):
                    build_inspect_tab(self.inspect, last_rrd)
        blocks.queue(default_concurrency_limit=self.config.concurrency, max_size=self.config.queue_size)
        return blocks

    def launch(self, *, block: bool = True) -> str:
        """Serve the page; returns its URL. ``block=False`` returns at once (tests)."""
        self.blocks.launch(
            server_name=self.config.host,
            server_port=self.config.port or free_port(),
            max_file_size=int(self.config.max_file_size_mb * 2**20),
            # Only the app's own outputs may be sent; uploads live in Gradio's cache, served by it.
            allowed_paths=[str(self.outputs.root)],
            auth=self.config.credentials,
            auth_message="worldfm: log in with the --auth / WORLDFM_AUTH user and password",
            js=KEYBOARD_JS,
            show_error=False,
            prevent_thread_lock=not block,
            quiet=not block,
        )
        return self.blocks.local_url

    def close(self) -> None:
        self.blocks.close()
        self.viewer.close()
        self.play.sims.close()

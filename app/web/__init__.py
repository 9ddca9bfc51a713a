"""The worldfm web app (``worldfm demo``): one Gradio page with a tab per stage.

Play a learned world, generate video, tokenize, curate and inspect rollouts in Rerun. Each tab is
a thin module over the package APIs (``worldmodel.world.WorldModel``, ``worldmodel.hub``,
``curation``, ``envs``); ``app.web.app`` assembles them and launches the server.
"""

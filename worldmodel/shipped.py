"""The folder of the checkpoints that ship with worldfm: the one place that names it.

A module of its own, free of torch, so that ``import envs`` (which registers an env per shipped
world model), the web app's settings and the CLI's defaults can name the folder without paying
for a torch import.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
"""``checkpoints/`` beside the packages: small trained models, each a checkpoint directory with
its ``MODEL_CARD.md``."""

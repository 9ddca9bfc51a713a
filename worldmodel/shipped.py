"""The folder of the checkpoints that ship with worldfm: the one place that names it.

A module of its own, free of torch, so that ``import envs`` (which registers an env per shipped
world model), the web app's settings and the CLI's defaults can name the folder without paying
for a torch import.

In a source checkout the folder is ``checkpoints/`` beside the packages. An installed wheel carries
the same folder as the data-only import package ``worldfm_checkpoints`` (``setup.py`` maps it), so
the shipped models are found from any working directory after ``pip install``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

INSTALLED_PACKAGE = "worldfm_checkpoints"
"""The import name the wheel installs ``checkpoints/`` under (``setup.py``)."""

_ROOT = Path(__file__).resolve().parents[1]


def _shipped_checkpoints() -> Path:
    # The checkout first: an editable install of another checkout must not answer for this one.
    # ``pyproject.toml`` tells a checkout from site-packages, where an unrelated ``checkpoints``
    # folder of another distribution may sit beside the packages.
    source = _ROOT / "checkpoints"
    if (_ROOT / "pyproject.toml").is_file() and source.is_dir():
        return source
    spec = importlib.util.find_spec(INSTALLED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    # Neither (a trimmed install): a folder that does not exist, so nothing is registered or listed.
    return source


SHIPPED_CHECKPOINTS = _shipped_checkpoints()
"""Small trained models, each a checkpoint directory with its ``MODEL_CARD.md``: ``checkpoints/``
of a checkout, else the installed ``worldfm_checkpoints`` package."""

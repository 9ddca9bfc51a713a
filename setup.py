"""Ships ``checkpoints/`` inside the wheel as the data-only import package ``worldfm_checkpoints``.

Everything else is in ``pyproject.toml``. This file exists because ``[tool.setuptools]`` in
``pyproject.toml`` takes either an explicit package list or ``packages.find``, and ``find`` cannot
add a folder under another import name; keeping the folder at ``checkpoints/`` keeps every command
and card that names ``checkpoints/...`` true in a checkout. ``worldmodel.shipped`` finds the
installed copy.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["app*", "worldmodel*", "envs*", "curation*", "training*"]),
        "worldfm_checkpoints",
    ],
    package_dir={"worldfm_checkpoints": "checkpoints"},
    # Every shipped file (weights, configs, model cards, training curves); never training state.
    package_data={"worldfm_checkpoints": ["*/*.json", "*/*.safetensors", "*/*.md", "*/logs/*.csv"]},
    exclude_package_data={"worldfm_checkpoints": ["*/training_state/*"]},
)

"""Simulators, episode recording and (later) the learned-model environments.

MuJoCo picks its GL backend at import time, so headless EGL is chosen here,
before any submodule can import ``mujoco``. A user's own choice wins.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

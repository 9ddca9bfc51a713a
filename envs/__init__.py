"""Simulators, episode recording and (later) the learned-model environments.

MuJoCo picks its GL backend at import time, so headless EGL is chosen here,
before any submodule can import ``mujoco``. A user's own choice wins.
"""

import os

import farama_notifications

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

# gymnasium-robotics prints a notice about Adroit reward versions on import; we never use Adroit.
farama_notifications.notifications.pop("gymnasium_robotics", None)

from envs.registration import register_envs  # noqa: E402 - after the GL backend is chosen

register_envs()

"""Simulators, episode recording, the learned-model environments, planners and sim-vs-model evaluation.

Importing registers the Gymnasium ids (``envs.registration``): the simulators ``worldfm/<Task>-v0``
and the shipped world models ``worldfm/<Task>-WM-v0``, lazily: no checkpoint is read until
``gym.make``.

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

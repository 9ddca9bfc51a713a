"""Shared test setup.

``envs`` picks MuJoCo's headless EGL backend at import; it must be imported before
any test module imports ``mujoco`` (which would otherwise fall back to GLFW).
"""

import envs  # noqa: F401

"""An RGB offscreen renderer that keeps one GL context while the MuJoCo model changes.

``mujoco.Renderer`` opens a new GL context per model, and under software GL
(llvmpipe) the first scene drawn in a fresh context compiles its shaders: about
0.3-0.7 s, more than rendering a whole 48-frame episode at 64 px. Scenes that are
rebuilt every episode therefore share one context here and only swap the cheap
per-model ``MjrContext`` (about 40 ms). Closed renderers hand their context to a
process-wide pool, so short-lived simulators (one per shot of raw footage) reuse it.
"""

from __future__ import annotations

import atexit

import mujoco
import numpy as np

# Rendering goes through the MjrContext's own framebuffer, so any context serves any frame size.
_idle_contexts: list[mujoco.GLContext] = []


def _free_idle_contexts() -> None:
    while _idle_contexts:
        _idle_contexts.pop().free()


def _new_context(width: int, height: int) -> mujoco.GLContext:
    context = mujoco.GLContext(width, height)
    # MuJoCo's EGL backend registers eglTerminate at exit when a context opens; exit handlers
    # run last-in first-out, so re-registering here frees the pool before the display goes.
    atexit.unregister(_free_idle_contexts)
    atexit.register(_free_idle_contexts)
    return context


class OffscreenRenderer:
    """Render ``(height, width, 3)`` uint8 frames of whichever model was set last."""

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width
        self._gl: mujoco.GLContext | None = (
            _idle_contexts.pop() if _idle_contexts else _new_context(width, height)
        )
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._option = mujoco.MjvOption()
        self._model: mujoco.MjModel | None = None
        self._context: mujoco.MjrContext | None = None
        self._scene: mujoco.MjvScene | None = None

    def set_model(self, model: mujoco.MjModel) -> None:
        """Upload ``model``'s textures and meshes; its offscreen buffer grows to fit the frame."""
        model.vis.global_.offwidth = max(self.width, model.vis.global_.offwidth)
        model.vis.global_.offheight = max(self.height, model.vis.global_.offheight)
        self._current()
        if self._context is not None:
            self._context.free()
        self._model = model
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._scene = mujoco.MjvScene(model, maxgeom=max(100, 2 * model.ngeom))

    def render(self, data: mujoco.MjData, camera: int) -> np.ndarray:
        """The view of model camera ``camera`` in ``data``: (H, W, 3) uint8, row 0 at the top."""
        if self._context is None or self._scene is None:
            raise RuntimeError("call set_model() before render().")
        self._current()
        view = mujoco.MjvCamera()
        view.type = mujoco.mjtCamera.mjCAMERA_FIXED
        view.fixedcamid = camera
        mujoco.mjv_updateScene(
            self._model, data, self._option, None, view, mujoco.mjtCatBit.mjCAT_ALL, self._scene
        )
        mujoco.mjr_render(self._rect, self._scene, self._context)
        pixels = np.empty((self.height, self.width, 3), dtype=np.uint8)
        mujoco.mjr_readPixels(pixels, None, self._rect, self._context)
        # OpenGL's first row is the bottom of the image.
        return np.ascontiguousarray(pixels[::-1])

    def close(self) -> None:
        """Free the model's GL resources and pool the context; the renderer cannot be used afterwards."""
        if self._gl is None:
            return
        if self._context is not None:
            self._gl.make_current()
            self._context.free()
            self._context = None
        _idle_contexts.append(self._gl)
        self._gl = None

    def _current(self) -> None:
        if self._gl is None:
            raise RuntimeError("the renderer is closed.")
        self._gl.make_current()

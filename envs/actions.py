"""The action checks every worldfm env shares, simulators and learned envs alike (numpy only, so a
simulator can use them without loading torch).

A wrong shape or a NaN / infinite value is a ``ValueError`` naming what was wrong, never a
simulator that warns and carries on with a corrupted state (MuJoCo does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def finite_actions(actions: Any, space: spaces.Box, batch_shape: tuple[int, ...] = ()) -> np.ndarray:
    """``actions`` as float32 of shape ``batch_shape + space.shape``; a wrong shape or a NaN /
    infinite value is a ``ValueError``. Values are not clipped."""
    a = np.asarray(actions, dtype=np.float32)
    expected = (*batch_shape, *space.shape)
    if a.shape != expected:
        raise ValueError(f"action must have shape {expected}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"action contains NaN or infinite values: {a}")
    return a


def check_actions(actions: Any, space: spaces.Box, batch_shape: tuple[int, ...] = ()) -> np.ndarray:
    """Validate actions of shape ``batch_shape + space.shape`` and clip them into ``space``.

    A wrong shape or a NaN / infinite value is a ``ValueError``; finite values outside the box are
    clipped to it (as Fetch clips its controls), since the model never saw larger actions.
    """
    return np.clip(finite_actions(actions, space, batch_shape), space.low, space.high)

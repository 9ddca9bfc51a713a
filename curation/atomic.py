"""Moved to ``worldmodel.atomic``; this re-export keeps the importers that other work is
rewriting (``training/train_classifier.py``, ``envs/reward_head.py``) running until they import
from there. Delete it once nothing imports ``curation.atomic``."""

from worldmodel.atomic import atomic_output, atomic_write_bytes

__all__ = ["atomic_output", "atomic_write_bytes"]

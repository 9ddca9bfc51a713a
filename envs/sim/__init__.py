"""Ground-truth simulators that record training data (ARCHITECTURE.md, ``envs/sim``)."""

from envs.sim.episode import Episode

__all__ = ["Episode"]

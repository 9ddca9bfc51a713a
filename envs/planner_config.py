"""The settings of the latent MPC planner (``envs.planning.LatentPlanner``), and their home in a checkpoint.

A world-model checkpoint can carry the settings it plans best with as a ``"planner"`` section of
its ``config.json`` (``save_planner_config``); ``worldfm plan`` starts from them
(``load_planner_config``) and command-line options override single fields.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from worldmodel import hub

PLANNER_SECTION = "planner"
METHODS = ("mppi", "cem")
OBJECTIVES = ("reward", "success", "progress")


@dataclass(frozen=True)
class PlannerConfig:
    """How ``LatentPlanner`` searches; defaults fit about 1 s per planned action on 2 CPU cores
    with the shipped 64 px Fetch model."""

    method: str = field(default="mppi", metadata={"choices": METHODS})
    """update rule: ``mppi`` (softmax-weighted elites, TD-MPC2) or ``cem`` (mean and std of the elites)"""
    horizon: int = 4
    """planned decisions; each is held for ``action_repeat`` model steps"""
    population: int = 32
    """action sequences rolled out per iteration, in one batched ``rollout_latents`` call"""
    elites: int = 8
    """the best sequences the Gaussian is refitted to"""
    iterations: int = 2
    """refits per plan"""
    temperature: float = 0.1
    """MPPI: weights are exp((return - best) / temperature) over the elites; smaller is greedier"""
    min_std: float = 0.05
    """floor on the sampling std (action units), so the search never collapses to a point"""
    prior_samples: int = 8
    """sequences of the population proposed by the policy prior (0 without one)"""
    prior_std: float = 0.2
    """std (action units) of the noise added to the prior's proposals; the first is kept exact"""
    action_repeat: int = 1
    """model / simulator steps each planned action is held for: a coarser time step, so a short
    horizon looks further ahead and candidates differ by more than a pixel of the model's frames"""
    replan_every: int | None = None
    """simulator steps run from each plan before the next (default: ``action_repeat``, the whole
    first decision); 1 replans every step, closed loop, while still looking ``horizon *
    action_repeat`` steps ahead"""
    discount: float = 1.0
    """per-step discount of imagined rewards and of the terminal value"""
    objective: str = field(default="reward", metadata={"choices": OBJECTIVES})
    """what the reward head scores: the task reward, the success probability, or dense progress"""
    sampler_steps: int | None = None
    """diffusion sampler steps per imagined frame (default: the checkpoint's)"""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {self.objective!r}")
        for name in ("horizon", "population", "iterations", "action_repeat"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.replan_every is not None and not 1 <= self.replan_every <= self.action_repeat:
            raise ValueError(
                f"replan_every must be in [1, action_repeat={self.action_repeat}], got {self.replan_every}"
            )
        if not 1 <= self.elites <= self.population:
            raise ValueError(f"elites must be in [1, population={self.population}], got {self.elites}")
        if not 0 <= self.prior_samples <= self.population:
            raise ValueError(
                f"prior_samples must be in [0, population={self.population}], got {self.prior_samples}"
            )
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.min_std < 0 or self.prior_std < 0:
            raise ValueError(f"min_std and prior_std must be >= 0, got {self.min_std} and {self.prior_std}")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        if self.sampler_steps is not None and self.sampler_steps < 1:
            raise ValueError(f"sampler_steps must be >= 1, got {self.sampler_steps}")

    def replace(self, **changes: Any) -> PlannerConfig:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PlannerConfig:
        """From a saved section; an unknown key is an error rather than a silently ignored setting."""
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown planner settings {sorted(unknown)}")
        return cls(**values)


def load_planner_config(directory: str | os.PathLike) -> PlannerConfig:
    """The planner settings saved with the checkpoint ``directory``, else the defaults."""
    return PlannerConfig.from_dict(hub.read_config(directory).get(PLANNER_SECTION) or {})


def save_planner_config(directory: str | os.PathLike, config: PlannerConfig) -> None:
    """Store ``config`` as the checkpoint's default planner settings (atomically, whole)."""
    hub.update_section(directory, PLANNER_SECTION, dataclasses.asdict(config))

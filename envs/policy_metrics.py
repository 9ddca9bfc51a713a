"""Does a learned environment rank policies as the real one does? Correlations and MMRV over policies.

Each function compares two score vectors over the same N policies (or episodes): ``truth``, measured
in the reference environment (the simulator here, the real robot in SIMPLER), and ``estimate``,
measured in the environment under test (the world model). Pure numpy, no environment in sight:
``envs.evaluate`` feeds them success rates and mean returns.

- Pearson's r: linear agreement of the scores themselves (WorldGym reports r = 0.78 per task).
- Spearman's rho: Pearson's r of the (tie-averaged) ranks, so only the order counts.
- MMRV, mean maximum rank violation (SIMPLER, Li et al. 2024, arXiv 2405.05941, Sec. 5): for each
  policy, the largest true-score gap to another policy whose order the estimate gets wrong,
  averaged over policies. 0 is a perfect ranking; it is in the scores' units (a success-rate gap),
  so swapping two policies that are nearly as good as each other costs little.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike


def _pair(x: ArrayLike, y: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{name} needs two 1-D arrays of one length, got {x.shape} and {y.shape}")
    return x, y


def rankdata(x: ArrayLike) -> np.ndarray:
    """Ranks 1..n of ``x`` (n,), ties given their average rank (scipy's ``rankdata`` 'average')."""
    _, inverse, counts = np.unique(np.asarray(x), return_inverse=True, return_counts=True)
    # Group g holds ranks ends[g] - counts[g] + 1 .. ends[g]; their mean is ends[g] - (counts[g] - 1) / 2.
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2)[inverse].astype(np.float64)


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's correlation ``cov(x, y) / (std(x) std(y))`` of two (n,) arrays.

    NaN when fewer than two values or when either side is constant: a model that calls every
    policy equally successful ranks nothing, and no number should say it agrees (SIMPLER's own
    code returns 1 when both sides are constant and equal; here that is NaN too).
    """
    x, y = _pair(x, y, "pearson")
    # Tested directly: a constant side's deviations from its float mean need not be exactly 0.
    if len(x) < 2 or (x == x[0]).all() or (y == y[0]).all():
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / np.sqrt((dx**2).sum() * (dy**2).sum()))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks.

    NaN when fewer than two values or when either side is constant (no ranking to agree with).
    """
    x, y = _pair(x, y, "spearman")
    return pearson(rankdata(x), rankdata(y))


def rank_violations(truth: ArrayLike, estimate: ArrayLike) -> np.ndarray:
    """SIMPLER's RankViolation(i, j) for all pairs: (N, N).

    ``RankViolation(i, j) = |truth_i - truth_j| * 1[(estimate_i < estimate_j) != (truth_i < truth_j)]``
    (arXiv 2405.05941, Sec. 5, with real = ``truth`` and sim = ``estimate``). With strict ``<``, a
    tie in the estimate between policies the truth tells apart counts once, in the row of the one
    with the lower true score. (SIMPLER's released code compares with ``>``, which puts that
    violation in the other row; the two agree whenever the estimate has no ties.)
    """
    truth, estimate = _pair(truth, estimate, "rank_violations")
    disagree = (estimate[:, None] < estimate[None, :]) != (truth[:, None] < truth[None, :])
    return np.abs(truth[:, None] - truth[None, :]) * disagree


def mmrv(truth: ArrayLike, estimate: ArrayLike) -> float:
    """Mean maximum rank violation: ``(1/N) sum_i max_j RankViolation(i, j)`` (SIMPLER, arXiv 2405.05941).

    In ``truth``'s units; NaN for no policies. One policy, or an estimate that orders every pair
    the truth tells apart as the truth does, gives 0.
    """
    violations = rank_violations(truth, estimate)
    if violations.size == 0:
        return float("nan")
    return float(violations.max(axis=1).mean())


@dataclass(frozen=True)
class RankAgreement:
    """How well one score, measured over the same policies in two environments, agrees; NaN: undefined."""

    pearson: float
    spearman: float
    mmrv: float
    """in the score's units (a success-rate gap for success rates)"""

    @classmethod
    def of(cls, truth: ArrayLike, estimate: ArrayLike) -> RankAgreement:
        return cls(pearson(truth, estimate), spearman(truth, estimate), mmrv(truth, estimate))

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready: NaN (undefined) becomes ``None``, as JSON has no NaN."""
        return {k: (None if np.isnan(v) else v) for k, v in asdict(self).items()}

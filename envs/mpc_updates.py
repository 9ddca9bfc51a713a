"""The math of sampling-based MPC, as pure numpy functions: scoring imagined sequences and refitting
the sampling Gaussian by CEM or MPPI."""

from __future__ import annotations

import numpy as np


def sequence_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    *,
    discount: float = 1.0,
    terminal_values: np.ndarray | None = None,
) -> np.ndarray:
    """Return of each imagined sequence: rewards (P, T), terminated (P, T) bool -> (P,).

    ``sum_t discount^t r_t + discount^T V(z_T)``, with ``terminal_values`` V (P,) of the last
    imagined latent (0 without). A sequence ends at its first terminated step, which is treated as
    absorbing: its reward is repeated for the rest of the horizon. Reaching success early then
    scores higher (Fetch pays 0 there against -1 per unsolved step), instead of being scored on
    what the model dreams after.
    """
    p, t = rewards.shape
    ended = np.cumsum(terminated, axis=1) > 0  # (P, T): from the first terminated step on
    final = rewards[np.arange(p), np.argmax(terminated, axis=1)]  # (P,)
    weights = discount ** np.arange(t)  # (T,)
    returns = (np.where(ended, final[:, None], rewards) * weights).sum(axis=1)
    if terminal_values is not None:
        returns = returns + discount**t * np.asarray(terminal_values, np.float64)
    return returns


def elite_indices(returns: np.ndarray, elites: int) -> np.ndarray:
    """Indices of the ``elites`` highest returns (P,), best first."""
    return np.argsort(-returns, kind="stable")[:elites]


def cem_update(
    sequences: np.ndarray, returns: np.ndarray, *, elites: int, min_std: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The cross-entropy method's refit (PlaNet, arXiv 1811.04551, Section 3): mean and std of the
    ``elites`` best sequences (P, H, A) by ``returns`` (P,), the std floored at ``min_std``.

    Returns mean (H, A) and std (H, A).
    """
    elite = sequences[elite_indices(returns, elites)]  # (E, H, A)
    return elite.mean(axis=0), np.maximum(elite.std(axis=0), min_std)


def mppi_weights(returns: np.ndarray, temperature: float) -> np.ndarray:
    """MPPI's importance weights (Williams et al. 2017, arXiv 1707.02342), as TD-MPC uses them:
    ``softmax(returns / temperature)``, computed from the best return for stability."""
    w = np.exp((returns - returns.max()) / temperature)
    return w / w.sum()


def mppi_update(
    sequences: np.ndarray,
    returns: np.ndarray,
    *,
    elites: int,
    temperature: float,
    min_std: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The MPPI refit of TD-MPC (Hansen et al. 2022, arXiv 2203.04955, Algorithm 1; kept in TD-MPC2,
    arXiv 2310.16828): the ``mppi_weights``
    of the ``elites`` best sequences (P, H, A) give their weighted mean and weighted std, the std
    floored at ``min_std``.

    Returns mean (H, A) and std (H, A).
    """
    idx = elite_indices(returns, elites)
    elite, w = sequences[idx], mppi_weights(returns[idx], temperature)[:, None, None]  # (E, H, A), (E, 1, 1)
    mean = (w * elite).sum(axis=0)
    std = np.sqrt((w * (elite - mean) ** 2).sum(axis=0))
    return mean, np.maximum(std, min_std)

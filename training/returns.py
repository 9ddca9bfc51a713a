"""Discounted returns-to-go of recorded episodes: the targets of a value head.

The value of a frame under the policy that recorded it is the discounted sum of the rewards that
followed it (Sutton & Barto 2018, eq. 3.8):

    G_t = r_t + gamma r_{t+1} + ... + gamma^(n-1-t) r_{n-1} + gamma^(n-t) G_n

where ``r_t`` is the reward of the step from frame t to frame t+1 (row t of a clip's
``rewards.npy``) and ``G_n`` is the value of the last recorded frame, which the recording cannot
give: the episode was cut, not finished. ``absorbing_tail_value`` fills it in.
"""

from __future__ import annotations

import numpy as np


def discounted_returns(rewards: np.ndarray, gamma: float, tail_value: float = 0.0) -> np.ndarray:
    """rewards (n,) of the steps between n + 1 frames -> G (n + 1,), the return-to-go at every frame.

    ``G[t] = sum_k gamma^k rewards[t + k] + gamma^(n - t) tail_value``; ``G[n] = tail_value`` (the
    last frame has no recorded future). ``tail_value=0`` leaves the episode truncated.
    """
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be one episode's (n,) rewards, got shape {rewards.shape}")
    returns = np.empty(len(rewards) + 1)
    returns[-1] = tail_value
    # Backwards, G_t = r_t + gamma G_{t+1}: one pass, no powers of gamma.
    for t in range(len(rewards) - 1, -1, -1):
        returns[t] = rewards[t] + gamma * returns[t + 1]
    return returns


def absorbing_tail_value(rewards: np.ndarray, gamma: float) -> float:
    """The value of an episode's last frame if that state were absorbing: its last reward forever,
    ``rewards[-1] / (1 - gamma)`` (0 for an empty episode).

    For Fetch (reward 0 on a solved step, -1 otherwise) an episode that ends solved is worth 0 from
    there, and one that ends unsolved ``-1 / (1 - gamma)``: the data's policy is taken not to solve
    it later. That is pessimistic for an expert cut short, but leaving the tail out instead makes a
    frame's target depend on how close it is to the end of the recording, which no frame shows: two
    equal unsolved frames would get targets from -1 to -1 / (1 - gamma).
    """
    if not 0 <= gamma < 1:
        raise ValueError(f"gamma must be in [0, 1) for an infinite tail, got {gamma}")
    rewards = np.asarray(rewards, dtype=np.float64)
    return float(rewards[-1] / (1 - gamma)) if len(rewards) else 0.0


def episode_values(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """rewards (n,) -> the returns-to-go (n + 1,) of the episode's frames, its tail bootstrapped as
    absorbing (``absorbing_tail_value``): the value targets ``worldfm train reward --value`` fits."""
    return discounted_returns(rewards, gamma, absorbing_tail_value(rewards, gamma))

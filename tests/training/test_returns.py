"""Value targets (``training.returns``) against returns-to-go worked out by hand."""

import numpy as np
import pytest

from training.returns import absorbing_tail_value, discounted_returns, episode_values


def test_discounted_returns_match_a_hand_computed_episode() -> None:
    # G_3 = tail = 2; G_2 = 0 + 0.5 * 2 = 1; G_1 = -1 + 0.5 * 1 = -0.5; G_0 = -1 + 0.5 * -0.5 = -1.25
    np.testing.assert_allclose(
        discounted_returns([-1.0, -1.0, 0.0], 0.5, tail_value=2.0), [-1.25, -0.5, 1.0, 2.0]
    )


def test_truncated_returns_are_the_plain_discounted_sums() -> None:
    rewards = np.array([3.0, -2.0, 5.0, 1.0])
    gamma = 0.9
    expected = [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards) + 1)]
    np.testing.assert_allclose(discounted_returns(rewards, gamma), expected)


def test_undiscounted_returns_are_reversed_cumulative_sums() -> None:
    rewards = np.array([-1.0, -1.0, -1.0, 0.0, 0.0])
    np.testing.assert_allclose(discounted_returns(rewards, 1.0), [-3, -2, -1, 0, 0, 0])


def test_fetch_episode_ending_solved_is_worth_zero_after_it_and_unsolved_minus_one_forever() -> None:
    gamma = 0.8
    solved = np.array([-1.0, -1.0, 0.0, 0.0])  # Fetch: -1 per unsolved step, 0 once solved
    # Its last frame is solved and absorbing: 0 from there; -1 - 0.8 = -1.8 from the first frame.
    np.testing.assert_allclose(episode_values(solved, gamma), [-1.8, -1.0, 0.0, 0.0, 0.0])
    unsolved = np.array([0.0, -1.0])  # solved at frame 1, lost again at frame 2
    tail = -1 / (1 - gamma)  # -5: the data's policy never solves it again
    assert absorbing_tail_value(unsolved, gamma) == pytest.approx(tail)
    np.testing.assert_allclose(
        episode_values(unsolved, gamma), [0.8 * (-1 + 0.8 * tail), -1 + 0.8 * tail, tail]
    )


def test_absorbing_tail_makes_equal_frames_equal_targets_wherever_the_recording_stops() -> None:
    # Two never-solving episodes cut at different lengths: with the absorbing tail every frame is
    # worth -1 / (1 - gamma); truncated, the frame before each cut would look better than the rest.
    gamma = 0.9
    for n in (3, 30):
        np.testing.assert_allclose(episode_values(-np.ones(n), gamma), np.full(n + 1, -10.0))


def test_bad_discounts_and_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="gamma must be in"):
        discounted_returns([1.0], 1.5)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\) for an infinite tail"):
        absorbing_tail_value([1.0], 1.0)
    with pytest.raises(ValueError, match="one episode"):
        discounted_returns(np.zeros((2, 3)), 0.9)

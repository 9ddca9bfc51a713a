"""Policy-evaluation metrics against hand-computed cases and their definitions (SIMPLER MMRV, Pearson)."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from envs.policy_metrics import RankAgreement, mmrv, pearson, rank_violations, rankdata, spearman


def test_rankdata_gives_ties_their_average_rank() -> None:
    np.testing.assert_array_equal(rankdata(np.array([10, 20, 20, 5])), [2, 3.5, 3.5, 1])


def test_pearson_of_a_hand_computed_case() -> None:
    # dx = (-1, 0, 1), dy = (-5/3, -2/3, 7/3): r = 4 / sqrt(2 * 78/9).
    assert pearson([1, 2, 3], [1, 2, 5]) == pytest.approx(4 / np.sqrt(2 * 78 / 9), abs=1e-12)


def test_pearson_matches_scipy_and_ignores_affine_rescaling() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.random(7)
        y = x + rng.normal(0, 0.3, size=7)
        assert pearson(x, y) == pytest.approx(pearsonr(x, y).statistic, abs=1e-12)
        assert pearson(3 * x - 1, y) == pytest.approx(pearson(x, y), abs=1e-12)


def test_correlations_are_undefined_for_constant_scores_or_one_policy() -> None:
    # 0.7 six times has float deviations of about 1e-16 from its mean: still constant.
    for f in (pearson, spearman):
        assert np.isnan(f([0.7] * 6, np.arange(6.0)))
        assert np.isnan(f(np.arange(6.0), [0.0] * 6))
        assert np.isnan(f([1.0], [1.0]))


def test_spearman_matches_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, size=12).astype(float)
        y = x + rng.normal(0, 2, size=12)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    # Monotone but not linear: the ranks agree fully, the values do not.
    assert spearman([1, 2, 3], [1, 2, 5]) == pytest.approx(1.0)


def test_mismatched_lengths_are_refused() -> None:
    for f in (pearson, spearman, mmrv):
        with pytest.raises(ValueError, match="1-D arrays of one length"):
            f([0.1, 0.2], [0.1, 0.2, 0.3])


def test_rank_violation_follows_simplers_definition() -> None:
    # RankViolation(i, j) = |R_i - R_j| * 1[(S_i < S_j) != (R_i < R_j)]; policies 0 and 1 are swapped.
    real, sim = np.array([0.9, 0.5, 0.1]), np.array([0.4, 0.6, 0.0])
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = 0.4
    np.testing.assert_allclose(rank_violations(real, sim), expected)
    # Row maxima 0.4, 0.4, 0.
    assert mmrv(real, sim) == pytest.approx(0.8 / 3)


def test_mmrv_is_zero_for_any_order_preserving_estimate() -> None:
    real = np.array([0.95, 0.9, 0.5, 0.25, 0.05, 0.0])
    assert mmrv(real, real) == 0.0
    assert mmrv(real, real**3 - 7) == 0.0  # monotone, far off in value: only the order counts
    assert mmrv([0.3], [0.9]) == 0.0


def test_mmrv_of_a_fully_reversed_ranking() -> None:
    # Row maxima: |0 - 1|, |0.5 - 0| (or |0.5 - 1|), |1 - 0|.
    assert mmrv([0.0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(2.5 / 3)


def test_mmrv_charges_a_tie_in_the_estimate_once_to_the_worse_policy() -> None:
    # The estimate cannot tell apart policies that truly succeed 20 % and 80 % of the time.
    np.testing.assert_allclose(rank_violations([0.2, 0.8], [0.5, 0.5]), [[0.0, 0.6], [0.0, 0.0]])
    assert mmrv([0.2, 0.8], [0.5, 0.5]) == pytest.approx(0.3)
    # Policies tied in truth never violate, whatever the estimate says.
    assert mmrv([0.5, 0.5], [0.1, 0.9]) == 0.0


def test_rank_agreement_writes_undefined_values_as_json_null() -> None:
    a = RankAgreement.of([0.9, 0.5, 0.0], [0.0, 0.0, 0.0])
    assert np.isnan(a.pearson) and np.isnan(a.spearman)
    # A constant estimate ties everything: each policy is charged its largest gap to a better one.
    assert a.mmrv == pytest.approx((0.0 + 0.4 + 0.9) / 3)
    assert a.as_dict() == {"pearson": None, "spearman": None, "mmrv": pytest.approx(1.3 / 3)}

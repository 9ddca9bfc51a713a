"""Re-balancing by category (``curation.balance``): targets, determinism, caps, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from curation.balance import balance_copies, distribution, parse_balance
from curation.classifiers import TASKS

LABELS = ["driving"] * 60 + ["manipulation"] * 30 + ["camera_motion"] * 10


def test_balance_moves_the_distribution_to_the_target_shares() -> None:
    target = {"driving": 0.25, "manipulation": 0.25, "camera_motion": 0.5}
    copies = balance_copies(LABELS, target, seed=3, max_repeats=5)
    after = distribution(LABELS, copies)
    assert after == {"camera_motion": 50, "driving": 25, "manipulation": 25}
    # Down-sampled categories keep distinct clips; up-sampled ones repeat every clip evenly.
    assert set(copies[:90].tolist()) <= {0, 1} and set(copies[90:].tolist()) == {5}


def test_balance_is_deterministic_by_seed_and_caps_repeats() -> None:
    target = {"driving": 0.2, "manipulation": 0.2, "camera_motion": 0.6}
    a = balance_copies(LABELS, target, seed=1, max_repeats=3)
    assert np.array_equal(a, balance_copies(LABELS, target, seed=1, max_repeats=3))
    assert not np.array_equal(a, balance_copies(LABELS, target, seed=2, max_repeats=3))
    assert a.max() == 3 and distribution(LABELS, a)["camera_motion"] == 30


def test_categories_missing_from_the_target_are_dropped() -> None:
    copies = balance_copies(LABELS, {"driving": 1.0}, seed=0)
    assert copies[60:].sum() == 0
    # Driving fills the whole set: every clip once, 40 of them twice.
    assert copies[:60].sum() == 100 and set(copies[:60].tolist()) == {1, 2}


def test_parse_balance_normalises_and_rejects_bad_items() -> None:
    parsed = parse_balance("manipulation=2,driving=1,other=1", TASKS["category"])
    assert parsed == (("driving", 0.25), ("manipulation", 0.5), ("other", 0.25))
    assert parse_balance("", TASKS["category"]) == ()
    with pytest.raises(ValueError, match="unknown category 'cooking'"):
        parse_balance("cooking=1", TASKS["category"])
    with pytest.raises(ValueError, match="not category=share"):
        parse_balance("driving", TASKS["category"])
    with pytest.raises(ValueError, match="must not all be zero"):
        parse_balance("driving=0", TASKS["category"])

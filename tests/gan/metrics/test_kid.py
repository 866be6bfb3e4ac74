"""gan.metrics.kid: the unbiased MMD against direct loops.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics.kid import kernel_distance, mmd2_unbiased

RNG = np.random.default_rng(0)


# --- KID --------------------------------------------------------------------------------------
def test_mmd_matches_direct_loops():
    x, y = RNG.normal(size=(12, 5)), RNG.normal(0.5, size=(9, 5))
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(12) for j in range(12) if i != j) / (12 * 11)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (12 * 9)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_kid_identical_near_zero_and_shifted_positive():
    x = RNG.normal(size=(400, 8))
    same, _ = kernel_distance(x, x, num_subsets=10, subset_size=200)
    shifted, std = kernel_distance(x, x + 1.0, num_subsets=10, subset_size=200)
    assert abs(same) < 0.02 * shifted and shifted > 1.0 and std >= 0  # unbiased: ~0, may dip below

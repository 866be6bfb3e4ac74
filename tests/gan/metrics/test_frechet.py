"""gan.metrics.frechet: the Frechet distance against scipy and known answers.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from gan.metrics.frechet import feature_stats, frechet_distance, frechet_distance_features

RNG = np.random.default_rng(0)


# --- Frechet distance -------------------------------------------------------------------------
def _fd_scipy(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's sqrtm, as a reference."""
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * root))


def test_fd_matches_scipy_on_random_data():
    x, y = RNG.normal(size=(500, 8)), RNG.normal(1.0, 2.0, size=(400, 8)) @ RNG.normal(size=(8, 8))
    assert frechet_distance_features(x, y) == pytest.approx(_fd_scipy(x, y), rel=1e-6)


def test_fd_identical_sets_is_zero():
    x = RNG.normal(size=(300, 16))
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_shifted_gaussians_is_squared_shift():
    x = RNG.normal(size=(2000, 4))
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert frechet_distance_features(x, x + shift) == pytest.approx((shift**2).sum(), rel=1e-9)


def test_fd_singular_covariance_is_finite():
    x = RNG.normal(size=(10, 64))  # fewer samples than dimensions: rank-deficient covariances
    y = RNG.normal(size=(10, 64))
    value = frechet_distance_features(x, y)
    assert np.isfinite(value) and value > 0
    mu, sigma = feature_stats(x)
    assert mu.shape == (64,) and sigma.shape == (64, 64)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)

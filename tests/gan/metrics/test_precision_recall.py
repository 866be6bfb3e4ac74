"""gan.metrics.precision_recall: k-NN radii and precision/recall against brute force.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics.precision_recall import knn_radii, precision_recall

RNG = np.random.default_rng(0)


# --- precision / recall -----------------------------------------------------------------------
def test_knn_radii_match_brute_force():
    x = RNG.normal(size=(60, 3))
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    assert np.allclose(knn_radii(x, k=3, batch_size=7), np.sort(d, axis=1)[:, 3])


def test_precision_recall_identical_and_disjoint():
    x = RNG.normal(size=(300, 4))
    assert precision_recall(x, x) == pytest.approx((1.0, 1.0))
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_precision_recall_matches_brute_force():
    real, fake = RNG.normal(size=(80, 3)), RNG.normal(0.7, size=(70, 3))
    dist = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1)
    r_real, r_fake = np.sort(dist(real, real), 1)[:, 3], np.sort(dist(fake, fake), 1)[:, 3]
    precision = (dist(fake, real) <= r_real[None]).any(1).mean()
    recall = (dist(real, fake) <= r_fake[None]).any(1).mean()
    assert precision_recall(real, fake, batch_size=16) == pytest.approx((precision, recall))

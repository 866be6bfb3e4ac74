"""gan.metrics.inception_score: against the direct formula.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics.inception_score import inception_score

RNG = np.random.default_rng(0)


# --- IS ---------------------------------------------------------------------------------------
def test_is_confident_uniform_equals_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_is_matches_direct_formula_and_uninformative_is_one():
    probs = RNG.dirichlet(np.ones(5), size=200)
    marginal = probs.mean(0)
    direct = np.exp(np.mean([(p * np.log(p / marginal)).sum() for p in probs]))
    assert inception_score(probs, splits=1)[0] == pytest.approx(direct, rel=1e-9)
    assert inception_score(np.full((50, 4), 0.25), splits=1)[0] == pytest.approx(1.0)

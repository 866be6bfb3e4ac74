"""gan.metrics.classes: class accuracy and coverage.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics.classes import class_accuracy, class_coverage


# --- classes ----------------------------------------------------------------------------------
def test_class_accuracy_and_coverage():
    labels = np.arange(100) % 4
    predicted = labels.copy()
    predicted[labels == 1] = 2  # class 1 always drawn as class 2
    overall, per_class = class_accuracy(np.eye(4)[predicted], labels)
    assert overall == pytest.approx(0.75) and list(per_class) == [1.0, 0.0, 1.0, 1.0]
    assert class_coverage(np.eye(4)[labels]) == pytest.approx(1.0)
    assert class_coverage(np.eye(4)[np.zeros(100, int)]) == pytest.approx(0.0)
    assert 0 < class_coverage(np.eye(4)[predicted]) < 1

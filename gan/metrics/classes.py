"""Class-conditional accuracy and class coverage from a classifier's predictions on generated images.

Accuracy asks "does class c look like c?"; coverage asks "are all classes produced?" - the
entropy of the predicted-class histogram over log(C): 1 for a uniform mix, ~0 for mode collapse.
"""

from __future__ import annotations

import numpy as np


def class_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Overall fraction of samples predicted as their conditioning label, and the per-class fraction (nan if absent)."""
    predicted = np.asarray(probs).argmax(axis=1)
    labels = np.asarray(labels)
    num_classes = np.asarray(probs).shape[1]
    per_class = np.array([np.mean(predicted[labels == c] == c) if np.any(labels == c) else np.nan
                          for c in range(num_classes)])
    return float(np.mean(predicted == labels)), per_class


def class_coverage(probs: np.ndarray) -> float:
    """Normalized entropy of the histogram of predicted classes, in [0, 1]."""
    p = np.asarray(probs)
    num_classes = p.shape[1]
    if num_classes < 2:
        return 1.0
    counts = np.bincount(p.argmax(axis=1), minlength=num_classes).astype(np.float64)
    freq = counts[counts > 0] / counts.sum()
    return float(-(freq * np.log(freq)).sum() / np.log(num_classes))

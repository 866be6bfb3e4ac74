"""Improved precision and recall (Kynkaanniemi et al. 2019) in feature space.

Each set's manifold is the union of balls around its points with radius = distance to the k-th
nearest neighbour in the same set. Precision = fraction of generated points inside the real
manifold (fidelity); recall = fraction of real points inside the generated one (diversity).
"""

from __future__ import annotations

import numpy as np


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)), via |a|^2 + |b|^2 - 2 a.b (clipped at 0)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0)


def knn_radii(features: np.ndarray, k: int = 3, batch_size: int = 1000) -> np.ndarray:
    """Squared distance of every point to its k-th nearest neighbour in the same set (itself excluded)."""
    x = np.asarray(features, np.float64)
    k = min(k, len(x) - 1)
    radii = np.empty(len(x))
    for start in range(0, len(x), batch_size):
        d = pairwise_sq_distances(x[start:start + batch_size], x)
        radii[start:start + batch_size] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def coverage_fraction(queries: np.ndarray, support: np.ndarray, radii: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of `queries` within the radius of at least one `support` point."""
    q, s = np.asarray(queries, np.float64), np.asarray(support, np.float64)
    inside = np.zeros(len(q), bool)
    for start in range(0, len(q), batch_size):
        inside[start:start + batch_size] = (pairwise_sq_distances(q[start:start + batch_size], s)
                                            <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, batch_size: int = 1000) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` against real features `real`."""
    if min(len(real), len(fake)) < 2:
        raise ValueError("precision/recall needs at least 2 samples on each side")
    precision = coverage_fraction(fake, real, knn_radii(real, k, batch_size), batch_size)
    recall = coverage_fraction(real, fake, knn_radii(fake, k, batch_size), batch_size)
    return precision, recall

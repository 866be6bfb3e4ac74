"""Intra-class scores: Frechet distance and k-NN precision/recall computed class by class.

An overall FD can look fine while every class is one picture: ten sharp templates, one per
class, match the mixture's mean and much of its covariance. Scored within each class, such a
generator has a class covariance near zero against a real one that is not, and its samples
cover almost none of the real class's k-NN manifold (recall near 0). Generated samples are
grouped by the label they were drawn with; real ones by their dataset label.

Floors are the same computation on real images: for each class, `m` held-out real images
(as many as the generator gets per class, at most half the class) against the class's others.
"""

from __future__ import annotations

import numpy as np

from gan.metrics.frechet import feature_stats, frechet_distance
from gan.metrics.precision_recall import precision_recall


def split_real(labels: np.ndarray, cls: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of class `cls`: `m` held out (at most half) and the rest, in a seeded random order."""
    idx = np.flatnonzero(labels == cls)
    idx = idx[np.random.default_rng([seed, cls]).permutation(len(idx))]
    m = max(2, min(m, len(idx) // 2))
    return idx[:m], idx[m:]


def _classes(gen_labels: np.ndarray, real_labels: np.ndarray) -> list[int]:
    classes = sorted(set(np.unique(gen_labels).tolist()) & set(np.unique(real_labels).tolist()))
    usable = [c for c in classes if (gen_labels == c).sum() >= 2 and (real_labels == c).sum() >= 4]
    if not usable:
        raise ValueError("intra-class scores need at least 2 samples and 4 real images of some class")
    return usable


def intra_class_fd(gen_feats: np.ndarray, gen_labels: np.ndarray, real_feats: np.ndarray, real_labels: np.ndarray,
                   seed: int = 0) -> tuple[dict[int, float], dict[int, float]]:
    """({class: FD of its samples to all its real images}, {class: real-vs-real floor at that count})."""
    values, floors = {}, {}
    for c in _classes(gen_labels, real_labels):
        fake = gen_feats[gen_labels == c]
        real = real_feats[real_labels == c]
        values[c] = frechet_distance(*feature_stats(fake), *feature_stats(real))
        held, rest = split_real(real_labels, c, len(fake), seed)
        floors[c] = frechet_distance(*feature_stats(real_feats[held]), *feature_stats(real_feats[rest]))
    return values, floors


def intra_class_pr(gen_feats: np.ndarray, gen_labels: np.ndarray, real_feats: np.ndarray, real_labels: np.ndarray,
                   k: int = 3, seed: int = 0) -> tuple[dict[int, tuple[float, float]], dict[int, tuple[float, float]]]:
    """Per class (precision, recall) of its samples against as many real images of it, and the real floor.

    Equal counts on both sides (k-NN radii shrink with the sample count, so unequal sets would skew
    the scores); the floor compares two disjoint real sets of that count.
    """
    values, floors = {}, {}
    for c in _classes(gen_labels, real_labels):
        fake = gen_feats[gen_labels == c]
        held, rest = split_real(real_labels, c, len(fake), seed)
        m = len(held)
        values[c] = precision_recall(real_feats[rest[:m]], fake[:m], k)
        floors[c] = precision_recall(real_feats[rest[:m]], real_feats[held], k)
    return values, floors

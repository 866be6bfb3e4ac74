"""Intra-class FD and k-NN precision/recall: they must see a collapse within classes that overall scores miss."""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics.frechet import frechet_distance_features
from gan.metrics.intra_class import intra_class_fd, intra_class_pr, split_real

CLASSES, DIM = 4, 6


def _real(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian classes: class c centred at 4*c on every axis, unit covariance."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), per_class)
    return rng.standard_normal((len(labels), DIM)) + 4.0 * labels[:, None], labels


def _collapsed(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One picture per class (tiny jitter), sitting right at the class's centre."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), per_class)
    return 4.0 * labels[:, None] + 0.01 * rng.standard_normal((len(labels), DIM)), labels


def test_a_generator_like_the_real_data_scores_near_its_floor():
    real, real_labels = _real(600, seed=0)
    fake, fake_labels = _real(150, seed=1)
    values, floors = intra_class_fd(fake, fake_labels, real, real_labels)
    assert sorted(values) == list(range(CLASSES))
    for c in values:
        assert values[c] < 3 * floors[c] + 0.1
    pr, pr_floor = intra_class_pr(fake, fake_labels, real, real_labels)
    for c in pr:
        assert pr[c][1] > 0.6 and abs(pr[c][1] - pr_floor[c][1]) < 0.2


def test_one_picture_per_class_is_caught_where_overall_fd_is_small():
    real, real_labels = _real(600, seed=0)
    fake, fake_labels = _collapsed(150, seed=2)
    values, _ = intra_class_fd(fake, fake_labels, real, real_labels)
    # Overall, the FD is a small part of the real data's spread (the class means dominate it) ...
    assert frechet_distance_features(fake, real) < 0.1 * np.trace(np.cov(real, rowvar=False))
    # ... while within each class it is all of it: the class covariance is ~0, the real one is I.
    for c in values:
        assert values[c] == pytest.approx(DIM, rel=0.2)  # Tr(I) + Tr(0) - 2 Tr(0): the lost spread
    pr, _ = intra_class_pr(fake, fake_labels, real, real_labels)
    assert all(recall < 0.05 for _, recall in pr.values())


def test_held_out_real_images_are_disjoint_from_the_rest_and_capped_at_half():
    labels = np.repeat(np.arange(3), 10)
    held, rest = split_real(labels, 1, m=50)
    assert len(held) == 5 and len(rest) == 5
    assert not set(held) & set(rest) and set(held) | set(rest) == set(np.flatnonzero(labels == 1))


def test_classes_without_enough_images_are_an_error():
    with pytest.raises(ValueError, match="intra-class"):
        intra_class_fd(np.zeros((1, 3)), np.zeros(1, int), np.zeros((10, 3)), np.ones(10, int))

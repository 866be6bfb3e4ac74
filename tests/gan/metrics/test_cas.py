"""CAS and augmentation gain on cases with known answers (tiny colour classes, a few epochs)."""

from __future__ import annotations

import numpy as np
import pytest

from gan.metrics import cas
from gan.metrics.cas import augmentation_gain, classification_accuracy_score

CLASSES = 3


COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])


FAST = {"epochs": 6, "max_steps": 4}


def colour_images(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class a colour under heavy noise: learnable, but only from varied examples."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), per_class).astype(np.int32)
    images = COLOURS[labels][:, None, None, :] + rng.normal(0, 40, (len(labels), 16, 16, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def data():
    real, real_labels = colour_images(100, seed=0)
    test = cas.TestSet(*colour_images(40, seed=1), name="test")  # not imported bare: pytest would try to collect it
    return real, real_labels, test


def test_a_generator_of_real_images_scores_near_the_real_ceiling(data):
    real, real_labels, test = data
    copies, copy_labels = colour_images(100, seed=2)  # "generated" images drawn from the real distribution
    scores = classification_accuracy_score(copies, copy_labels, real, real_labels, test, CLASSES, **FAST)
    assert scores["ceiling"] > 0.9
    assert abs(scores["cas"] - scores["ceiling"]) < 0.1
    assert scores["chance"] == pytest.approx(1 / 3)


def test_a_generator_of_noise_scores_near_chance(data):
    real, real_labels, test = data
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (300, 16, 16, 3), dtype=np.uint8)
    scores = classification_accuracy_score(noise, np.repeat(np.arange(CLASSES), 100).astype(np.int32), real,
                                           real_labels, test, CLASSES, **FAST)
    assert scores["cas"] < 0.5 < scores["ceiling"]
def test_augmentation_gain_is_the_difference_with_its_spread(data):
    real, real_labels, test = data
    mislabelled, labels = colour_images(100, seed=4)
    scores = augmentation_gain(mislabelled, (labels + 1) % CLASSES, real, real_labels, test, CLASSES,
                               fraction=0.1, seeds=(0, 1), **FAST)
    assert scores["gain"] == pytest.approx(scores["with"] - scores["without"])
    assert scores["gain"] < -0.2  # images of the wrong class hurt, and the measure says so
    assert scores["std"] >= 0 and scores["real_images"] == 30

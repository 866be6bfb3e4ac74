"""Is the synthetic data worth training on? Classification Accuracy Score and augmentation gain.

CAS (Ravuri & Vinyals 2019): a classifier trained only on generated images, N per class, then tested
on real images the generator never saw. Beside it, the same classifier trained on N real images per
class (the ceiling) and chance. A generator whose classes are right but each class one picture scores
far below the ceiling: the classifier never sees the variety it is tested on.

Augmentation gain: the classifier trained on a small real subset (10% of the training images), with
and without M generated images per class, tested the same way; the difference over three seeds, with
its spread. It answers the Export page's question directly: do these images help, do nothing or hurt?

The classifier is the project's small ResNet (gan.metrics.classifier) at widths 16-32-64, trained from
scratch for every measurement: a network that scores a model never takes part in training it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gan.data import stratified_split

WIDTHS = (16, 32, 64)  # ~75k parameters: a few minutes per fit on 2 CPU cores at CIFAR size
EPOCHS = 15
AUG_FRACTION = 0.1  # the real subset augmentation gain starts from
AUG_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class TestSet:
    """Real images a generator never trained on, and what they are (said beside every result)."""

    images: np.ndarray
    labels: np.ndarray
    name: str  # e.g. "held out by the run (5,000)", "CIFAR-10 test split (10,000)"


def accuracy_after_training(images: np.ndarray, labels: np.ndarray, test: TestSet, num_classes: int,
                            epochs: int = EPOCHS, seed: int = 0, on_epoch: Callable[[], None] | None = None,
                            max_steps: int | None = None) -> float:
    """Real-test accuracy of a fresh small classifier trained on (images, labels)."""
    import keras

    from gan.backend import set_random_seed
    from gan.metrics.classifier import build_classifier, fit

    set_random_seed(seed)
    model = build_classifier(num_classes, WIDTHS, images.shape[1])
    _, accuracy = fit(model, images, labels, epochs, seed=seed, max_steps=max_steps, on_epoch=on_epoch,
                      validation=(test.images.astype(np.float32), test.labels))
    keras.backend.clear_session(free_memory=False)
    return accuracy


def per_class_sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Up to `per_class` indices of each class, drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def classification_accuracy_score(generated: np.ndarray, gen_labels: np.ndarray, real: np.ndarray,
                                  real_labels: np.ndarray, test: TestSet, num_classes: int, epochs: int = EPOCHS,
                                  seed: int = 0, on_epoch=None, max_steps: int | None = None) -> dict[str, float]:
    """{"cas": accuracy trained on `generated`, "ceiling": trained on as many real images per class, "chance"}."""
    per_class = int(np.bincount(gen_labels, minlength=num_classes).max())
    ceiling_idx = per_class_sample(real_labels, per_class, seed)
    return {
        "cas": accuracy_after_training(generated, gen_labels, test, num_classes, epochs, seed, on_epoch, max_steps),
        "ceiling": accuracy_after_training(real[ceiling_idx], real_labels[ceiling_idx], test, num_classes, epochs,
                                           seed, on_epoch, max_steps),
        "chance": 1.0 / num_classes,
    }


def augmentation_gain(generated: np.ndarray, gen_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray,
                      test: TestSet, num_classes: int, fraction: float = AUG_FRACTION, seeds=AUG_SEEDS,
                      epochs: int = EPOCHS, on_epoch=None, max_steps: int | None = None) -> dict[str, float]:
    """Accuracy with minus without the generated images, on a `fraction` of the real data; mean and std."""
    without, with_generated = [], []
    for seed in seeds:
        _, subset = stratified_split(real_labels, max(num_classes, int(len(real_labels) * fraction)), seed)
        x, y = real[subset], real_labels[subset]
        without.append(accuracy_after_training(x, y, test, num_classes, epochs, seed, on_epoch, max_steps))
        with_generated.append(accuracy_after_training(np.concatenate([x, generated]),
                                                      np.concatenate([y, gen_labels]), test, num_classes, epochs,
                                                      seed, on_epoch, max_steps))
    gains = np.array(with_generated) - np.array(without)
    return {"gain": float(gains.mean()), "std": float(gains.std(ddof=1)) if len(gains) > 1 else 0.0,
            "without": float(np.mean(without)), "with": float(np.mean(with_generated)),
            "real_images": float(len(subset))}

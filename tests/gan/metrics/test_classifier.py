"""gan.metrics.classifier: the CIFAR classifier trains, saves and loads safely.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import noisy_colours

RNG = np.random.default_rng(0)


# --- classifier and end to end (tiny, synthetic) ----------------------------------------------
def test_classifier_trains_saves_and_loads_safely(classifier_workspace):
    import keras

    from gan.metrics.extractors import load_cifar

    root, summary = classifier_workspace
    assert summary["val_images"] == 12 and 0.0 <= summary["val_accuracy"] <= 1.0
    keras.saving.load_model(root / "clf" / "classifier.keras", safe_mode=True)
    extractor = load_cifar()
    feats, probs = extractor.features_and_probabilities(noisy_colours(4)[0])
    assert feats.shape == (12, 16) and probs.shape == (12, 3)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


def test_stratified_split_and_augment():
    from gan.metrics.classifier import augment, stratified_split

    labels = np.repeat(np.arange(10), 50)
    train, val = stratified_split(labels, 100)
    assert len(val) == 100 and not set(train) & set(val)
    assert np.all(np.bincount(labels[val]) == 10)
    images = RNG.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    out = augment(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8


def test_classifier_identity_follows_its_content_not_its_mtime(classifier_workspace, tmp_path):
    from gan.metrics.extractors import load_cifar

    original = Path(os.environ["GAN_CLASSIFIER"])
    copy = tmp_path / "copy.keras"
    copy.write_bytes(original.read_bytes())
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # what a git clone does to mtimes
    assert load_cifar(copy).key == load_cifar(original).key and load_cifar(copy).label.startswith("cifar@")
    changed = tmp_path / "changed.keras"
    changed.write_bytes(original.read_bytes() + b"\0")  # different bytes, same weights would load
    assert load_cifar(changed).key != load_cifar(original).key


def test_a_classifier_archive_with_more_than_keras_writes_is_refused_before_keras_reads_it(classifier_workspace,
                                                                                           tmp_path, monkeypatch):
    import zipfile

    import keras

    from gan.metrics.extractors import ExtractorError, load_cifar

    odd = tmp_path / "odd.keras"
    with zipfile.ZipFile(Path(os.environ["GAN_CLASSIFIER"])) as source, zipfile.ZipFile(odd, "w") as target:
        for member in source.infolist():
            target.writestr(member, source.read(member))
        target.writestr("payload.bin", b"not Keras'")
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **kw: pytest.fail("Keras parsed it"))
    with pytest.raises(ExtractorError, match=r"cannot load the CIFAR classifier .*odd.keras is not a plain .keras"):
        load_cifar(odd)

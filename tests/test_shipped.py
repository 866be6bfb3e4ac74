"""The pretrained generators in checkpoints/: they load on the CPU with safe loading, and sample deterministically.

The app opens on one of these, offline, so a broken or missing file here is a broken first impression.
"""

import json
import os

import numpy as np
import pytest
from helpers import REPO

from gan.config import TrainConfig
from gan.sampling import latent_dim, load_generator, num_classes, sample

CHECKPOINTS = REPO / "checkpoints"
SHIPPED = sorted(path.parent for path in CHECKPOINTS.glob("*/generator.keras"))


def test_at_least_one_generator_ships():
    assert SHIPPED, "checkpoints/ holds no generator.keras: the app would open on an empty state"


@pytest.mark.parametrize("run_dir", SHIPPED, ids=lambda path: path.name)
def test_shipped_run_is_complete_and_described(run_dir):
    config = TrainConfig.load(run_dir / "config.json")
    classes = json.loads((run_dir / "classes.json").read_text())
    assert len(classes) == 10 and "airplane" in classes
    assert (run_dir / "samples.png").stat().st_size > 10_000
    card = (run_dir / "README.md").read_text()
    assert config.preset in card and "fd_cifar10k" in card and "CPU" in card
    assert (run_dir / "generator.keras").stat().st_size <= 20 * 2**20


@pytest.mark.parametrize("run_dir", SHIPPED, ids=lambda path: path.name)
def test_shipped_generator_samples_deterministically_on_the_cpu(run_dir):
    import keras

    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
    model = load_generator(run_dir / "generator.keras")
    config = TrainConfig.load(run_dir / "config.json")
    assert latent_dim(model) == config.latent_dim
    class_id = 5 if num_classes(model) else None
    first, labels = sample(model, 64, seed=7, class_id=class_id)
    again, _ = sample(model, 64, seed=7, class_id=class_id)
    other, _ = sample(model, 64, seed=8, class_id=class_id)
    assert first.shape == (64, 32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.std() > 10, "the samples are flat: the weights did not load"
    if class_id is not None:
        assert (labels == class_id).all()

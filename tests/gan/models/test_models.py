"""Every preset builds G and D of the contracted shapes, conditional and not."""

import numpy as np
import pytest

from gan.config import ConfigError, TrainConfig
from gan.models import build_models
from gan.presets import get_preset, preset_names

SMALL = {"strong": {"g_channels": 16, "d_channels": 16}}


@pytest.mark.parametrize("preset", ["seed", "tiny", "small", "strong"])
@pytest.mark.parametrize("conditional", [False, True])
def test_shapes(preset, conditional):
    config = TrainConfig.for_preset(preset, conditional=conditional, extra=SMALL.get(preset, {}))
    generator, discriminator = build_models(config, num_classes=10)
    z = np.random.default_rng(0).standard_normal((4, config.latent_dim)).astype("float32")
    labels = np.array([0, 3, 9, 1], dtype="int32")
    images = np.asarray(generator([z, labels] if conditional else z, training=False))
    assert images.shape == (4, 32, 32, 3)
    assert images.min() >= -1 and images.max() <= 1
    logits = np.asarray(discriminator([images, labels] if conditional else images, training=False))
    assert logits.shape == (4, 1)
    assert np.isfinite(logits).all()
    assert len(generator.inputs) == (2 if conditional else 1)


def test_seed_matches_the_seed_projects():
    config = TrainConfig.for_preset("seed")
    assert (config.latent_dim, config.batch_size, config.g_lr, config.beta1, config.dropout) == \
        (100, 128, 2e-4, 0.5, 0.3)
    generator, discriminator = build_models(config, 10)
    dense = generator.get_layer(index=1)
    assert dense.units == 4 * 4 * 512
    transposed = [layer.filters for layer in generator.layers if layer.__class__.__name__ == "Conv2DTranspose"]
    assert transposed == [256, 128, 3]
    convs = [layer.filters for layer in discriminator.layers if layer.__class__.__name__ == "Conv2D"]
    assert convs == [64, 128, 256]
    assert discriminator.layers[-1].activation.__name__ == "linear"  # logits; the loss applies the sigmoid


def test_tiny_is_much_smaller_than_seed():
    seed_g, seed_d = build_models(TrainConfig.for_preset("seed"), 10)
    tiny_g, tiny_d = build_models(TrainConfig.for_preset("tiny"), 10)
    assert (seed_g.count_params() + seed_d.count_params()) > 20 * (tiny_g.count_params() + tiny_d.count_params())


def test_small_is_the_seed_at_quarter_width():
    config = TrainConfig.for_preset("small")
    assert (config.loss, config.latent_dim, config.batch_size, config.dropout) == ("bce", 100, 128, 0.3)
    generator, discriminator = build_models(config, 0)
    transposed = [layer.filters for layer in generator.layers if layer.__class__.__name__ == "Conv2DTranspose"]
    assert transposed == [64, 32, 3]
    convs = [layer.filters for layer in discriminator.layers if layer.__class__.__name__ == "Conv2D"]
    assert convs == [16, 32, 64]


def test_registry():
    assert {"seed", "tiny", "small", "strong"} <= set(preset_names())
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("huge")

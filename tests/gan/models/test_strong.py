"""The `strong` preset (gan.models.strong, gan.layers): shapes, switches, training on both backends, saving.

Models are 16 channels wide so that the whole file runs in well under a minute on 2 CPU cores.
Training tests run the real `gan.steps` train steps; the JAX one runs in a subprocess because the
Keras backend is fixed per process.


The training tests are in tests/e2e/test_strong.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import g_inputs, layers_of, perturb_cbn, tiny_config

from gan.config import TrainConfig
from gan.layers import ConditionalBatchNorm
from gan.models import build_models
from gan.sampling import num_classes

CLASSES = 10


@pytest.mark.parametrize("conditional", [True, False])
def test_shapes_dtypes_and_ranges(conditional):
    config = tiny_config(conditional=conditional)
    generator, discriminator = build_models(config, CLASSES)
    labels = [0, 3, 9, 1] if conditional else None
    images = generator(g_inputs(4, labels), training=False)
    assert tuple(images.shape) == (4, 32, 32, 3) and keras.backend.standardize_dtype(images.dtype) == "float32"
    values = keras.ops.convert_to_numpy(images)
    assert np.isfinite(values).all() and values.min() >= -1 and values.max() <= 1
    d_in = [images, keras.ops.convert_to_tensor(np.array(labels, np.int32))] if conditional else images
    logits = discriminator(d_in, training=True)
    assert tuple(logits.shape) == (4, 1) and keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()
    assert [t.name for t in generator.inputs] == (["z", "label"] if conditional else ["z"])
    assert [t.name for t in discriminator.inputs] == (["image", "label"] if conditional else ["image"])
    assert num_classes(generator) == (CLASSES if conditional else 0)


def test_64_pixel_images():
    generator, discriminator = build_models(tiny_config(image_size=64), CLASSES)
    images = generator(g_inputs(2, [1, 2]))
    assert tuple(images.shape) == (2, 64, 64, 3)
    assert tuple(discriminator([images, keras.ops.convert_to_tensor(np.array([1, 2], np.int32))]).shape) == (2, 1)


def test_default_widths_match_sngan():
    generator, discriminator = build_models(TrainConfig.for_preset("strong"), CLASSES)
    assert 4.0e6 < generator.count_params() < 5.0e6 and 0.9e6 < discriminator.count_params() < 1.2e6


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_spectral_norm_switch_wraps_every_conv_and_dense_of_d(spectral_norm):
    _, discriminator = build_models(tiny_config({"spectral_norm": spectral_norm}), CLASSES)
    wrapped = layers_of(discriminator, keras.layers.SpectralNormalization)
    bare = layers_of(discriminator, keras.layers.Conv2D) + layers_of(discriminator, keras.layers.Dense)
    if spectral_norm:
        assert len(wrapped) == 12 and not bare  # 3 + 3 + 2 + 2 convs, the output Dense, the projection
    else:
        assert not wrapped and len(bare) == 12


def test_conditional_bn_switch():
    generator, _ = build_models(tiny_config({"conditional_bn": True}), CLASSES)
    assert len(layers_of(generator, ConditionalBatchNorm)) == 6  # 2 per up-block; the last BN is plain
    plain, _ = build_models(tiny_config({"conditional_bn": False}), CLASSES)
    assert not layers_of(plain, ConditionalBatchNorm) and len(layers_of(plain, keras.layers.BatchNormalization)) == 7
    assert layers_of(plain, keras.layers.Concatenate), "without CBN the class embedding is concatenated to z"
    unconditional, _ = build_models(tiny_config(conditional=False), CLASSES)
    assert not layers_of(unconditional, ConditionalBatchNorm) and not layers_of(unconditional, keras.layers.Embedding)


def test_cbn_starts_at_gain_one_and_makes_g_depend_on_the_label():
    generator, _ = build_models(tiny_config(), CLASSES)
    for layer in layers_of(generator, ConditionalBatchNorm):
        assert not keras.ops.convert_to_numpy(layer.gain_kernel).any()  # gain = 1 + e @ 0
    perturb_cbn(generator)
    a = keras.ops.convert_to_numpy(generator(g_inputs(2, [0, 0]), training=False))
    b = keras.ops.convert_to_numpy(generator(g_inputs(2, [5, 5]), training=False))
    assert np.abs(a - b).mean() > 1e-3


def test_width_switches():
    generator, discriminator = build_models(tiny_config({"g_channels": 8, "d_channels": 24}), CLASSES)
    assert generator.get_layer("g_block1_conv1").filters == 8
    assert discriminator.get_layer("sum_pool").output.shape[-1] == 24


def test_mixed_precision_keeps_float32_outputs():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        generator, discriminator = build_models(tiny_config(mixed_precision=True), CLASSES)
        images = generator(g_inputs(2, [0, 1]), training=True)
        logits = discriminator([images, keras.ops.convert_to_tensor(np.array([0, 1], np.int32))], training=True)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(images.dtype) == "float32"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()



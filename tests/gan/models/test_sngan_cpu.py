"""The `sngan-cpu` preset: each switch does what it says, it trains on both backends, with and without classes.

Widths are cut to 32 channels so the whole file runs in seconds on 2 CPU cores.


Training without classes (a subprocess) is in tests/e2e/test_training.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gan.config import ConfigError, TrainConfig
from gan.layers import ConditionalBatchNorm, MinibatchStdDev
from gan.model import GAN, reestimate_batchnorm
from gan.models import build_models
from gan.presets import DEFAULT_PRESET, get_preset, preset_description

CLASSES = 10


NARROW = {"g_channels": 32, "d_channels": 32}


def config(extra: dict | None = None, **overrides) -> TrainConfig:
    return TrainConfig.for_preset("sngan-cpu", extra={**NARROW, **(extra or {})}, **{"batch_size": 8, **overrides})


def z_and_labels(batch: int, labels=None, seed: int = 0):
    z = np.random.default_rng(seed).standard_normal((batch, 128)).astype(np.float32)
    return z if labels is None else [z, np.asarray(labels, np.int32)]


def verdict(discriminator: keras.Model, inputs) -> np.ndarray:
    """D's real/fake logits, without the class logits of its auxiliary head (on by default when conditional)."""
    out = discriminator(inputs, training=False)
    return keras.ops.convert_to_numpy(out[0] if isinstance(out, (list, tuple)) else out)


def of_type(model: keras.Model, kind: type) -> list:
    return [layer for layer in model._flatten_layers() if isinstance(layer, kind)]


def test_it_is_the_default_preset_and_says_what_it_is():
    assert DEFAULT_PRESET == "sngan-cpu" == TrainConfig().preset
    description = get_preset("sngan-cpu").description
    assert preset_description("sngan-cpu") == description
    assert "spectral norm" in description and "EMA" in description


@pytest.mark.parametrize("conditional", [True, False])
def test_shapes_and_ranges(conditional):
    generator, discriminator = build_models(config(conditional=conditional), CLASSES)
    inputs = z_and_labels(8, np.arange(8) % CLASSES if conditional else None)
    images = keras.ops.convert_to_numpy(generator(inputs, training=False))
    assert images.shape == (8, 32, 32, 3) and np.abs(images).max() <= 1.0
    d_inputs = [images, inputs[1]] if conditional else images
    assert verdict(discriminator, d_inputs).shape == (8, 1)
    assert len(discriminator.outputs) == (2 if conditional else 1)  # the class head needs labels


def test_generator_widths_halve_from_the_top():
    generator, discriminator = build_models(config(extra={"g_channels": 128, "d_channels": 128}), CLASSES)
    ups = [generator.get_layer(f"up{i}").filters for i in (1, 2, 3)]
    assert generator.get_layer("project").units == 4 * 4 * 128 and ups == [64, 32, 16]
    downs = [discriminator.get_layer(f"down{i}_sn").layer.filters for i in (1, 2, 3)]
    assert discriminator.get_layer("from_rgb_sn").layer.filters == 16 and downs == [32, 64, 128]


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_spectral_norm_switch_wraps_every_weighted_layer_of_d(spectral_norm):
    _, discriminator = build_models(config(extra={"spectral_norm": spectral_norm}), CLASSES)
    wrapped = of_type(discriminator, keras.layers.SpectralNormalization)
    bare = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
            and layer.name != "class_logits"]  # the auxiliary class head is left free: its CE wants confident logits
    assert discriminator.get_layer("class_logits").units == CLASSES
    if spectral_norm:
        assert len(wrapped) == 7 and not bare  # from_rgb, 3 downs, head conv, linear, projection
    else:
        assert not wrapped and len(bare) == 7


def test_spectral_norm_bounds_each_layers_gain_after_training_steps():
    """With the switch on, D's effective kernels have largest singular value ~1 whatever the raw weights."""
    _, discriminator = build_models(config(), CLASSES)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32)
    for layer in of_type(discriminator, keras.layers.SpectralNormalization):
        layer.layer.kernel.assign(layer.layer.kernel * 50.0)  # a raw gain far above 1
    for _ in range(30):  # power iteration converges as training calls D
        discriminator([images, labels], training=True)
    for layer in of_type(discriminator, keras.layers.SpectralNormalization):
        kernel = keras.ops.convert_to_numpy(layer.normalized_weights()[1])
        top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert top == pytest.approx(1.0, abs=0.05), layer.name


@pytest.mark.parametrize("pool", ["flatten", "sum"])
def test_d_pool_switch_keeps_or_drops_where_features_are(pool):
    """flatten: the linear head sees every 4x4 position; sum: positions are pooled away. The class
    projection sees pooled features either way."""
    from gan.layers import GlobalSumPooling2D

    _, discriminator = build_models(config(extra={"d_pool": pool}), CLASSES)
    linear = discriminator.get_layer("linear_sn").layer
    assert discriminator.get_layer("label_projection_sn").layer.units == 32  # the class term: pooled features
    assert linear.kernel.shape[0] == (4 * 4 * 32 if pool == "flatten" else 32)
    assert len(of_type(discriminator, GlobalSumPooling2D)) == 1
    if pool == "flatten":  # swapping the image's halves moves its features: a positional head notices
        image = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
        swapped = np.concatenate([image[:, :, 16:], image[:, :, :16]], axis=2)
        labels = np.zeros(1, np.int32)
        a, b = verdict(discriminator, [image, labels]), verdict(discriminator, [swapped, labels])
        assert abs(float(a[0, 0] - b[0, 0])) > 1e-3


def test_conditional_bn_switch():
    cbn_g, _ = build_models(config(), CLASSES)
    concat_g, _ = build_models(config(extra={"conditional_bn": False}), CLASSES)
    assert len(of_type(cbn_g, ConditionalBatchNorm)) == 4
    assert not of_type(concat_g, ConditionalBatchNorm)
    assert any(isinstance(layer, keras.layers.Concatenate) for layer in concat_g.layers)


def test_projection_d_depends_on_the_label():
    _, discriminator = build_models(config(), CLASSES)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    a = verdict(discriminator, [images, np.zeros(4, np.int32)])
    b = verdict(discriminator, [images, np.full(4, 3, np.int32)])
    assert not np.allclose(a, b)


def test_minibatch_stddev_channel_is_the_group_spread():
    layer = MinibatchStdDev(group_size=2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 3, 5)).astype(np.float32)
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (4, 3, 3, 6)
    np.testing.assert_array_equal(out[..., :5], x)
    for i in range(4):  # groups pair sample i with sample i +- 2
        group = x[[i % 2, i % 2 + 2]]
        expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[i, ..., 5], expected, rtol=1e-5)
    same = np.repeat(x[:1], 4, axis=0)  # identical samples: no spread at all
    assert np.abs(keras.ops.convert_to_numpy(layer(same))[..., 5]).max() < 1e-3


@pytest.mark.parametrize("group", [4, 0])
def test_minibatch_stddev_switch_makes_d_see_the_rest_of_the_batch(group):
    _, discriminator = build_models(config(extra={"mbstd_group": group}), CLASSES)
    assert len(of_type(discriminator, MinibatchStdDev)) == (1 if group else 0)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    labels = np.zeros(8, np.int32)
    varied = verdict(discriminator, [images, labels])[0]
    collapsed = np.repeat(images[:1], 8, axis=0)  # sample 0 unchanged, its batch-mates now copies of it
    alone = verdict(discriminator, [collapsed, labels])[0]
    assert (not np.allclose(varied, alone)) == bool(group)


def test_a_batch_that_the_group_does_not_divide_is_refused():
    with pytest.raises(ConfigError, match="multiple of the minibatch-stddev group"):
        config(batch_size=10)


def test_ttur_and_linear_decay_set_the_learning_rates():
    gan = GAN(config(g_lr=1e-4, d_lr=4e-4), CLASSES, total_steps=100)
    for optimizer, initial in ((gan.g_optimizer, 1e-4), (gan.d_optimizer, 4e-4)):
        assert float(optimizer.learning_rate) == pytest.approx(initial)
        optimizer.iterations.assign(25)
        assert float(optimizer.learning_rate) == pytest.approx(0.75 * initial)
        optimizer.iterations.assign(100)
        assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-12)
    constant = GAN(config(lr_decay="none", g_lr=1e-4), CLASSES, total_steps=100)
    constant.g_optimizer.iterations.assign(99)
    assert float(constant.g_optimizer.learning_rate) == pytest.approx(1e-4)


def test_bn_reestimation_makes_inference_statistics_match_the_samples():
    """After re-estimation, the EMA-style generator's inference output matches its batch-statistics output;
    with the moving statistics of other weights (here: untouched initial ones) it does not."""
    generator, _ = build_models(config(), CLASSES)
    inputs = z_and_labels(200, np.arange(200) % CLASSES, seed=1)

    def gap() -> float:
        eval_mode = keras.ops.convert_to_numpy(generator(inputs, training=False))
        batch_mode = keras.ops.convert_to_numpy(generator(inputs, training=True))
        return float(np.abs(eval_mode - batch_mode).mean())

    before = gap()
    reestimate_batchnorm(generator, CLASSES, batches=20, batch_size=100)
    after = gap()
    assert after < 0.2 * before
    norms = of_type(generator, keras.layers.BatchNormalization)
    assert all(layer.momentum == 0.9 for layer in norms)  # restored


def test_prepare_sampler_reestimates_only_when_switched_on():
    for batches, changes in ((5, True), (0, False)):
        gan = GAN(config(bn_reestimate=batches), CLASSES, total_steps=10)
        before = [keras.ops.convert_to_numpy(v).copy() for v in gan.ema_generator.non_trainable_variables]
        sampler = gan.prepare_sampler()
        after = [keras.ops.convert_to_numpy(v) for v in sampler.non_trainable_variables]
        assert sampler is gan.ema_generator
        assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True)) == changes


def test_mode_seeking_charges_a_generator_that_ignores_z():
    """The term is lambda / (image gap / z gap) over pairs drawn for the same labels: large when G ignores z."""
    import keras

    labels = keras.ops.convert_to_tensor((np.arange(8) % CLASSES).astype(np.int32))
    gan = GAN(config(mode_seeking=1.0), CLASSES, total_steps=10)
    _, varied = gan.g_loss(labels, 0.0)
    project = gan.generator.get_layer("project")
    project.kernel.assign(project.kernel * 0.0)  # z no longer reaches the image
    _, blind = gan.g_loss(labels, 0.0)
    assert float(blind["mode_seeking"]) > 100 * float(varied["mode_seeking"])
    plain = GAN(config(mode_seeking=0.0), CLASSES, total_steps=10)
    assert "mode_seeking" not in plain.g_loss(labels, 0.0)[1]


def test_z_in_bn_switch_feeds_z_to_every_conditional_norm():
    plain, _ = build_models(config(), CLASSES)
    skip_z, _ = build_models(config(extra={"z_in_bn": True}), CLASSES)
    norms = of_type(skip_z, ConditionalBatchNorm)
    assert norms and all(n.gain_kernel.shape[0] == 128 + 128 for n in norms)  # class embedding + z
    assert all(n.gain_kernel.shape[0] == 128 for n in of_type(plain, ConditionalBatchNorm))


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_ac_weight_switch_gives_d_a_class_head(weight):
    _, d = build_models(config(extra={"ac_weight": weight}), CLASSES)
    images = np.zeros((4, 32, 32, 3), np.float32)
    out = d([images, np.arange(4, dtype=np.int32)])
    if weight:
        logits, classes = out
        assert tuple(classes.shape) == (4, CLASSES)
    else:
        logits = out
    assert tuple(logits.shape) == (4, 1)
    _, unconditional = build_models(config(conditional=False, extra={"ac_weight": weight}), CLASSES)
    assert len(unconditional.outputs) == 1  # no labels, no class head


@pytest.mark.parametrize("bad", [-1.0, 101, "1", True, None])
def test_a_bad_ac_weight_is_refused(bad):
    with pytest.raises(ConfigError, match="ac_weight must be a number"):
        config(extra={"ac_weight": bad})


def test_ac_head_learns_classes_from_real_images_and_g_pays_when_it_reads_them_wrong():
    """Two classes of flat colour: D's head learns them in a few steps, and G's class loss is its cross-entropy."""
    from gan.steps.tensorflow import TensorFlowStep

    keras.utils.set_random_seed(0)  # the head's initial weights too: the same run every time
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    images = np.zeros((64, 32, 32, 3), np.uint8)
    images[labels == 0, ..., 0] = 255  # red
    images[labels == 1, ..., 2] = 255  # blue
    gan = GAN(config(batch_size=16, mode_seeking=0.0, extra={"ac_weight": 1.0}), 2, total_steps=40)
    step = TensorFlowStep(gan, images, labels)
    losses = [float(step(rng.integers(0, 64, (1, 16)), 0.0, 0.999)["d_class_loss"]) for _ in range(40)]
    # Against chance (ln 2), not the first batch: a random head can start anywhere from 0.4 to 1.0.
    assert np.mean(losses[-5:]) < 0.5 * np.log(2)
    _, classes = gan.discriminator([images.astype(np.float32) / 127.5 - 1, labels.astype(np.int32)])
    assert (np.argmax(classes, axis=1) == labels).mean() > 0.9

    y = keras.ops.convert_to_tensor(labels[:16].astype(np.int32))
    _, metrics = gan.g_loss(y, 0.0)
    assert "g_class_loss" in metrics and float(metrics["g_class_loss"]) > 0
    plain = GAN(config(mode_seeking=0.0, extra={"ac_weight": 0.0}), 2, total_steps=10)
    assert "g_class_loss" not in plain.g_loss(y, 0.0)[1] and "d_class_loss" not in plain.d_loss(
        keras.ops.zeros((4, 32, 32, 3)), y[:4], 0.0)[1]

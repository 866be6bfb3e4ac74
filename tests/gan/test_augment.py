"""DiffAugment (gan.augment): each op does what the paper says, stays differentiable and compiles with XLA.

The JAX side (under `jax.jit`, inside the real train step) is covered by tests/e2e/test_strong.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gan import augment
from gan.augment import diff_augment

ALL = ("flip", "color", "translation", "cutout")


tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.GradientTape, tf.function")


@pytest.fixture
def images() -> np.ndarray:
    """4 random 32x32 images in [-1, 1], with no exact zeros (so erased pixels are recognisable)."""
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    return np.where(x == 0, 0.5, x)


def run(fn, images, seed: int = 0) -> np.ndarray:
    return keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(images), keras.random.SeedGenerator(seed)))


@pytest.mark.parametrize("op", ALL)
def test_each_op_changes_images_and_keeps_shape(images, op):
    out = run(lambda x, g: diff_augment(x, (op,), g), images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert not np.allclose(out, images)


def test_empty_policy_is_identity_and_unknown_op_is_an_error(images):
    np.testing.assert_array_equal(run(lambda x, g: diff_augment(x, (), g), images), images)
    with pytest.raises(ValueError, match="unknown augment op"):
        run(lambda x, g: diff_augment(x, ("rotate",), g), images)


def test_flip_mirrors_some_images_left_to_right_and_leaves_the_rest():
    images = np.random.default_rng(1).uniform(-1, 1, (64, 32, 32, 3)).astype(np.float32)
    out = run(augment.flip, images)
    mirrored = [np.array_equal(o, x[:, ::-1]) for o, x in zip(out, images, strict=True)]
    kept = [np.array_equal(o, x) for o, x in zip(out, images, strict=True)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True))  # each image is exactly one of the two
    assert 16 <= sum(mirrored) <= 48  # about half, from one coin per image


def test_brightness_adds_one_value_per_image_within_half(images):
    delta = run(augment.brightness, images) - images
    per_image = delta[:, :1, :1, :1]
    np.testing.assert_allclose(delta, np.broadcast_to(per_image, delta.shape), atol=1e-6)
    assert (np.abs(per_image) <= 0.5).all() and len(np.unique(per_image.round(5))) == len(images)


def test_saturation_keeps_grey_level_and_scales_within_0_to_2(images):
    out = run(augment.saturation, images)
    np.testing.assert_allclose(out.mean(axis=3), images.mean(axis=3), atol=1e-5)
    grey = images.mean(axis=3, keepdims=True)
    factor = (out - grey)[..., 0] / (images - grey)[..., 0]
    assert ((factor >= -1e-3) & (factor <= 2 + 1e-3)).all()


def test_contrast_keeps_image_mean_and_scales_within_half_to_one_and_half(images):
    out = run(augment.contrast, images)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)), atol=1e-5)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    factor = ((out - mean) / (images - mean)).reshape(len(images), -1)
    np.testing.assert_allclose(factor, factor[:, :1] * np.ones_like(factor), rtol=1e-3, atol=1e-3)
    assert ((factor[:, 0] >= 0.5 - 1e-4) & (factor[:, 0] <= 1.5 + 1e-4)).all()


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference translation: out[i, j] = image[i + dy, j + dx], zero where that is outside."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    source = image[max(0, dy):min(h, h + dy), max(0, dx):min(w, w + dx)]
    out[max(0, -dy):min(h, h - dy), max(0, -dx):min(w, w - dx)] = source
    return out


def test_translation_is_an_exact_shift_of_at_most_an_eighth_with_zero_fill(images):
    out = run(augment.translation, images)
    shifts = []
    for image, result in zip(images, out, strict=True):
        candidates = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)]
        matches = [shift for shift in candidates if np.array_equal(shifted(image, *shift), result)]
        assert len(matches) == 1, "each output must be exactly one shift of its input"
        shifts.append(matches[0])
    assert len(set(shifts)) > 1, "shifts are drawn per image"


def test_cutout_zeroes_one_square_of_half_size_per_image(images):
    out = run(augment.cutout, images)
    erased = out == 0
    np.testing.assert_array_equal(out[~erased], images[~erased])
    for mask in erased.all(axis=3):
        rows, cols = mask.any(axis=1), mask.any(axis=0)
        np.testing.assert_array_equal(mask, np.outer(rows, cols))  # one axis-aligned rectangle
        assert 8 <= rows.sum() <= 16 and 8 <= cols.sum() <= 16  # a 16x16 square, clipped by the border
        assert rows.sum() == 16 or rows[0] or rows[-1]
        assert cols.sum() == 16 or cols[0] or cols[-1]


def test_same_seed_state_gives_same_output_and_the_state_advances(images):
    fn = lambda x, g: diff_augment(x, ALL, g)
    np.testing.assert_array_equal(run(fn, images, seed=7), run(fn, images, seed=7))
    generator = keras.random.SeedGenerator(7)
    x = keras.ops.convert_to_tensor(images)
    first, second = (keras.ops.convert_to_numpy(diff_augment(x, ALL, generator)) for _ in range(2))
    assert not np.allclose(first, second)


def test_bfloat16_images_stay_bfloat16(images):
    out = diff_augment(keras.ops.cast(images, "bfloat16"), ALL, keras.random.SeedGenerator(0))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))).all()


@tensorflow_only
def test_gradient_flows_to_the_images(images):
    import tensorflow as tf

    weights = tf.constant(np.random.default_rng(1).normal(size=images.shape).astype(np.float32))
    x = tf.constant(images)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        everything = tf.reduce_sum(diff_augment(x, ALL, keras.random.SeedGenerator(0)) * weights)
        cut = diff_augment(x, ("cutout",), keras.random.SeedGenerator(0))
        cut_loss = tf.reduce_sum(cut * weights)
    grad = tape.gradient(everything, x).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    # Cutout passes the gradient through untouched pixels and blocks it exactly on erased ones.
    grad_cut, kept = tape.gradient(cut_loss, x).numpy(), cut.numpy() != 0
    np.testing.assert_array_equal(grad_cut, np.where(kept, weights.numpy(), 0))


@tensorflow_only
def test_runs_inside_xla_compiled_tf_function(images):
    import tensorflow as tf

    def compiled(generator):
        return tf.function(lambda x: diff_augment(x, ALL, generator), jit_compile=True)

    augment_fn = compiled(keras.random.SeedGenerator(3))
    first = augment_fn(tf.constant(images)).numpy()
    second = augment_fn(tf.constant(images)).numpy()
    assert first.shape == images.shape and np.isfinite(first).all()
    assert not np.allclose(first, second)  # the generator's state advances inside the compiled function
    # XLA draws other random numbers than eager TF, but the same state still gives the same output.
    np.testing.assert_array_equal(first, compiled(keras.random.SeedGenerator(3))(tf.constant(images)).numpy())

"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) of real and fake images alike.

D sees only augmented images, real and fake, so it cannot memorise a small training set, while
G still gets gradients through the augmentation. Everything is `keras.ops` on static shapes
(masks and one flat gather, no Python loop over the batch), so the same code runs on TensorFlow
and JAX, inside `tf.function(jit_compile=True)` and `jax.jit`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

TRANSLATION_RATIO = 0.125  # largest shift, as a fraction of the image size
CUTOUT_RATIO = 0.5  # side of the erased square, as a fraction of the image size


def _uniform(images, seed_generator, low: float = 0.0, high: float = 1.0):
    """One random value per image, shaped (B, 1, 1, 1) to broadcast over pixels and channels."""
    shape = (ops.shape(images)[0], 1, 1, 1)
    return keras.random.uniform(shape, low, high, dtype="float32", seed=seed_generator)


def _random_offsets(images, seed_generator, low: int, high: int):
    """Integers in [low, high] (inclusive), one per image, shaped (B, 1, 1)."""
    u = _uniform(images, seed_generator)[..., 0]
    offsets = ops.floor(u * (high - low + 1)) + low
    return ops.cast(ops.minimum(offsets, high), "int32")  # u < 1 always; guard the edge anyway


def _within(index, size: int):
    """index in [0, size)."""
    return ops.logical_and(index >= 0, index < size)


def brightness(images, seed_generator):
    """Add one value in [-0.5, 0.5] per image."""
    return images + ops.cast(_uniform(images, seed_generator, -0.5, 0.5), images.dtype)


def saturation(images, seed_generator):
    """Scale each pixel's distance from its grey level by a factor in [0, 2] per image."""
    grey = ops.mean(images, axis=3, keepdims=True)
    return (images - grey) * ops.cast(_uniform(images, seed_generator, 0.0, 2.0), images.dtype) + grey


def contrast(images, seed_generator):
    """Scale each image's distance from its mean by a factor in [0.5, 1.5]."""
    mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - mean) * ops.cast(_uniform(images, seed_generator, 0.5, 1.5), images.dtype) + mean


def translation(images, seed_generator, ratio: float = TRANSLATION_RATIO):
    """Shift each image by whole pixels, up to `ratio` of its size each way; uncovered pixels become 0.

    A gather with per-image source indices (not a loop, not a roll): exact, differentiable and
    static in shape. Source pixels outside the image are read from a clipped index, then masked.
    """
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = _random_offsets(images, seed_generator, -shift_y, shift_y)
    dx = _random_offsets(images, seed_generator, -shift_x, shift_x)
    batch = ops.shape(images)[0]
    rows = ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1)) + dy
    cols = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width)) + dx
    inside = ops.logical_and(_within(rows, height), _within(cols, width))  # (B, H, W)
    first = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))
    index = first + ops.clip(rows, 0, height - 1) * width + ops.clip(cols, 0, width - 1)
    pixels = ops.take(ops.reshape(images, (-1, channels)), ops.reshape(index, (-1,)), axis=0)
    shifted = ops.reshape(pixels, ops.shape(images))
    return shifted * ops.cast(inside, images.dtype)[..., None]


def cutout(images, seed_generator, ratio: float = CUTOUT_RATIO):
    """Zero one square of side `ratio` x size per image, centred anywhere (it may overhang the border)."""
    height, width = images.shape[1], images.shape[2]
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # Centres range over the whole image (Zhao et al.), so borders are erased as often as the middle.
    cy = _random_offsets(images, seed_generator, 0, height + (1 - size_y % 2) - 1)
    cx = _random_offsets(images, seed_generator, 0, width + (1 - size_x % 2) - 1)
    rows = ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1)) - (cy - size_y // 2)
    cols = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width)) - (cx - size_x // 2)
    erased = ops.logical_and(_within(rows, size_y), _within(cols, size_x))  # (B, H, W)
    return images * ops.cast(ops.logical_not(erased), images.dtype)[..., None]


def flip(images, seed_generator):
    """Mirror half the images left to right: a mirrored photo is still a photo, so D learns nothing false."""
    mirrored = ops.flip(images, axis=2)
    return ops.where(_uniform(images, seed_generator) < 0.5, mirrored, images)


AUGMENT_FNS = {
    "flip": (flip,),
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(images, policy: Sequence[str], seed_generator):
    """Apply the ops in `policy` to a batch in [-1, 1]; differentiable w.r.t. `images`.

    `policy` names ops of `AUGMENT_FNS` in the order to apply them; `seed_generator` is a
    `keras.random.SeedGenerator` whose state advances with every random draw.
    """
    for name in policy:
        if name not in AUGMENT_FNS:
            raise ValueError(f"unknown augment op {name!r}; choose from {', '.join(AUGMENT_FNS)}")
        for fn in AUGMENT_FNS[name]:
            images = fn(images, seed_generator)
    return images

"""The `strong` preset: an SNGAN/BigGAN-style ResNet GAN for 32x32 (or 64x64) images.

G (Miyato & Koyama 2018, CIFAR-10): z -> Dense 4x4xC -> up-ResBlocks to the image size -> BN -> ReLU
-> conv3x3 -> tanh. Each up-block: (C)BN -> ReLU -> upsample -> conv3x3 -> (C)BN -> ReLU -> conv3x3,
plus upsample -> conv1x1 on the shortcut.
D: an "optimized" first down-block, down-blocks to 8x8, two more blocks at 8x8, ReLU, global sum
pooling -> Dense(1), plus the projection term <embed(y), h> when conditional.

Switches in `config.extra` (defaults in the preset, gan/models/__init__.py):
- `g_channels`, `d_channels`: widths C of G and D (256 and 128 in SNGAN).
- `spectral_norm`: every conv / dense / projection of D wrapped in `gan.layers.SpectralNorm` (Keras' wrapper,
  differentiated through sigma).
- `conditional_bn`: conditional G uses class-conditional batch norm fed by a shared class embedding
  (BigGAN); off, the embedding is concatenated to z and G uses plain batch norm.
- `embed_dim`: size of G's shared class embedding (`label_embedding`).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from gan.config import TrainConfig
from gan.layers import ConditionalBatchNorm, GlobalSumPooling2D, OneHot, SpectralNorm

BOTTOM = 4  # G starts from BOTTOM x BOTTOM features
D_FINAL = 8  # D downsamples to D_FINAL x D_FINAL, then runs two more blocks there
BN_MOMENTUM = 0.9  # moving statistics that keep up with a changing G (PyTorch's 0.1)
BN_EPSILON = 1e-5


def _label_input(num_classes: int) -> keras.KerasTensor | None:
    return keras.Input((), dtype="int32", name="label") if num_classes else None


def _norm(x, embedding, name: str):
    """Conditional batch norm when there is a class embedding to condition on, plain otherwise."""
    if embedding is None:
        return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)
    return ConditionalBatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)([x, embedding])


def _g_block(x, channels: int, embedding, name: str):
    h = layers.ReLU()(_norm(x, embedding, f"{name}_bn1"))
    h = layers.UpSampling2D(2, interpolation="nearest")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.ReLU()(_norm(h, embedding, f"{name}_bn2"))
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    shortcut = layers.UpSampling2D(2, interpolation="nearest")(x)
    shortcut = layers.Conv2D(channels, 1, name=f"{name}_shortcut")(shortcut)
    return layers.Add(name=name)([h, shortcut])


def build_generator(config: TrainConfig, num_classes: int) -> keras.Model:
    extra = config.extra
    channels = extra["g_channels"]
    z = keras.Input((config.latent_dim,), name="z")
    label = _label_input(num_classes)
    h, embedding = z, None
    if num_classes:
        embedding = layers.Embedding(num_classes, extra.get("embed_dim", 128), name="label_embedding")(label)
        if not extra.get("conditional_bn", True):
            h, embedding = layers.Concatenate()([z, embedding]), None
    h = layers.Dense(BOTTOM * BOTTOM * channels, name="project")(h)
    h = layers.Reshape((BOTTOM, BOTTOM, channels))(h)
    for i in range(int(math.log2(config.image_size // BOTTOM))):
        h = _g_block(h, channels, embedding, f"g_block{i + 1}")
    # The last norm is unconditional in SNGAN and BigGAN alike: the class is already in the features.
    h = layers.ReLU()(_norm(h, None, "final_bn"))
    h = layers.Conv2D(3, 3, padding="same", name="to_rgb")(h)
    image = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model([z, label] if num_classes else z, image, name="generator")


def _sn(layer: layers.Layer, enabled: bool, **kwargs) -> layers.Layer:
    """`layer`, wrapped in spectral normalization when `enabled` (kwargs go to the wrapper)."""
    return SpectralNorm(layer, **kwargs) if enabled else layer


def _conv(channels: int, size: int, sn: bool, name: str) -> layers.Layer:
    return _sn(layers.Conv2D(channels, size, padding="same", name=name), sn)


def _d_block(x, channels: int, sn: bool, down: bool, name: str, optimized: bool = False):
    """A D ResBlock; the `optimized` first block skips the leading ReLU (it would clip the image)
    and pools before its 1x1 shortcut conv (cheaper, and the same map as conv-then-pool)."""
    h = x if optimized else layers.ReLU()(x)
    h = _conv(channels, 3, sn, f"{name}_conv1")(h)
    h = _conv(channels, 3, sn, f"{name}_conv2")(layers.ReLU()(h))
    if down:
        h = layers.AveragePooling2D(2)(h)
    shortcut = x
    if optimized:
        shortcut = _conv(channels, 1, sn, f"{name}_shortcut")(layers.AveragePooling2D(2)(x))
    elif down or x.shape[-1] != channels:
        shortcut = _conv(channels, 1, sn, f"{name}_shortcut")(x)
        if down:
            shortcut = layers.AveragePooling2D(2)(shortcut)
    return layers.Add(name=name)([h, shortcut])


def build_discriminator(config: TrainConfig, num_classes: int) -> keras.Model:
    channels = config.extra["d_channels"]
    sn = bool(config.extra.get("spectral_norm", True))
    image = keras.Input((config.image_size, config.image_size, 3), name="image")
    label = _label_input(num_classes)
    h = _d_block(image, channels, sn, down=True, name="d_block1", optimized=True)
    blocks, size = 1, config.image_size // 2
    while size > D_FINAL:
        blocks, size = blocks + 1, size // 2
        h = _d_block(h, channels, sn, down=True, name=f"d_block{blocks}")
    for _ in range(2):
        blocks += 1
        h = _d_block(h, channels, sn, down=False, name=f"d_block{blocks}")
    # The head runs in float32 under mixed precision: sums of 64 bfloat16 values lose too much.
    h = GlobalSumPooling2D(dtype="float32", name="sum_pool")(layers.ReLU()(h))
    logits = _sn(layers.Dense(1, dtype="float32", name="linear"), sn, dtype="float32")(h)
    if num_classes:
        one_hot = OneHot(num_classes, dtype="float32", name="one_hot")(label)
        embedded = _sn(layers.Dense(channels, use_bias=False, dtype="float32", name="label_projection"), sn,
                       dtype="float32")(one_hot)
        projection = layers.Dot(axes=1, dtype="float32", name="projection")([embedded, h])
        logits = layers.Add(dtype="float32", name="logits")([logits, projection])
    return keras.Model([image, label] if num_classes else image, logits, name="discriminator")

"""The `sngan-cpu` preset: a conditional SN-DCGAN sized for two CPU cores (shared/research/cpu-gan.md).

G: z -> Dense 4x4xC -> (C)BN -> ReLU -> three [ConvT k4 s2 (C/2, C/4, C/8) -> (C)BN -> ReLU]
   -> conv3x3 -> tanh. Class-conditional batch norm (a shared class embedding -> per-layer gain
   and bias, as in BigGAN) when conditional.
D: conv3x3 C/8 -> three [conv k4 s2 (C/4, C/2, C)] (LeakyReLU 0.1) -> minibatch stddev -> conv3x3 C
   -> flatten -> Dense(1), plus the projection <embed(y), sum-pooled h>. Every layer spectrally normalized;
   no BatchNorm and no dropout in D.

Switches in `config.extra` (defaults in the preset, gan/models/__init__.py):
- `g_channels`, `d_channels`: the widths C of G's first and D's last features.
- `spectral_norm`: wrap every D layer in `gan.layers.SpectralNorm` (Keras' wrapper, differentiated through sigma).
- `conditional_bn`: class-conditional BN in G; off, the class embedding is concatenated to z.
- `mbstd_group`: group size of D's minibatch-stddev channel; 0 leaves it out.
- `d_pool`: what D's linear head sees: "flatten" (the last 4x4 features, position by position) or "sum"
  (global sum pooling, as ResNet Ds do; in a D this shallow it let G tile one texture). The class
  projection always sees the pooled features.
- `embed_dim`: size of G's shared class embedding.
- `z_in_bn`: condition every conditional BN on [class embedding, z] (BigGAN's skip-z), so z reaches
  every layer and not only the first, where class conditioning at every layer drowned it out.
- `g_up`: "transpose" (ConvTranspose k4 s2, DCGAN's) or "nearest" (nearest-neighbour upsampling, then a
  3x3 conv: no checkerboard artifacts, 2.25x the multiply-adds).
- `ac_weight`: when above 0 (and conditional), D also has an auxiliary classifier head (AC-GAN, Odena et al.
  2017) on its pooled features, trained on real images only; G is rewarded when D's head reads its samples
  as their class (gan/model.py). The projection alone left half of the samples unreadable as their class.
"""

from __future__ import annotations

import keras
from keras import layers

from gan.config import TrainConfig
from gan.layers import ConditionalBatchNorm, GlobalSumPooling2D, MinibatchStdDev, OneHot, SpectralNorm

BOTTOM = 4
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
SLOPE = 0.1


def _norm_relu(x, embedding, name: str):
    if embedding is None:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)
    else:
        x = ConditionalBatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)([x, embedding])
    return layers.ReLU()(x)


def build_generator(config: TrainConfig, num_classes: int) -> keras.Model:
    extra = config.extra
    channels = extra["g_channels"]
    z = keras.Input((config.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label") if num_classes else None
    h, embedding = z, None
    if num_classes:
        embedding = layers.Embedding(num_classes, extra.get("embed_dim", 128), name="label_embedding")(label)
        if not extra.get("conditional_bn", True):
            h, embedding = layers.Concatenate()([z, embedding]), None
        elif extra.get("z_in_bn", False):  # BigGAN's skip-z: every layer's gain and bias also see z
            embedding = layers.Concatenate(name="class_and_z")([embedding, z])
    h = layers.Dense(BOTTOM * BOTTOM * channels, use_bias=False, name="project")(h)
    h = _norm_relu(layers.Reshape((BOTTOM, BOTTOM, channels))(h), embedding, "bn0")
    size, i = BOTTOM, 0
    while size < config.image_size:
        i, size, channels = i + 1, size * 2, max(channels // 2, 8)
        if extra.get("g_up", "transpose") == "nearest":  # no checkerboard, 2.25x the multiply-adds
            h = layers.UpSampling2D(2, interpolation="nearest")(h)
            h = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"up{i}")(h)
        else:
            h = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False, name=f"up{i}")(h)
        h = _norm_relu(h, embedding, f"bn{i}")
    h = layers.Conv2D(3, 3, padding="same", name="to_rgb")(h)
    image = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model([z, label] if num_classes else z, image, name="generator")


def build_discriminator(config: TrainConfig, num_classes: int) -> keras.Model:
    extra = config.extra
    top = extra["d_channels"]
    sn = bool(extra.get("spectral_norm", True))
    group = int(extra.get("mbstd_group", 0))

    def sn_layer(layer: layers.Layer, **kwargs) -> layers.Layer:
        """`layer`, or its spectrally normalized wrapper, named `<layer>_sn`."""
        return SpectralNorm(layer, name=f"{layer.name}_sn", **kwargs) if sn else layer

    image = keras.Input((config.image_size, config.image_size, 3), name="image")
    label = keras.Input((), dtype="int32", name="label") if num_classes else None
    downs = (config.image_size // BOTTOM).bit_length() - 1  # 32 -> 4: three
    widths = [max(top >> (downs - i), 8) for i in range(downs + 1)]  # C/8, C/4, C/2, C
    h = layers.LeakyReLU(SLOPE)(sn_layer(layers.Conv2D(widths[0], 3, padding="same", name="from_rgb"))(image))
    for i, channels in enumerate(widths[1:], start=1):
        h = sn_layer(layers.Conv2D(channels, 4, strides=2, padding="same", name=f"down{i}"))(h)
        h = layers.LeakyReLU(SLOPE)(h)
    if group:
        h = MinibatchStdDev(group, name="mbstd")(h)
    h = layers.LeakyReLU(SLOPE)(sn_layer(layers.Conv2D(top, 3, padding="same", name="head_conv"))(h))
    pooled = GlobalSumPooling2D(dtype="float32", name="sum_pool")(h)
    if extra.get("d_pool", "flatten") == "sum":  # position-blind: measured to let G tile one texture
        logits = sn_layer(layers.Dense(1, dtype="float32", name="linear"), dtype="float32")(pooled)
    else:  # where each feature is matters (SNGAN's standard CNN D ends the same way)
        flat = layers.Flatten(dtype="float32", name="flatten")(h)
        logits = sn_layer(layers.Dense(1, dtype="float32", name="linear"), dtype="float32")(flat)
    if num_classes:
        # The class term sees pooled features (Miyato & Koyama 2018): on flattened ones it scores each class
        # against one spatial template, and G answered with one picture per class in a pilot.
        one_hot = OneHot(num_classes, dtype="float32", name="one_hot")(label)
        embedded = sn_layer(layers.Dense(top, use_bias=False, dtype="float32", name="label_projection"),
                            dtype="float32")(one_hot)
        projection = layers.Dot(axes=1, dtype="float32", name="projection")([embedded, pooled])
        logits = layers.Add(dtype="float32", name="logits")([logits, projection])
        if extra.get("ac_weight", 0.0) > 0:  # not spectrally normalized: CE needs confident logits
            class_logits = layers.Dense(num_classes, dtype="float32", name="class_logits")(pooled)
            return keras.Model([image, label], [logits, class_logits], name="discriminator")
    return keras.Model([image, label] if num_classes else image, logits, name="discriminator")

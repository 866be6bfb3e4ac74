"""The seed projects' DCGAN, with a width knob (`seed` = 512, `tiny` = 64) and optional class conditioning.

G: Dense 4x4xW -> BN -> ReLU -> ConvT W/2 -> BN -> ReLU -> ConvT W/4 -> BN -> ReLU -> ConvT 3 -> tanh.
D: Conv W/8, W/4, W/2 (stride 2, LeakyReLU 0.2, Dropout) -> Flatten -> Dense(1) logits.
Conditioning: a label embedding concatenated to z in G; a projection term <embed(y), h> in D.
"""

from __future__ import annotations

import keras
from keras import layers

from gan.config import TrainConfig


def _inputs(shape: tuple[int, ...], name: str, num_classes: int) -> tuple[keras.KerasTensor, list]:
    x = keras.Input(shape, name=name)
    inputs = [x]
    if num_classes:
        inputs.append(keras.Input((), dtype="int32", name="label"))
    return x, inputs


def build_generator(config: TrainConfig, num_classes: int) -> keras.Model:
    width = config.extra["width"]
    start = config.image_size // 8
    z, inputs = _inputs((config.latent_dim,), "z", num_classes)
    h = z
    if num_classes:
        h = layers.Concatenate()([z, layers.Embedding(num_classes, 50, name="label_embedding")(inputs[1])])
    h = layers.Dense(start * start * width, use_bias=False)(h)
    h = layers.Reshape((start, start, width))(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    for channels in (width // 2, width // 4):
        h = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False)(h)
        h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Conv2DTranspose(3, 4, strides=2, padding="same")(h)
    image = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model(inputs if num_classes else z, image, name="generator")


def build_discriminator(config: TrainConfig, num_classes: int) -> keras.Model:
    width = config.extra["width"]
    image, inputs = _inputs((config.image_size, config.image_size, 3), "image", num_classes)
    h = image
    for channels in (width // 8, width // 4, width // 2):
        h = layers.Conv2D(channels, 4, strides=2, padding="same")(h)
        h = layers.LeakyReLU(0.2)(h)
        if config.dropout:
            h = layers.Dropout(config.dropout)(h)
    h = layers.Flatten()(h)
    logits = layers.Dense(1, dtype="float32")(h)
    if num_classes:
        embedded = layers.Embedding(num_classes, h.shape[-1], name="label_projection")(inputs[1])
        projection = layers.Dot(axes=1, dtype="float32")([embedded, h])
        logits = layers.Add(dtype="float32", name="logits")([logits, projection])
    return keras.Model(inputs if num_classes else image, logits, name="discriminator")

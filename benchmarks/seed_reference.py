"""The seed projects' training step, written the way their notebooks write it: the reference for `gan bench`.

A Keras DCGAN (G: Dense 4x4x512 -> BN -> ReLU -> ConvT 256, 128 -> BN -> ReLU -> ConvT 3 -> tanh;
D: Conv 64, 128, 256 stride 2 -> LeakyReLU 0.2 -> Dropout 0.3 -> Dense 1), BCE from logits, Adam 2e-4
(beta1 0.5), and one plain `tf.function` GradientTape step: D on real and fake, then G on fresh noise.
No XLA, no `gan` package: it stands alone so that the comparison cannot flatter our own code.

    python benchmarks/seed_reference.py --steps 20      # prints images/s
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LATENT = 100


def build():
    import keras
    from keras import layers

    generator = keras.Sequential([
        keras.Input((LATENT,)),
        layers.Dense(4 * 4 * 512, use_bias=False), layers.Reshape((4, 4, 512)),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2DTranspose(256, 4, strides=2, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
    ])
    discriminator = keras.Sequential([keras.Input((32, 32, 3))] + [
        layer for channels in (64, 128, 256) for layer in (
            layers.Conv2D(channels, 4, strides=2, padding="same"), layers.LeakyReLU(0.2), layers.Dropout(0.3))
    ] + [layers.Flatten(), layers.Dense(1)])
    return generator, discriminator


def reference_images_per_second(steps: int = 20, batch_size: int = 128, warmup: int = 3) -> float:
    """Images/s of the seeds' step on synthetic data held in memory (compile steps excluded)."""
    import keras
    import numpy as np
    import tensorflow as tf

    generator, discriminator = build()
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    data = tf.constant(np.random.default_rng(0).integers(0, 256, (batch_size * 4, 32, 32, 3), dtype=np.uint8))

    @tf.function
    def train_step(index):
        real = tf.cast(tf.gather(data, index), tf.float32) / 127.5 - 1.0
        noise = tf.random.normal((batch_size, LATENT))
        with tf.GradientTape() as tape:
            fake = generator(noise, training=True)
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))
        noise = tf.random.normal((batch_size, LATENT))
        with tf.GradientTape() as tape:
            fake_logits = discriminator(generator(noise, training=True), training=True)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))
        return g_loss

    rng = np.random.default_rng(0)
    indices = [tf.constant(rng.permutation(batch_size * 4)[:batch_size]) for _ in range(4)]
    for i in range(warmup):
        train_step(indices[i % 4]).numpy()
    start = time.perf_counter()
    for i in range(steps):
        loss = train_step(indices[i % 4])
    loss.numpy()
    return steps * batch_size / (time.perf_counter() - start)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The seed projects' DCGAN step: images/s on this machine.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    print(f"seed reference step: {reference_images_per_second(args.steps, args.batch_size):,.0f} images/s")

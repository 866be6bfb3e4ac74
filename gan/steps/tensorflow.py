"""The TensorFlow train step: GradientTape inside one `tf.function` (XLA-compiled when `config.jit`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.objective import GAN


class TensorFlowStep:
    def __init__(self, gan: GAN, images: np.ndarray, labels: np.ndarray):
        self.gan = gan
        # The dataset lives on the device for the whole run; each step sends only indices.
        self.images = tf.constant(images)
        self.labels = tf.constant(labels.astype(np.int32))
        self._step = tf.function(self._train, jit_compile=gan.config.jit)

    @staticmethod
    def _apply(model, optimizer):
        def run(loss_fn):
            with tf.GradientTape() as tape:
                loss, metrics = loss_fn()
            variables = model.trainable_variables
            optimizer.apply(tape.gradient(loss, variables), variables)
            return metrics

        return run

    def _train(self, index, noise_std, ema_decay):
        gan = self.gan
        metrics = gan.train_batch(
            self.images, self.labels, index, noise_std,
            self._apply(gan.discriminator, gan.d_optimizer), self._apply(gan.generator, gan.g_optimizer),
        )
        gan.update_ema(ema_decay)
        return metrics

    def __call__(self, index: np.ndarray, noise_std: float, ema_decay: float) -> dict:
        return self._step(tf.constant(index, tf.int32), tf.constant(noise_std, tf.float32),
                          tf.constant(ema_decay, tf.float32))

    def sync(self) -> None:
        """Variables are updated in place on TensorFlow: nothing to do."""

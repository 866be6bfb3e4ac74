"""The TensorFlow train step: GradientTape inside one `tf.function`, XLA-compiled when `config.jit` says so
(by default on a GPU only: gan/backend.py).

With `--distribute` the same step runs once per replica under `tf.distribute.MirroredStrategy`
(see gan/distribute.py): each replica takes its slice of the batch indices, divides its loss
by the number of replicas (Keras' optimizer then sums the gradients across replicas, which
gives the global-batch mean), and the metrics are averaged over replicas. That path is a
`tf.function` without XLA (see below).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.backend import default_jit
from gan.distribute import SINGLE, Replicas
from gan.model import GAN

# Added (times r) to the key half of every seed on replica r, so replicas draw different latents,
# dropout masks and noise; replica 0 keeps the single-device stream. Small enough for int32 seeds.
_REPLICA_SEED_STRIDE = 1_000_003


class TensorFlowStep:
    def __init__(self, gan: GAN, images: np.ndarray, labels: np.ndarray, replicas: Replicas = SINGLE):
        self.gan = gan
        self.replicas = replicas
        if replicas.distributed:
            # One copy of the dataset per replica, made on the replica's own device: no replica
            # fetches its batch from another device's memory, and nothing is broadcast (a
            # mirrored variable would be, and multi-worker collectives have no uint8 broadcast).
            strategy = replicas.strategy
            self.images = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(images))
            self.labels = strategy.experimental_distribute_values_from_function(
                lambda _: tf.constant(labels.astype(np.int32)))
            self._seed_states = [v for v in gan.variables if v.name == "seed_generator_state"]
            # No XLA under MirroredStrategy: an XLA cluster is placed on one device and cannot touch
            # the other replicas' variables (InvalidArgumentError on logical CPU devices; not
            # verified on GPUs). The JAX backend compiles the distributed step whole.
            train = tf.function(self._replica_train)
            self._step = tf.function(lambda *args: self._distributed(train, *args))
        else:
            # The dataset lives on the device for the whole run; each step sends only indices.
            self.images = tf.constant(images)
            self.labels = tf.constant(labels.astype(np.int32))
            self._step = tf.function(lambda *args: self._train(self.images, self.labels, *args),
                                     jit_compile=gan.config.jit if gan.config.jit is not None else default_jit())

    def _apply(self, model, optimizer):
        scale = 1.0 / self.replicas.count

        def run(loss_fn):
            with tf.GradientTape() as tape:
                loss, metrics = loss_fn()
                # Replicas' gradients are summed by the optimizer: scaling each replica's mean
                # loss by 1/N makes that sum the mean over the global batch.
                scaled = loss * scale if self.replicas.count > 1 else loss
            variables = model.trainable_variables
            optimizer.apply(tape.gradient(scaled, variables), variables)
            return metrics

        return run

    def _train(self, images, labels, index, noise_std, ema_decay):
        gan = self.gan
        metrics = gan.train_batch(
            images, labels, index, noise_std,
            self._apply(gan.discriminator, gan.d_optimizer), self._apply(gan.generator, gan.g_optimizer),
        )
        gan.update_ema(ema_decay)
        return metrics

    def _replica_train(self, images, labels, index, noise_std, ema_decay):
        """One replica's share: its columns of `index`, with its replica id folded into every seed.

        Without the fold every replica would draw the same latents from the same mirrored seed
        state, so half the fakes of a 2-device batch would be copies of the other half. The
        offset is removed again before returning, so the seed states stay identical everywhere.
        """
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        share = tf.shape(index)[1] // self.replicas.count
        local_index = index[:, replica * share:(replica + 1) * share]
        offsets = []
        for state in self._seed_states:
            offset = tf.stack([tf.cast(replica, state.dtype) * _REPLICA_SEED_STRIDE, tf.zeros((), state.dtype)])
            state.assign(state.value + offset)
            offsets.append(offset)
        metrics = self._train(images, labels, local_index, noise_std, ema_decay)
        for state, offset in zip(self._seed_states, offsets, strict=True):
            state.assign(state.value - offset)
        return metrics

    def _distributed(self, train, index, noise_std, ema_decay):
        strategy = self.replicas.strategy
        per_replica = strategy.run(train, args=(self.images, self.labels, index, noise_std, ema_decay))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    def __call__(self, index: np.ndarray, noise_std: float, ema_decay: float) -> dict:
        return self._step(tf.constant(index, tf.int32), tf.constant(noise_std, tf.float32),
                          tf.constant(ema_decay, tf.float32))

    def sync(self) -> None:
        """Variables are updated in place on TensorFlow (on every replica): nothing to do."""

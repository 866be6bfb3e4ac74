"""Data parallelism over the devices of one machine (`--distribute`).

Every device holds a full copy of G, D, the EMA generator and both optimizers; each step the
global batch (`config.batch_size`) is split evenly, each device computes gradients on its
share, and the gradients are averaged before one identical update everywhere. A step on N
devices is therefore the same optimisation step as on one device with the same global batch:
keep the learning rate you would use for that global batch (no linear scaling is applied,
because nothing about the update changes; only who computes which rows does).

Per backend:
- TensorFlow: `tf.distribute.MirroredStrategy`. Models and optimizers are built in its scope;
  the step runs once per replica (`strategy.run`), each replica's loss is divided by the
  number of replicas, and Keras' optimizer sums the gradients across replicas. BatchNorm uses
  per-replica batch statistics there ("ghost" batch norm), like Keras' own `fit`.
- JAX: `keras.distribution.DataParallel`. Variables are replicated on every device and the
  batch indices are sharded along the batch axis; `jax.jit` compiles one global program
  (GSPMD), so batch statistics and random draws are exactly those of a single device.

Multi-host training (MultiWorkerMirroredStrategy, `jax.distributed.initialize`) is not wired
in; RELIABILITY.md says what it would take.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gan.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class Replicas:
    """Where one training step runs: `count` model replicas, and the backend object that places them.

    `strategy` is a `tf.distribute.MirroredStrategy` (TensorFlow), a
    `keras.distribution.DataParallel` (JAX), or None for a single device.
    """

    count: int = 1
    strategy: Any = None

    @property
    def distributed(self) -> bool:
        return self.strategy is not None

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build models and optimizers inside this, so their variables live on every replica."""
        if self.strategy is None:
            yield
        else:
            with self.strategy.scope():
                yield

    def per_replica_batch(self, batch_size: int) -> int:
        return batch_size // self.count


SINGLE = Replicas()


def local_devices(backend: str) -> list[str]:
    """The devices a data-parallel step would use: the accelerators if any, else the (logical) CPUs."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
    if backend == "jax":
        import keras

        return keras.distribution.list_devices()
    raise ConfigError(f"--distribute is not supported on the {backend} backend")


def replicas_for(config: TrainConfig, backend: str | None = None) -> Replicas:
    """The placement for `config`: one device unless `config.distribute`.

    The global batch must split evenly: a ragged split would weight some rows more than
    others in the averaged gradient, so it is refused rather than silently padded.
    """
    if not config.distribute:
        return SINGLE
    if backend is None:
        import keras

        backend = keras.backend.backend()
    devices = local_devices(backend)
    if config.batch_size % len(devices):
        raise ConfigError(
            f"batch size {config.batch_size} does not split evenly over {len(devices)} devices; "
            f"use a multiple of {len(devices)}"
        )
    if len(devices) == 1:
        return SINGLE
    if backend == "tensorflow":
        import tensorflow as tf

        return Replicas(len(devices), tf.distribute.MirroredStrategy(devices))
    import keras

    return Replicas(len(devices), keras.distribution.DataParallel(devices=devices))

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

Several processes (several hosts, or one process per GPU), JAX only: the launcher sets Keras'
own variables on every process (`KERAS_DISTRIBUTION_JOB_ADDRESSES`, the coordinator's
host:port first; `KERAS_DISTRIBUTION_NUM_PROCESSES`; `KERAS_DISTRIBUTION_PROCESS_ID`) and runs
the same `python -m gan train --distribute ...` everywhere. `join_processes` connects them
(`keras.distribution.initialize`) before any device is touched; `DataParallel` then spans every
device of every process, and the one global program is the single-device step again. Every
process loads the same data and computes the same batch indices, so no data is exchanged; only
process 0 writes the run folder, and the processes agree on when to stop (`any_process`).
TensorFlow's MultiWorkerMirroredStrategy is not wired in (see README).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
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
    process_count: int = 1  # > 1 only in a multi-process JAX run (join_processes)

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

    def any_process(self, flag: bool) -> bool:
        """`flag` or'ed over every process; each process must call it at the same point of the loop.

        A stop request (SIGTERM) may reach one process only; if it stopped alone, the others
        would wait for it forever inside the next step's collectives.
        """
        if self.process_count == 1:
            return flag
        import numpy as np
        from jax.experimental import multihost_utils

        return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


SINGLE = Replicas()


def join_processes(config: TrainConfig, backend: str | None = None,
                   environ: Mapping[str, str] | None = None) -> int:
    """Connect to the other processes of a multi-process run when the launcher set one up
    (`KERAS_DISTRIBUTION_NUM_PROCESSES` > 1); returns this process's index, 0 when it is alone.

    Must run before anything touches a device: JAX fixes its device list at first use.
    """
    environ = os.environ if environ is None else environ
    count = environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "").strip()
    if not count or count == "1":
        return 0
    if not count.isdigit():
        raise ConfigError(f"KERAS_DISTRIBUTION_NUM_PROCESSES must be a whole number, got {count!r}")
    if not config.distribute:
        raise ConfigError("KERAS_DISTRIBUTION_NUM_PROCESSES is set: pass --distribute to train on several processes")
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend != "jax":
        raise ConfigError("training on several processes needs KERAS_BACKEND=jax; on TensorFlow, --distribute "
                          "uses the devices of one process")
    if config.eval_every:
        raise ConfigError("--eval-every is not available on several processes; "
                          "score the run afterwards with `python -m gan evaluate`")
    import jax
    import keras

    with contextlib.suppress(AttributeError):  # processes on CPUs talk through Gloo; GPUs use NCCL anyway
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize()
    except (ValueError, RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ConfigError(f"cannot join the other processes ({first}); check KERAS_DISTRIBUTION_*") from None
    return jax.process_index()


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
    import jax
    import keras

    return Replicas(len(devices), keras.distribution.DataParallel(devices=devices), jax.process_count())

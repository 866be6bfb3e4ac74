"""Data parallelism over the devices of one machine, or of several processes (`--distribute`).

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

Several processes (several hosts, or one process per GPU): the launcher runs the same
`python -m gan train --distribute ...` everywhere and describes the cluster the backend's own
way. On JAX, Keras' variables (`KERAS_DISTRIBUTION_JOB_ADDRESSES`, the coordinator's host:port
first; `KERAS_DISTRIBUTION_NUM_PROCESSES`; `KERAS_DISTRIBUTION_PROCESS_ID`), and
`keras.distribution.initialize` connects the processes; `DataParallel` then spans every device
of every process, and the one global program is the single-device step again. On TensorFlow,
`TF_CONFIG` (a `worker` list and this task's index) and `MultiWorkerMirroredStrategy`: the
mirrored step above, with replicas on every worker. `join_processes` does either before any
device is touched. Every process loads the same data and computes the same batch indices, so
no data is exchanged; only process 0 writes the run folder, and the processes agree on when
to stop (`Replicas.any_process`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gan.config import ConfigError, TrainConfig
from gan.errors import first_line


@dataclass(frozen=True)
class Replicas:
    """Where one training step runs: `count` model replicas, and the backend object that places them.

    `strategy` is a `tf.distribute.MirroredStrategy` or `MultiWorkerMirroredStrategy`
    (TensorFlow), a `keras.distribution.DataParallel` (JAX), or None for a single device.
    """

    count: int = 1
    strategy: Any = None
    process_count: int = 1  # > 1 only in a multi-process run (join_processes)

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
        import keras
        import numpy as np

        if isinstance(self.strategy, keras.distribution.DataParallel):
            from jax.experimental import multihost_utils

            return bool(np.any(multihost_utils.process_allgather(np.array(flag))))
        return int(self._tensorflow_vote(int(flag))) > 0

    @functools.cached_property
    def _tensorflow_vote(self):
        """The votes of every replica summed, compiled once (run eagerly, each call warns of overhead)."""
        import tensorflow as tf

        strategy = self.strategy

        @tf.function
        def vote(flag):
            votes = strategy.run(lambda: tf.identity(flag))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

        return vote


SINGLE = Replicas()


@dataclass(frozen=True)
class Processes:
    """This process's place in a multi-process run: `index` of `count` (0 of 1 when alone).

    `strategy` is TensorFlow's MultiWorkerMirroredStrategy, which must exist before any other
    TensorFlow op runs, so it is made here, first thing, and handed on to `replicas_for`.
    """

    index: int = 0
    count: int = 1
    strategy: Any = None


ALONE = Processes()


def join_processes(config: TrainConfig, backend: str | None = None,
                   environ: Mapping[str, str] | None = None) -> Processes:
    """Connect to the other processes of a multi-process run when the launcher set one up:
    `KERAS_DISTRIBUTION_NUM_PROCESSES` > 1 on JAX, a `TF_CONFIG` naming several workers on
    TensorFlow. Must run before anything touches a device.
    """
    environ = os.environ if environ is None else environ
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend == "tensorflow":
        return _join_tensorflow_workers(config, environ)
    count = environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "").strip()
    if not count or count == "1":
        return ALONE
    if not count.isdigit():
        raise ConfigError(f"KERAS_DISTRIBUTION_NUM_PROCESSES must be a whole number, got {count!r}")
    _check_multi_process(config, "KERAS_DISTRIBUTION_NUM_PROCESSES")
    import jax
    import keras

    with contextlib.suppress(AttributeError):  # processes on CPUs talk through Gloo; GPUs use NCCL anyway
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize()
    except (ValueError, RuntimeError, KeyError) as e:
        raise ConfigError(f"cannot join the other processes ({first_line(e)}); check KERAS_DISTRIBUTION_*") from None
    return Processes(jax.process_index(), jax.process_count())


def _join_tensorflow_workers(config: TrainConfig, environ: Mapping[str, str]) -> Processes:
    """MultiWorkerMirroredStrategy from `TF_CONFIG` (a `worker` list and this task's index)."""
    if environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1").strip() not in ("", "1"):
        raise ConfigError("KERAS_DISTRIBUTION_NUM_PROCESSES is for KERAS_BACKEND=jax; "
                          "on TensorFlow, describe the workers in TF_CONFIG")
    raw = environ.get("TF_CONFIG", "").strip()
    if not raw:
        return ALONE
    try:
        tf_config = json.loads(raw)
        workers = list(tf_config["cluster"]["worker"])
        index = int(tf_config["task"]["index"])
        kind = tf_config["task"]["type"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG must name cluster.worker and task.type/index ({first_line(e)})") from None
    if set(tf_config["cluster"]) != {"worker"} or kind != "worker" or not 0 <= index < len(workers):
        raise ConfigError("TF_CONFIG: only a 'worker' cluster is supported, with task.index inside it")
    if len(workers) == 1:
        return ALONE
    _check_multi_process(config, "TF_CONFIG")
    import tensorflow as tf

    return Processes(index, len(workers), tf.distribute.MultiWorkerMirroredStrategy())


def _check_multi_process(config: TrainConfig, variable: str) -> None:
    if not config.distribute:
        raise ConfigError(f"{variable} names several processes: pass --distribute to train on them")
    if config.eval_every:
        raise ConfigError("--eval-every is not available on several processes; "
                          "score the run afterwards with `python -m gan evaluate`")


def _check_split(batch_size: int, count: int) -> None:
    if batch_size % count:
        raise ConfigError(f"batch size {batch_size} does not split evenly over {count} devices; "
                          f"use a multiple of {count}")


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


def replicas_for(config: TrainConfig, backend: str | None = None, processes: Processes = ALONE) -> Replicas:
    """The placement for `config`: one device unless `config.distribute`.

    The global batch must split evenly: a ragged split would weight some rows more than
    others in the averaged gradient, so it is refused rather than silently padded.
    """
    if not config.distribute:
        return SINGLE
    if processes.strategy is not None:  # TensorFlow workers
        count = processes.strategy.num_replicas_in_sync
        _check_split(config.batch_size, count)
        return Replicas(count, processes.strategy, processes.count)
    if backend is None:
        import keras

        backend = keras.backend.backend()
    devices = local_devices(backend)
    _check_split(config.batch_size, len(devices))
    if len(devices) == 1:
        return SINGLE
    if backend == "tensorflow":
        import tensorflow as tf

        return Replicas(len(devices), tf.distribute.MirroredStrategy(devices))
    import jax
    import keras

    return Replicas(len(devices), keras.distribution.DataParallel(devices=devices), jax.process_count())

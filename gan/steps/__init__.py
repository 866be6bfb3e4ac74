"""One compiled training step per backend; the only backend-specific code in the package.

`make_train_step(gan, images, labels)` returns a `TrainStep`: call it with a (d_steps, batch)
index array and two schedule scalars; call `sync()` before reading or saving Keras variables.
With `replicas` (gan/distribute.py) the step is data-parallel; the GAN must have been built
inside `replicas.scope()`.
"""

from __future__ import annotations

from typing import Protocol

import keras
import numpy as np

from gan.distribute import SINGLE, Replicas
from gan.model import GAN


class TrainStep(Protocol):
    def __call__(self, index: np.ndarray, noise_std: float, ema_decay: float) -> dict: ...

    def sync(self) -> None: ...


def make_train_step(gan: GAN, images: np.ndarray, labels: np.ndarray, replicas: Replicas = SINGLE) -> TrainStep:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from gan.steps.tensorflow import TensorFlowStep as step
    elif backend == "jax":
        from gan.steps.jax import JaxStep as step
    else:
        raise RuntimeError(f"backend {backend!r} is not supported; use KERAS_BACKEND=tensorflow or jax")
    return step(gan, images, labels, replicas)

"""The JAX train step: the whole update is one pure function of the state values, under `jax.jit`.

Keras variables cannot be mutated inside a traced function, so the step threads their values
explicitly: each phase runs the backend-neutral code in a `keras.StatelessScope` mapping every
variable to its current value, then reads back what the code assigned.

With `--distribute` (gan/distribute.py) the state and the dataset are replicated on every
device and each step's batch indices are sharded along the batch axis; `jax.jit` then
partitions the one global program (GSPMD), so the step computes exactly what it computes on a
single device, batch statistics and random draws included.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from gan.backend import default_jit
from gan.distribute import SINGLE, Replicas
from gan.model import GAN


class JaxStep:
    def __init__(self, gan: GAN, images: np.ndarray, labels: np.ndarray, replicas: Replicas = SINGLE):
        self.gan = gan
        self.variables = gan.variables
        self.values = [v.value for v in self.variables]
        self.images = jnp.asarray(images)
        self.labels = jnp.asarray(labels, dtype=jnp.int32)
        self._index_sharding = None
        jit_options = {}
        if replicas.distributed:
            mesh, batch_axis = replicas.strategy.device_mesh, replicas.strategy.batch_dim_name
            replicated = keras.distribution.TensorLayout([], mesh).backend_layout
            self._index_sharding = keras.distribution.TensorLayout([None, batch_axis], mesh).backend_layout
            self.values = jax.device_put(self.values, replicated)
            self.images, self.labels = jax.device_put((self.images, self.labels), replicated)
            jit_options["out_shardings"] = replicated  # the new state stays replicated, like the old
        jit = gan.config.jit if gan.config.jit is not None else default_jit()
        step = jax.jit(self._train, donate_argnums=(0,), **jit_options) if jit else self._train
        self._step = step

    def _run(self, state: dict, fn):
        """Run `fn()` statelessly against `state` (id -> value); return its result and the new state."""
        with keras.StatelessScope(state_mapping=[(v, state[id(v)]) for v in self.variables]) as scope:
            result = fn()
        return result, {id(v): scope.get_current_value(v) for v in self.variables}

    def _apply(self, state: dict, model, optimizer):
        trainable = model.trainable_variables

        def run(loss_fn):
            def loss_of(weights):
                substituted = {**state, **{id(v): w for v, w in zip(trainable, weights, strict=True)}}
                (loss, metrics), new_state = self._run(substituted, loss_fn)
                return loss, (metrics, new_state)

            grads, (metrics, new_state) = jax.grad(loss_of, has_aux=True)([state[id(v)] for v in trainable])
            state.update(new_state)
            _, new_state = self._run(state, lambda: optimizer.apply(grads, trainable))
            state.update(new_state)
            return metrics

        return run

    def _train(self, values, images, labels, index, noise_std, ema_decay):
        gan = self.gan
        state = {id(v): value for v, value in zip(self.variables, values, strict=True)}
        metrics = gan.train_batch(
            images, labels, index, noise_std,
            self._apply(state, gan.discriminator, gan.d_optimizer), self._apply(state, gan.generator, gan.g_optimizer),
        )
        _, new_state = self._run(state, lambda: gan.update_ema(ema_decay))
        return [new_state[id(v)] for v in self.variables], metrics

    def __call__(self, index: np.ndarray, noise_std: float, ema_decay: float) -> dict:
        index = np.asarray(index, np.int32)
        index = jax.device_put(index, self._index_sharding) if self._index_sharding else jnp.asarray(index)
        self.values, metrics = self._step(
            self.values, self.images, self.labels, index, jnp.float32(noise_std), jnp.float32(ema_decay),
        )
        return metrics

    def sync(self) -> None:
        """Write the threaded values back into the Keras variables (before saving or sampling)."""
        for variable, value in zip(self.variables, self.values, strict=True):
            variable.assign(jnp.array(value, copy=True))  # the step donates `values`; keep no alias

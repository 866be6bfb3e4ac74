"""The JAX train step: the whole update is one pure function of the state values, under `jax.jit`.

Keras variables cannot be mutated inside a traced function, so the step threads their values
explicitly: each phase runs the backend-neutral code in a `keras.StatelessScope` mapping every
variable to its current value, then reads back what the code assigned.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from gan.objective import GAN


class JaxStep:
    def __init__(self, gan: GAN, images: np.ndarray, labels: np.ndarray):
        self.gan = gan
        self.variables = gan.variables
        self.values = [v.value for v in self.variables]
        self.images = jnp.asarray(images)
        self.labels = jnp.asarray(labels, dtype=jnp.int32)
        step = jax.jit(self._train, donate_argnums=(0,)) if gan.config.jit else self._train
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
                substituted = {**state, **{id(v): w for v, w in zip(trainable, weights)}}
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
        state = {id(v): value for v, value in zip(self.variables, values)}
        metrics = gan.train_batch(
            images, labels, index, noise_std,
            self._apply(state, gan.discriminator, gan.d_optimizer), self._apply(state, gan.generator, gan.g_optimizer),
        )
        _, new_state = self._run(state, lambda: gan.update_ema(ema_decay))
        return [new_state[id(v)] for v in self.variables], metrics

    def __call__(self, index: np.ndarray, noise_std: float, ema_decay: float) -> dict:
        self.values, metrics = self._step(
            self.values, self.images, self.labels, jnp.asarray(index, jnp.int32),
            jnp.float32(noise_std), jnp.float32(ema_decay),
        )
        return metrics

    def sync(self) -> None:
        """Write the threaded values back into the Keras variables (before saving or sampling)."""
        for variable, value in zip(self.variables, self.values):
            variable.assign(jnp.array(value, copy=True))  # the step donates `values`; keep no alias

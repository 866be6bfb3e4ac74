"""The GAN as a set of Keras objects and the losses between them, written once in keras.ops.

`GAN` owns every piece of state a run has: G, D, the EMA copy of G, both optimizers and
the noise RNG. The backend modules in `gan.steps` only differentiate and compile these
functions; checkpoints save `GAN.variables` in order.
"""

from __future__ import annotations

import keras
from keras import ops

from gan.augment import diff_augment
from gan.config import TrainConfig
from gan.layers import precise_batchnorm
from gan.losses import D_LOSSES, G_LOSSES
from gan.models import build_models


def to_unit_range(images_uint8):
    """uint8 [0, 255] -> float [-1, 1], the generator's tanh range."""
    return ops.cast(images_uint8, "float32") / 127.5 - 1.0


def learning_rate(config: TrainConfig, initial: float, updates_per_step: int, total_steps: int | None):
    """A float, or with `lr_decay="linear"` a schedule falling linearly to 0 at `total_steps`.

    Keyed on the optimizer's own update count, which the checkpoint keeps, so resume continues
    the same line; extending a run (--epochs) re-plans it from where it is.
    """
    if config.lr_decay != "linear" or not total_steps:
        return initial
    return keras.optimizers.schedules.PolynomialDecay(initial, total_steps * updates_per_step, 0.0, power=1.0)


def reestimate_batchnorm(generator: keras.Model, num_classes: int, batches: int, batch_size: int = 256,
                         seed: int = 0) -> None:
    """Precise BatchNorm statistics (gan.layers.precise_batchnorm) for `batches` batches of fresh samples.

    An EMA generator averages weights, and statistics gathered for other weights do not fit
    the average (this project measured an EMA worse than the raw G until this was done). Labels
    cycle over every class, latents come from a fixed seed, so the result is reproducible.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    latent_dim = generator.inputs[0].shape[-1]

    def inputs():
        for k in range(batches):
            z = rng.standard_normal((batch_size, latent_dim)).astype("float32")
            labels = ((np.arange(batch_size) + k * batch_size) % max(num_classes, 1)).astype("int32")
            yield [z, labels] if num_classes else z

    precise_batchnorm(generator, inputs())


class GAN:
    def __init__(self, config: TrainConfig, num_classes: int, total_steps: int | None = None):
        self.config = config
        self.num_classes = num_classes if config.conditional else 0
        self.generator, self.discriminator = build_models(config, num_classes)
        self.ema_generator = None
        if config.ema:
            self.ema_generator = keras.models.clone_model(self.generator)
            self.ema_generator.set_weights(self.generator.get_weights())
        self.g_optimizer = keras.optimizers.Adam(learning_rate(config, config.g_lr, 1, total_steps),
                                                 beta_1=config.beta1, beta_2=config.beta2)
        self.d_optimizer = keras.optimizers.Adam(learning_rate(config, config.d_lr, config.d_steps, total_steps),
                                                 beta_1=config.beta1, beta_2=config.beta2)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.rng = keras.random.SeedGenerator(config.seed)
        self.ac_weight = float(config.extra.get("ac_weight", 0.0))  # used only when D built its class head

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from and ship: the EMA copy when there is one."""
        return self.ema_generator or self.generator

    def prepare_sampler(self) -> keras.Model:
        """The sampler, with an EMA generator's BatchNorm statistics re-estimated for its own weights.

        Call before sampling, evaluating or saving it (after the train step's `sync()`).
        """
        if self.ema_generator is not None and self.config.bn_reestimate:
            reestimate_batchnorm(self.ema_generator, self.num_classes, self.config.bn_reestimate,
                                 seed=self.config.seed)
        return self.sampler

    @property
    def variables(self) -> list:
        """All state, in a fixed order: what a checkpoint holds and what a stateless step threads."""
        groups = [self.generator.variables, self.discriminator.variables,
                  self.ema_generator.variables if self.ema_generator else [],
                  self.g_optimizer.variables, self.d_optimizer.variables, [self.rng.state]]
        seen, ordered = set(), []
        for v in (v for group in groups for v in group):
            if id(v) not in seen:
                seen.add(id(v))
                ordered.append(v)
        return ordered

    def _g_inputs(self, z, labels):
        return [z, labels] if self.num_classes else z

    def _d_inputs(self, images, labels):
        return [images, labels] if self.num_classes else images

    def _fake(self, batch_size: int, labels):
        z = keras.random.normal((batch_size, self.config.latent_dim), seed=self.rng)
        return self.generator(self._g_inputs(z, labels), training=True)

    def _discriminate(self, images, labels, noise_std):
        """(logits, class logits or None): D's verdict, and its auxiliary classifier's when it has one."""
        images = diff_augment(images, self.config.augment_ops, self.rng)
        if self.config.instance_noise:  # static: a run without it draws no noise at all
            images = images + noise_std * keras.random.normal(ops.shape(images), seed=self.rng)
        out = self.discriminator(self._d_inputs(images, labels), training=True)
        if isinstance(out, (list, tuple)):
            return ops.cast(out[0], "float32"), ops.cast(out[1], "float32")
        return ops.cast(out, "float32"), None

    def _class_loss(self, class_logits, labels):
        """AC-GAN's term: cross-entropy of D's class head against the labels the images were drawn for."""
        loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, class_logits, from_logits=True))
        return self.ac_weight * loss, loss

    def d_loss(self, real, labels, noise_std):
        """Discriminator loss on one batch of real images in [-1, 1]; returns (loss, metrics)."""
        fake = ops.stop_gradient(self._fake(ops.shape(real)[0], labels))
        real_logits, real_classes = self._discriminate(real, labels, noise_std)
        fake_logits, _ = self._discriminate(fake, labels, noise_std)
        loss_real, loss_fake = D_LOSSES[self.config.loss](real_logits, fake_logits, self.config.label_smoothing)
        loss = loss_real + loss_fake
        metrics = {
            "d_loss_real": loss_real,
            "d_loss_fake": loss_fake,
            "d_real_mean": ops.mean(ops.sigmoid(real_logits)),
            "d_fake_mean": ops.mean(ops.sigmoid(fake_logits)),
            "real_acc": ops.mean(ops.cast(real_logits > 0, "float32")),
            "fake_acc": ops.mean(ops.cast(fake_logits < 0, "float32")),
        }
        if real_classes is not None:  # the head learns classes from real images only
            weighted, metrics["d_class_loss"] = self._class_loss(real_classes, labels)
            loss = loss + weighted
        return loss, metrics

    def g_loss(self, labels, noise_std):
        """Generator loss for a batch the size of `labels`; returns (loss, metrics).

        With `mode_seeking` = lambda (MSGAN, Mao et al. 2019), the batch is two halves drawn for the
        same labels and lambda / (mean |G(z1) - G(z2)| / mean |z1 - z2|) is added: a conditional G
        that ignores z (every sample of a class one picture) pays for it. With D's auxiliary classifier
        head (`extra.ac_weight`), G also pays that weight times the head's cross-entropy on its samples.
        """
        if self.config.mode_seeking:
            half = ops.shape(labels)[0] // 2
            labels = ops.concatenate([labels[:half], labels[:half]], axis=0)
        z = keras.random.normal((ops.shape(labels)[0], self.config.latent_dim), seed=self.rng)
        fake = self.generator(self._g_inputs(z, labels), training=True)
        logits, classes = self._discriminate(fake, labels, noise_std)
        adversarial = G_LOSSES[self.config.loss](logits)
        loss, metrics = adversarial, {"g_loss": adversarial}
        if classes is not None:
            weighted, metrics["g_class_loss"] = self._class_loss(classes, labels)
            loss = loss + weighted
        if self.config.mode_seeking:
            fake32 = ops.cast(fake, "float32")
            ratio = ops.mean(ops.abs(fake32[:half] - fake32[half:])) / ops.mean(ops.abs(z[:half] - z[half:]))
            metrics["mode_seeking"] = self.config.mode_seeking / (ratio + 1e-5)
            loss = loss + metrics["mode_seeking"]
        return loss, metrics

    def update_ema(self, decay) -> None:
        """EMA of G's trainable weights; buffers (BN statistics) are copied as they are."""
        if self.ema_generator is None:
            return
        for ema, current in zip(self.ema_generator.variables, self.generator.variables, strict=True):
            if current.trainable:
                ema.assign(decay * ema + (1.0 - decay) * current)
            else:
                ema.assign(current)

    def train_batch(self, images_uint8, all_labels, index, noise_std, apply_d, apply_g):
        """One training step (without the EMA update), backend-neutral but for the `apply_*` callbacks.

        `index` is (d_steps, batch) rows of the device-resident dataset; each D step takes a
        fresh batch, then G takes one step with the last batch's labels.
        `apply_d(loss_fn)` / `apply_g(loss_fn)` differentiate `loss_fn() -> (loss, metrics)`
        with respect to D's / G's weights, update them, and return the metrics.
        """
        metrics = {}
        labels = None
        for i in range(self.config.d_steps):
            real = to_unit_range(ops.take(images_uint8, index[i], axis=0))
            labels = ops.take(all_labels, index[i], axis=0)
            metrics = apply_d(lambda real=real, labels=labels: self.d_loss(real, labels, noise_std))
        metrics.update(apply_g(lambda: self.g_loss(labels, noise_std)))
        return metrics

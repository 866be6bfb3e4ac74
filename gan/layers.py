"""Custom layers of the GAN presets, registered so that `.keras` files load with safe_mode=True.

Spectral normalization is `SpectralNorm`, Keras' own `keras.layers.SpectralNormalization` wrapper
with its forward pass changed to differentiate through sigma (see its docstring). The other layers
are what Keras lacks: class-conditional batch norm, one-hot labels (so the projection embedding can
be a spectrally normalized Dense), global sum pooling and the minibatch standard deviation.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="gan")
class SpectralNorm(layers.SpectralNormalization):
    """Spectral normalization as Miyato et al. (2018) define it: the layer computes with W / sigma(W),
    and the gradient flows through sigma.

    Keras' wrapper instead overwrites the kernel variable with W / sigma before each training call,
    so the gradient reaches W as if sigma were a constant (tensorflow/addons#1244 discusses the same
    design). Without the term through sigma nothing stops the optimizer from growing the top
    singular direction, which every renormalization then divides out of all the others: D drifts
    towards a low-rank map. Same weights, same power iteration, same variables (checkpoints are
    unchanged); wraps a Conv or a Dense layer.
    """

    def call(self, inputs, training=False):
        vector_u, kernel = self.normalized_weights()  # differentiable in the kernel; u, v held constant
        if training:
            self.vector_u.assign(vector_u)  # one power-iteration step per training call, as in the paper
        layer = self.layer
        kernel = ops.cast(kernel, layer.compute_dtype)
        inputs = ops.cast(inputs, layer.compute_dtype)
        if isinstance(layer, layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        else:
            outputs = layer.convolution_op(inputs, kernel)
        if getattr(layer, "bias", None) is not None:
            outputs = ops.add(outputs, layer.bias)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="gan")
class ConditionalBatchNorm(layers.Layer):
    """Batch norm whose gain and bias depend on the class: `norm(x) * (1 + e @ Wg) + e @ Wb`.

    Called on `[x, e]`: x (B, H, W, C) features, e (B, E) the generator's shared class embedding
    (BigGAN). Wg and Wb start at zero, so every class starts with gain 1 and bias 0, as in SNGAN's
    per-class tables, and the class only enters once training has a reason to use it.
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5,
                 initializer: str | dict = "zeros", **kwargs: Any):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.initializer = keras.initializers.get(initializer)
        self.norm = layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=False, scale=False,
                                              dtype=self.dtype_policy, name="norm")

    def build(self, input_shape) -> None:
        x_shape, e_shape = input_shape
        self.norm.build(x_shape)
        shape = (e_shape[-1], x_shape[-1])
        self.gain_kernel = self.add_weight(shape=shape, initializer=self.initializer, name="gain_kernel")
        self.bias_kernel = self.add_weight(shape=shape, initializer=self.initializer, name="bias_kernel")

    def call(self, inputs, training=None):
        x, e = inputs
        gain = 1.0 + ops.matmul(e, self.gain_kernel)
        bias = ops.matmul(e, self.bias_kernel)
        return self.norm(x, training=training) * gain[:, None, None, :] + bias[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(package="gan")
class OneHot(layers.Layer):
    """int labels (B,) -> one-hot (B, num_classes): lets a Dense stand in for an Embedding.

    Keras' SpectralNormalization cannot wrap an Embedding fed integer labels (it casts the output
    to the input's dtype), but it can wrap a bias-free Dense on one-hot labels, which is the same map.
    """

    def __init__(self, num_classes: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def call(self, labels):
        return ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="gan")
class GlobalSumPooling2D(layers.Layer):
    """Sum over height and width, as SNGAN's D head does.

    A mean would divide the features by H x W; under spectral norm, which caps every layer's
    gain at 1, that would pin the logits near 0 and leave the hinge loss's margin out of reach.
    """

    def call(self, x):
        return ops.sum(x, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="gan")
class MinibatchStdDev(layers.Layer):
    """Appends one channel: the mean standard deviation of the features across a group of samples.

    Karras et al. 2018 (ProGAN): a D that sees how much the samples of a batch differ can punish a
    G whose samples are all alike, the within-class collapse a projection D alone misses. Samples
    i, i + B/G, i + 2B/G, ... form a group of G (the batch must be a multiple of G, or smaller than G).
    """

    def __init__(self, group_size: int = 4, **kwargs: Any):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        batch, height, width, channels = x.shape
        batch = batch if batch is not None else ops.shape(x)[0]
        group = min(self.group_size, batch) if isinstance(batch, int) else self.group_size
        y = ops.reshape(x, (group, -1, height, width, channels))
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # (B/G, H, W, C)
        y = ops.mean(y, axis=(1, 2, 3), keepdims=True)  # (B/G, 1, 1, 1)
        y = ops.tile(y, (group, height, width, 1))  # sample i gets its group's value
        return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "group_size": self.group_size}


def precise_batchnorm(model: keras.Model, batches) -> None:
    """Set every BatchNorm's moving statistics to the mean of its batch statistics over `batches`.

    `batches` yields model inputs. The moving averages a short training leaves (momentum 0.99) lag
    far behind the weights, and an EMA generator's were gathered for other weights; both make
    inference-mode outputs wrong. Momentum k/(k+1) on the k-th batch makes the moving value the
    running mean of all batches so far (Wu & Johnson 2021, "precise BN").
    """
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    try:
        for k, inputs in enumerate(batches):
            for layer in norms:
                layer.momentum = k / (k + 1)
            model(inputs, training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum

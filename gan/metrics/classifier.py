"""The project's own CIFAR-10 classifier: a small ResNet whose pooled features define `fd_cifar`.

Why our own network and not only Inception: Inception needs ImageNet weights from the internet
and a 299x299 resize of 32x32 images; a small network trained on the data itself works offline,
runs on a laptop CPU, and its features know what CIFAR-10 classes look like.

The model is a Keras functional model of built-in layers only, so it loads with `safe_mode=True`.
It takes uint8-valued images (N, 32, 32, 3) as floats in [0, 255] (the scaling is a layer), and
its layer named "features" is the pooled penultimate activation.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gan.data import stratified_split

if TYPE_CHECKING:
    import keras

log = logging.getLogger("gan.metrics")

FEATURES_LAYER = "features"
CLASSIFIER_FILE = "classifier.keras"


def build_classifier(num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128),
                     image_size: int = 32) -> keras.Model:
    """A small ResNet: a stem conv, then one residual block per width (stride 2 after the first).

    Four stages of 16-128 channels keep it CPU-trainable (~0.3 M parameters, ~16 M multiply-adds per image)
    while giving 128-dimensional pooled features.
    """
    import keras
    from keras import layers

    def conv_bn(x, filters: int, stride: int = 1, kernel: int = 3, name: str = ""):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                          kernel_regularizer=keras.regularizers.L2(5e-4), name=f"{name}_conv")(x)
        return layers.BatchNormalization(name=f"{name}_bn")(x)

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    x = layers.ReLU(name="stem_relu")(conv_bn(x, widths[0], name="stem"))
    for i, width in enumerate(widths):
        stride = 1 if i == 0 else 2
        shortcut = x if stride == 1 and x.shape[-1] == width else conv_bn(x, width, stride, 1, name=f"b{i}_proj")
        y = layers.ReLU(name=f"b{i}_relu1")(conv_bn(x, width, stride, name=f"b{i}_a"))
        y = conv_bn(y, width, name=f"b{i}_b")
        x = layers.ReLU(name=f"b{i}_out")(layers.Add(name=f"b{i}_add")([shortcut, y]))
    features = layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(features)
    return keras.Model(inputs, outputs, name="cifar_resnet")


def augment(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random horizontal flips and random crops from a reflect-padded image (the standard CIFAR recipe)."""
    n, h, w, _ = images.shape
    flip = rng.random(n) < 0.5
    out = images.copy()
    out[flip] = out[flip, :, ::-1]
    padded = np.pad(out, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _steps_per_epoch(n: int, batch_size: int, max_steps: int | None) -> int:
    steps = max(1, n // batch_size)
    return min(steps, max_steps) if max_steps else steps


def fit(model: keras.Model, images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int = 128,
        seed: int = 0, max_steps: int | None = None, validation: tuple | None = None,
        on_epoch=None) -> tuple[float, float]:
    """Train `model` (built by build_classifier) with SGD, a short warm-up then cosine decay, and
    flip-and-crop augmentation; returns (loss, accuracy) on `validation` after the last epoch (0, 0 without).

    The recipe lets a few epochs on a CPU reach a useful accuracy; `on_epoch()` is called after each.
    """
    import keras

    from gan.layers import precise_batchnorm

    steps_per_epoch = _steps_per_epoch(len(images), batch_size, max_steps)
    total = epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(1, total - total // 10),
                                                      warmup_target=0.1, warmup_steps=max(1, total // 10))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    result = (0.0, 0.0)
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        order = np.resize(order, steps_per_epoch * batch_size)  # a set smaller than a batch still fills one
        x = augment(images[order], rng).astype(np.float32)
        history = model.fit(x, labels[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        if epoch == epochs - 1:  # inference statistics for the final weights, not a lagging average
            precise_batchnorm(model, (x[i:i + batch_size] for i in range(0, min(len(x), 50 * batch_size),
                                                                          batch_size)))
        if validation is not None and (epoch == epochs - 1 or on_epoch is None):
            result = tuple(float(v) for v in model.evaluate(*validation, batch_size=500, verbose=0))
        if on_epoch is None:
            log.info("epoch %d/%d: train acc %.4f, val acc %.4f (%.0f s)", epoch + 1, epochs,
                     history.history["accuracy"][-1], result[1], time.perf_counter() - start)
        else:
            on_epoch()
    return result


def train_classifier(images: np.ndarray, labels: np.ndarray, class_names: list[str], out_dir: str | Path,
                     epochs: int = 10, batch_size: int = 128, val_size: int = 5000, seed: int = 0,
                     widths: tuple[int, ...] = (16, 32, 64, 128), max_steps: int | None = None) -> dict:
    """Train, evaluate on a stratified hold-out, and save `classifier.keras` + `classifier.json` in `out_dir`.

    Returns the summary written to `classifier.json` (validation accuracy, sizes, time, hardware).
    `max_steps` caps the steps per epoch (for tests).
    """
    import keras

    from gan.backend import set_random_seed

    set_random_seed(seed)
    out_dir = Path(out_dir)
    train_idx, val_idx = stratified_split(labels, val_size, seed)
    x_val, y_val = images[val_idx].astype(np.float32), labels[val_idx]
    model = build_classifier(len(class_names), widths, images.shape[1])
    start = time.perf_counter()
    val_loss, val_acc = fit(model, images[train_idx], labels[train_idx], epochs, batch_size, seed, max_steps,
                            validation=(x_val, y_val) if len(val_idx) else None)
    total = epochs * _steps_per_epoch(len(train_idx), batch_size, max_steps)
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    from gan.files import atomic_write, atomic_write_json

    atomic_write(out_dir / CLASSIFIER_FILE, lambda tmp: model.save(tmp))
    summary = {
        "val_accuracy": float(val_acc), "val_loss": float(val_loss), "val_images": int(len(val_idx)),
        "train_images": int(len(train_idx)), "epochs": epochs, "steps": total, "batch_size": batch_size,
        "train_seconds": round(seconds, 1), "parameters": int(model.count_params()),
        "file_bytes": (out_dir / CLASSIFIER_FILE).stat().st_size, "class_names": list(class_names),
        "widths": list(widths), "backend": keras.backend.backend(), "hardware": _hardware(),
    }
    atomic_write_json(out_dir / "classifier.json", summary)
    return summary


def _hardware() -> str:
    import os
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


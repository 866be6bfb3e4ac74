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
CHUNK = 5_000  # images per saved piece of a long computation, so a stopped one resumes (see _extract)


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
    path = cache_dir() / f"ref-{_stem(extractor)}-{fingerprint(images, labels)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                # Older files also hold `floor_halves` (a full-dataset FD nothing read): ignored.
                return Reference(z["mu"], z["sigma"], z["features"], z["probs"], z["rows"], int(z["n_images"]))
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring unreadable reference cache %s: %s", path, e)
    reference = compute(extractor, images, seed, pieces=path.with_suffix(""))
    _save(path, reference)
    return reference


def _stem(extractor) -> str:
    return f"{extractor.name}-{hashlib.sha1(extractor.key.encode()).hexdigest()[:8]}"


def compute(extractor, images: np.ndarray, seed: int = 0, pieces: Path | None = None) -> Reference:
    """Features of every image -> mean/cov and a stored random subset (resumable through `pieces`)."""
    log.info("computing %s reference statistics of %d images (cached afterwards)", extractor.name, len(images))
    feats, probs = _extract(extractor, images, pieces)
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
    path = cache_dir() / f"feat-{_stem(extractor)}-{fingerprint(images)}.npy"
    if path.is_file():
        try:
            feats = np.load(path, allow_pickle=False)
            if feats.shape[0] == len(images):
                return feats
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable feature cache %s: %s", path, e)
    log.info("computing %s features of %d images (cached afterwards)", extractor.name, len(images))
    feats = _extract(extractor, images, path.with_suffix(""), with_probs=False)[0].astype(np.float32)
    from gan.files import atomic_write

    try:
        atomic_write(path, lambda tmp: np.save(tmp, feats, allow_pickle=False))
    except OSError as e:
        log.warning("could not cache features at %s: %s", path, e)
    return feats


def _extract(extractor, images: np.ndarray, pieces: Path | None, with_probs: bool = True):
    """(features, class probabilities or None) of every image, computed CHUNK images at a time.

    Each chunk is saved as `<pieces>.partNNNofMMM.npz` until the whole is done, then the parts are deleted:
    the FID Inception network takes about 100 minutes for CIFAR-10's 50,000 images on a 2-core CPU, and a
    computation stopped half-way (Ctrl-C, a closed laptop) resumes from its last saved chunk.
    """
    from gan.files import atomic_write

    def run(batch):
        if with_probs:
            try:
                return extractor.features_and_probabilities(batch)
            except ValueError:  # no class head (Inception, pixels)
                pass
        return extractor.features(batch), None

    total = -(-len(images) // CHUNK)
    if pieces is None or total <= 1:
        return run(images)
    feats, probs, paths = [], [], []
    for i, start in enumerate(range(0, len(images), CHUNK)):
        batch = images[start:start + CHUNK]
        path = Path(f"{pieces}.part{i:03d}of{total:03d}.npz")
        paths.append(path)
        part = _load_part(path, len(batch))
        if part is None:
            log.info("%s features: images %d-%d of %d (saved as they finish; an interrupted run resumes)",
                     extractor.name, start + 1, start + len(batch), len(images))
            part = run(batch)
            try:
                atomic_write(path, lambda tmp, part=part: _save_part(tmp, *part))
            except OSError as e:
                log.warning("could not save partial features at %s: %s", path, e)
        feats.append(part[0])
        probs.append(part[1])
    for path in paths:
        path.unlink(missing_ok=True)
    return np.concatenate(feats), None if probs[0] is None else np.concatenate(probs)


def _save_part(tmp: Path, feats: np.ndarray, probs: np.ndarray | None) -> None:
    with open(tmp, "wb") as f:  # a file, not a name: np.savez would add ".npz" to the temp file's name
        np.savez(f, features=feats, probs=np.zeros((0, 0), np.float32) if probs is None else probs)


def _load_part(path: Path, n: int):
    """A saved chunk (features, probabilities or None), or None when it is missing or does not fit."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, probs = z["features"], z["probs"]
    except (OSError, ValueError, KeyError) as e:
        log.warning("ignoring unreadable partial features %s: %s", path, e)
        return None
    if len(feats) != n or (probs.size and len(probs) != n):
        return None
    return feats, probs if probs.size else None

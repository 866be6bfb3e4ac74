"""Sanity numbers for fd_cifar: the real-vs-real floor and a far-off baseline (uniform noise).

    python benchmarks/fd_sanity.py [--data /work/shared/data/cifar10-train.zip] [--classifier FILE] [--n 5000]

Prints FD between two disjoint random n-image halves of the training set (the floor a perfect
generator would get at that sample count), FD of each half against the whole training set, and
FD of n uniform-noise images against the other half and the whole set (far above). Also the
classifier's IS and class coverage on real images, the values a perfect generator would match.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan.metrics.classes import class_coverage  # noqa: E402
from gan.metrics.frechet import feature_stats, frechet_distance  # noqa: E402
from gan.metrics.inception_score import inception_score  # noqa: E402


def main() -> None:
    default_zip = os.environ.get("GAN_CIFAR_ZIP") or REPO.parent / "shared/data/cifar10-train.zip"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_zip))
    parser.add_argument("--classifier", help="classifier.keras (default: the shipped checkpoint)")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gan.data import load_dataset
    from gan.metrics.extractors import load_cifar

    start = time.perf_counter()
    data = load_dataset(args.data)
    extractor = load_cifar(args.classifier)
    feats, probs = extractor.features_and_probabilities(data.images)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(data.images))
    a, b = order[:args.n], order[args.n:2 * args.n]
    noise = rng.integers(0, 256, size=(args.n, *data.images.shape[1:]), dtype=np.uint8)
    noise_feats = extractor.features(noise)

    full = feature_stats(feats)
    fd = lambda x, stats: frechet_distance(*feature_stats(x), *stats)
    print(f"data {args.data}: {len(data.images)} images; extractor cifar ({feats.shape[1]}-d features), "
          f"device {extractor.device}")
    floor = fd(feats[a], feature_stats(feats[b]))
    print(f"FD real half A ({len(a)}) vs disjoint real half B ({len(b)}) [floor]: {floor:.3f}")
    print(f"FD real half A ({len(a)}) vs all training images ({len(feats)}): {fd(feats[a], full):.3f}")
    print(f"FD uniform noise ({args.n}) vs real half B ({len(b)}): {fd(noise_feats, feature_stats(feats[b])):.3f}")
    print(f"FD uniform noise ({args.n}) vs all training images ({len(feats)}): {fd(noise_feats, full):.3f}")
    print(f"IS of real half A: {inception_score(probs[a])[0]:.3f}; class coverage {class_coverage(probs[a]):.4f}; "
          f"train-set accuracy {np.mean(probs.argmax(1) == data.labels):.4f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

"""Is our Inception FID the papers' FID? Checks on real CIFAR-10 images, with timings on this machine.

    python benchmarks/fid_inception_check.py --data ../shared/data/cifar10-train.zip --limit 10000
    python benchmarks/fid_inception_check.py --data ../shared/data/cifar10-train.zip --limit 50000 --protocol

1. The reference statistics of `--limit` training images (a seeded random subset; cached like every
   reference, so the pilot's `fid_inception2k` against the same subset reuses them), and how long they took.
2. FID of the subset split in two random halves, three times: small and stable.
3. FID of 2,000 of those images, clean and blurred / noised, against the other images: degraded copies must
   score clearly worse.
4. With `--protocol` (and --limit 50000): 10,000 training images against all 50,000, the published
   protocol's real-data figure (papers: about 3 for CIFAR-10 train vs test at 10k; train vs train is lower,
   since the 10k are part of the 50k).
Results are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def degrade(images: np.ndarray, how: str, seed: int = 0) -> np.ndarray:
    """Blurred (Gaussian, radius 1 px) or noised (Gaussian, sigma 25 of 255) copies of uint8 images."""
    from PIL import Image, ImageFilter

    if how == "blur":
        return np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(1))) for im in images])
    noise = np.random.default_rng(seed).normal(0, 25, images.shape)
    return np.clip(images + noise, 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--protocol", action="store_true", help="also 10k training images against all of them")
    args = parser.parse_args()

    from gan.backend import import_keras_quietly

    import_keras_quietly()
    from gan.data import load_dataset
    from gan.metrics.fid_inception import load
    from gan.metrics.frechet import feature_stats, frechet_distance, frechet_distance_features
    from gan.metrics.reference import load_or_compute

    net = load()
    dataset = load_dataset(args.data, limit=args.limit, seed=0)
    start = time.perf_counter()
    ref = load_or_compute(net, dataset.images)
    seconds = time.perf_counter() - start
    print(f"reference: {len(dataset.images):,} images in {seconds / 60:.1f} min "
          f"({len(dataset.images) / seconds:.1f} img/s if computed now; cached afterwards)", flush=True)

    feats = ref.features.astype(np.float64)  # every image's features when limit <= reference.MAX_ROWS
    halves = []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(feats))
        half = len(feats) // 2
        halves.append(frechet_distance_features(feats[order[:half]], feats[order[half:]]))
    print(f"| {len(feats) // 2:,} vs {len(feats) - len(feats) // 2:,} real (random halves, 3 splits) | "
          f"{np.mean(halves):.2f} +- {np.std(halves):.2f} |", flush=True)

    k = min(2_000, len(feats) // 2)
    rest = feature_stats(feats[k:])
    clean, _ = ref.fd_floor(k)  # the first k stored rows against the others: the same split as `rest`
    print(f"| {k:,} real images vs the other {len(feats) - k:,} | {clean:.2f} |", flush=True)
    images = dataset.images[ref.rows[:k]]
    for how in ("blur", "noise"):
        value = frechet_distance(*feature_stats(net.features(degrade(images, how))), *rest)
        print(f"| the same {k:,}, {how} | {value:.2f} |", flush=True)

    if args.protocol:
        # The reference keeps a random subset of rows (up to 20,000): its first 10,000 are a random 10k.
        value = frechet_distance(*feature_stats(feats[:10_000]), ref.mu, ref.sigma)
        print(f"| 10,000 training images vs all {len(dataset.images):,} | {value:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Memorization check: PSNR of each generated image to its nearest training image in pixel space.

A GAN that copies its training set shows up as very high PSNR (exact copies are infinite);
the neighbour indices let the app show the pairs side by side. The one PSNR of the project:
the Compare page's nearest training images (gan.explore) are measured here too.
"""

from __future__ import annotations

import numpy as np


def nearest_neighbours(generated: np.ndarray, train: np.ndarray,
                       batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each generated uint8 image, the index of the closest training image and its mean squared error."""
    g = np.asarray(generated, np.float32).reshape(len(generated), -1)
    t = np.asarray(train, np.float32).reshape(len(train), -1)
    if g.shape[1] != t.shape[1]:
        raise ValueError("generated and training images differ in size")
    t_sq = (t * t).sum(1)
    index, mse = np.empty(len(g), np.int64), np.empty(len(g))
    for start in range(0, len(g), batch_size):
        gb = g[start:start + batch_size]
        for t_start in range(0, len(t), 8192):
            tb = slice(t_start, t_start + 8192)
            d = (gb * gb).sum(1)[:, None] + t_sq[None, tb] - 2 * gb @ t[tb].T
            best = d.argmin(1)
            if t_start == 0:
                idx, dist = best, d[np.arange(len(gb)), best]
            else:
                better = d[np.arange(len(gb)), best] < dist
                idx, dist = np.where(better, best + t_start, idx), np.where(better, d[np.arange(len(gb)), best], dist)
        # Recompute the winners exactly: the expanded form loses precision near 0.
        index[start:start + batch_size], mse[start:start + batch_size] = idx, _mse(g[start:start + batch_size], t[idx])
    return index, mse


def psnr(mse: np.ndarray, peak: float = 255.0) -> np.ndarray:
    """PSNR in dB from mean squared errors; an exact copy (mse 0) is +inf."""
    mse = np.asarray(mse, np.float64)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(peak**2 / mse)


def psnr_to(query: np.ndarray, images: np.ndarray) -> np.ndarray:
    """PSNR in dB of one uint8 image against each of `images` (higher = more alike; a copy is +inf)."""
    return psnr(_mse(query.reshape(1, -1), images.reshape(len(images), -1)))


def _mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean squared error of rows of pixels (broadcast), exact for uint8: squares in float32, sums in float64."""
    diff = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    return np.mean(diff * diff, axis=1, dtype=np.float64)


def nn_psnr(generated: np.ndarray, train: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(PSNR dB per generated image, index of its nearest training image)."""
    index, mse = nearest_neighbours(generated, train, batch_size)
    return psnr(mse), index

"""Frechet distance between two Gaussians fitted to feature sets (the "F" in FID).

FD = |mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)). Computed in float64 with the symmetric
form (C1 C2)^(1/2) ~ (sqrt(C1) C2 sqrt(C1))^(1/2): both are PSD, so eigh gives real, stable
square roots even when a covariance is singular (fewer samples than feature dimensions), where
scipy's sqrtm on the non-symmetric product can return complex or non-finite values.
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of `features` (N, D), in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need features of shape (N>=2, D), got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; tiny negative eigenvalues (round-off) are clipped to 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("the two Gaussians have different dimensions")
    root1 = _psd_sqrt(sigma1)
    # Tr((C1 C2)^(1/2)) = sum of sqrt of eigenvalues of sqrt(C1) C2 sqrt(C1) (similar matrices).
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
    return max(value, 0.0)  # round-off can give -1e-12 for identical inputs


def frechet_distance_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FD between two feature sets (N1, D) and (N2, D)."""
    return frechet_distance(*feature_stats(features1), *feature_stats(features2))

"""Inception Score from class probabilities: exp(E_x KL(p(y|x) || p(y))), mean and std over splits.

High when each image is confidently one class (sharp p(y|x)) and all classes appear (flat p(y)).
With the project's CIFAR classifier it is "IS on CIFAR features", not comparable with published IS.
"""

from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, splits: int = 10, eps: float = 1e-12) -> tuple[float, float]:
    """Mean and std of IS over `splits` consecutive chunks of `probs` (N, C)."""
    p = np.asarray(probs, np.float64)
    splits = max(1, min(splits, len(p)))
    scores = []
    for chunk in np.array_split(p, splits):
        marginal = chunk.mean(axis=0, keepdims=True)
        kl = (chunk * (np.log(chunk + eps) - np.log(marginal + eps))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))

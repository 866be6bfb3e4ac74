"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) of real and fake images alike."""

from __future__ import annotations

from collections.abc import Sequence


def diff_augment(images, policy: Sequence[str], seed_generator):
    """Apply the ops in `policy` to a batch in [-1, 1]; differentiable w.r.t. `images`."""
    if policy:
        raise NotImplementedError("DiffAugment ops are being written (gan/augment.py)")
    return images

"""gan.metrics.memorization: nearest-neighbour PSNR.

gan.metrics: each metric against a direct computation and known answers; the classifier; the CLI.
"""

from __future__ import annotations

import numpy as np

from gan.metrics.memorization import nn_psnr, psnr_to

RNG = np.random.default_rng(0)


# --- memorization -----------------------------------------------------------------------------
def test_nn_psnr_finds_exact_copies():
    train = RNG.integers(0, 256, size=(300, 8, 8, 3), dtype=np.uint8)
    generated = train[[17, 250, 3]].copy()
    generated[2, 0, 0, 0] ^= 1  # almost a copy
    values, index = nn_psnr(generated, train, batch_size=2)
    assert list(index) == [17, 250, 3]
    assert np.isinf(values[0]) and np.isinf(values[1]) and values[2] > 60


def test_psnr_to_one_image_is_the_memorization_psnr():
    images = RNG.integers(0, 256, size=(20, 4, 4, 3), dtype=np.uint8)
    mse = ((images.astype(float) - images[3].astype(float)) ** 2).reshape(20, -1).mean(1)
    values = psnr_to(images[3], images)
    assert np.isinf(values[3]) and np.allclose(np.delete(values, 3), 10 * np.log10(255**2 / np.delete(mse, 3)))


def test_nn_psnr_matches_brute_force():
    train = RNG.integers(0, 256, size=(50, 4, 4, 3), dtype=np.uint8)
    generated = RNG.integers(0, 256, size=(7, 4, 4, 3), dtype=np.uint8)
    mse = ((generated[:, None].astype(float) - train[None].astype(float)) ** 2).reshape(7, 50, -1).mean(-1)
    values, index = nn_psnr(generated, train)
    assert list(index) == list(mse.argmin(1))
    assert np.allclose(values, 10 * np.log10(255**2 / mse.min(1)))

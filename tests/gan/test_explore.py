"""gan.explore: latent directions, class blends, GIFs and nearest neighbours.

The generators are freshly built `tiny` models (random weights): the maths under test does
not care whether the generator is any good, and building is far faster than training.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gan import explore, sampling

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def generators():
    """{"uncond": G, "cond": G with 3 classes}, tiny preset, random weights."""
    from gan.config import TrainConfig
    from gan.models import build_models

    built = {}
    for name, conditional in (("uncond", False), ("cond", True)):
        config = TrainConfig.for_preset("tiny", conditional=conditional, latent_dim=32)
        built[name] = build_models(config, 3)[0]
    return built


@pytest.mark.parametrize("name", ["uncond", "cond"])
def test_principal_directions_are_orthonormal_ish_and_move_the_image(generators, name):
    model = generators[name]
    dirs = explore.principal_directions(model, k=6, class_id=1 if name == "cond" else None)
    assert dirs.shape == (6, 32)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-5)
    gram = dirs @ dirs.T
    assert np.max(np.abs(gram - np.eye(6))) < 0.25, gram  # orthogonal up to sampling noise

    z = sampling.latents(1, 32, seed=3)
    labels = np.array([1], np.int32) if name == "cond" else None
    before = sampling.generate(model, z, labels).astype(int)
    after = sampling.generate(model, explore.move(z, dirs, [3.0]), labels).astype(int)
    assert np.abs(after - before).mean() > 0.5


def test_principal_directions_are_deterministic(generators):
    a = explore.principal_directions(generators["uncond"], k=4, seed=7)
    b = explore.principal_directions(generators["uncond"], k=4, seed=7)
    np.testing.assert_array_equal(a, b)


def test_raw_directions_fallback_when_there_is_no_dense_layer():
    import keras

    z = keras.Input((8,), name="z")
    h = keras.layers.Reshape((2, 2, 2))(z)
    out = keras.layers.Conv2DTranspose(3, 4, strides=16, padding="same", activation="tanh")(h)
    model = keras.Model(z, out)
    dirs = explore.principal_directions(model, k=3)
    np.testing.assert_array_equal(dirs, np.eye(8, dtype=np.float32)[:3])


def test_move_and_sweep():
    dirs = explore.raw_directions(4, 2)
    np.testing.assert_allclose(explore.move(np.zeros(4, np.float32), dirs, [1.0, -2.0]), [1, -2, 0, 0])
    walk = explore.sweep(np.zeros(4, np.float32), dirs[0], extent=3.0, steps=7)
    assert walk.shape == (7, 4)
    np.testing.assert_allclose(walk[[0, 3, 6], 0], [-3, 0, 3])


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_endpoints_equal_the_two_seeds(generators, method):
    model = generators["uncond"]
    frames = explore.interpolation(model, seed_a=1, seed_b=2, steps=5, method=method)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    a, _ = sampling.sample(model, 1, seed=1)
    b, _ = sampling.sample(model, 1, seed=2)
    np.testing.assert_array_equal(frames[0], a[0])
    np.testing.assert_array_equal(frames[-1], b[0])
    z = sampling.interpolate(sampling.latents(1, 32, 1)[0], sampling.latents(1, 32, 2)[0], 5, method)
    np.testing.assert_allclose(z[0], sampling.latents(1, 32, 1)[0], atol=1e-6)
    np.testing.assert_allclose(z[-1], sampling.latents(1, 32, 2)[0], atol=1e-6)


def test_class_interpolation_ends_are_the_two_classes(generators):
    model = generators["cond"]
    assert explore.class_blend_generator(model) is not None
    frames = explore.interpolation(model, seed_a=4, seed_b=4, steps=4, class_a=0, class_b=2)
    start = sampling.generate(model, sampling.latents(1, 32, 4), np.array([0], np.int32))
    end = sampling.generate(model, sampling.latents(1, 32, 4), np.array([2], np.int32))
    # The blend path runs the same layers on the same numbers: equal up to float rounding.
    assert np.abs(frames[0].astype(int) - start[0]).max() <= 1
    assert np.abs(frames[-1].astype(int) - end[0]).max() <= 1
    assert np.abs(frames[1].astype(int) - start[0]).mean() > 0  # the middle is a blend


def test_interpolation_needs_two_steps(generators):
    with pytest.raises(ValueError):
        explore.interpolation(generators["uncond"], 1, 2, steps=1)


def test_gif_has_one_frame_per_image_and_decodes():
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    data = explore.gif_bytes(frames, duration_ms=50, scale=2)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.size == (16, 16)
    assert gif.n_frames == 4
    bounced = Image.open(io.BytesIO(explore.gif_bytes(frames, bounce=True)))
    assert bounced.n_frames == 6  # 0 1 2 3 2 1
    with pytest.raises(ValueError):
        explore.gif_bytes([])


def test_strip_is_one_row():
    images = np.zeros((5, 4, 4, 3), np.uint8)
    assert explore.strip(images, pad=1).shape == (6, 26, 3)


def test_nearest_neighbours_finds_the_copy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    query = images[17].copy()
    query[0, 0, 0] ^= 1  # almost identical
    top, scores = explore.nearest_neighbours(query, images, k=3, chunk=16)
    assert top[0] == 17 and scores[0] > 50
    assert list(scores) == sorted(scores, reverse=True)
    identical = explore.psnr(images[0], images[:1])[0]
    assert np.isfinite(identical) and identical > 100  # capped, not infinite

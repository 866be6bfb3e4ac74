"""Exploring a trained generator: latent directions, class blends, image strips and GIFs.

Directions follow GANSpace (Härkönen et al., 2020): sample many latents, look at what the
generator's first Dense layer makes of them, take the principal components of those
features, and regress them back onto the latents. The result is a handful of latent
directions ordered by how much they change the generator's internal picture, which tends
to read better than moving one raw latent coordinate at a time. Generators without a Dense
layer fall back to the raw latent axes.

The Real vs generated page's nearest-neighbour search ranks by PSNR (gan.metrics.memorization's).
Keras is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gan import sampling

if TYPE_CHECKING:
    import keras


def first_dense_layer(model: keras.Model):
    """The generator's first Dense layer (its latent -> feature map), or None."""
    import keras

    return next((layer for layer in model.layers if isinstance(layer, keras.layers.Dense)), None)


def raw_directions(latent_dim: int, k: int) -> np.ndarray:
    """The first `k` latent axes as unit vectors: the fallback when PCA is not possible."""
    return np.eye(latent_dim, dtype=np.float32)[:k]


def principal_directions(model: keras.Model, k: int = 8, n_samples: int | None = None, seed: int = 0,
                         class_id: int | None = None) -> np.ndarray:
    """`k` unit latent directions (k, latent_dim), GANSpace-style, strongest first.

    For a conditional model the class is held fixed (`class_id`, default 0), so the
    components describe what the latent does, not what the label does. The PCA runs on the
    small N x N Gram matrix: a Dense layer's features span at most `latent_dim` dimensions,
    so a few hundred samples suffice, and a full SVD of N x 8192 features would take
    seconds on a busy CPU.
    """
    from keras import ops

    dim = sampling.latent_dim(model)
    dense = first_dense_layer(model)
    if dense is None:
        return raw_directions(dim, k)
    import keras

    n = n_samples or min(1024, max(256, 4 * dim))
    inputs_of = model.inputs if len(model.inputs) == 2 else model.inputs[0]
    features_of = keras.Model(inputs_of, dense.output)
    z = sampling.latents(n, dim, seed)
    inputs = [z, np.full(n, class_id or 0, np.int32)] if len(model.inputs) == 2 else z
    features = ops.convert_to_numpy(features_of(inputs, training=False)).reshape(n, -1).astype(np.float64)
    features -= features.mean(axis=0)
    k = min(k, dim, features.shape[1], n - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(features @ features.T)  # ascending
    top = np.argsort(eigenvalues)[::-1][:k]
    coords = eigenvectors[:, top] * np.sqrt(np.maximum(eigenvalues[top], 0.0))  # PCA coordinates (N, k)
    # Least squares z ~ coords @ U: row i of U is the latent step that moves component i.
    u, *_ = np.linalg.lstsq(coords, z.astype(np.float64) - z.mean(axis=0), rcond=None)
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    return (u / np.maximum(norms, 1e-12)).astype(np.float32)


def move(z: np.ndarray, directions: np.ndarray, amounts: Sequence[float]) -> np.ndarray:
    """`z` (dim,) or (N, dim) moved by sum_i amounts[i] * directions[i]."""
    step = np.asarray(amounts, np.float32) @ directions[: len(amounts)]
    return (z + step).astype(np.float32)


def sweep(z: np.ndarray, direction: np.ndarray, extent: float = 3.0, steps: int = 7) -> np.ndarray:
    """Latents (steps, dim) walking `z` along one direction from -extent to +extent."""
    return np.stack([z + t * direction for t in np.linspace(-extent, extent, steps)]).astype(np.float32)


def class_blend_generator(model: keras.Model) -> keras.Model | None:
    """A generator that takes (z, class embedding) instead of (z, label), or None.

    Blending two classes' embeddings gives a smooth class-to-class morph; a model whose
    label embedding cannot be cut out this way (none, or used more than once) returns None.
    """
    import keras

    if len(model.inputs) != 2:
        return None
    embeddings = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    named = [layer for layer in embeddings if layer.name == "label_embedding"] or embeddings
    if len(named) != 1:
        return None
    try:
        return keras.Model([model.inputs[0], named[0].output], model.output)
    except Exception:  # a label used in several places has no single embedding output
        return None


def class_embeddings(model: keras.Model, labels: Sequence[int]) -> np.ndarray:
    """The label embedding vectors of `labels` (len, embed_dim)."""
    import keras
    from keras import ops

    embeddings = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    layer = next((e for e in embeddings if e.name == "label_embedding"), embeddings[0])
    return ops.convert_to_numpy(layer(np.asarray(labels, np.int32))).astype(np.float32)


def interpolation(model: keras.Model, seed_a: int, seed_b: int, steps: int, method: str = "slerp",
                  class_a: int | None = None, class_b: int | None = None,
                  truncation: float | None = None) -> np.ndarray:
    """uint8 images (steps, S, S, 3) from seed A (class A) to seed B (class B), ends included.

    Conditional models blend the two class embeddings linearly alongside the latents; where
    the embedding cannot be blended, the label switches halfway.
    """
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    dim = sampling.latent_dim(model)
    z = sampling.interpolate(sampling.latents(1, dim, seed_a, truncation)[0],
                             sampling.latents(1, dim, seed_b, truncation)[0], steps, method)
    if len(model.inputs) < 2:
        return sampling.generate(model, z)
    class_a = class_a or 0
    class_b = class_a if class_b is None else class_b
    blend = class_blend_generator(model) if class_a != class_b else None
    if blend is None:
        labels = np.where(np.linspace(0, 1, steps) < 0.5, class_a, class_b).astype(np.int32)
        return sampling.generate(model, z, labels)
    from keras import ops

    ea, eb = class_embeddings(model, [class_a, class_b])
    e = np.stack([sampling.lerp(ea, eb, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
    return sampling.to_uint8(ops.convert_to_numpy(blend([z, e], training=False)))


def strip(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """Images side by side in one row."""
    return sampling.make_grid(images, ncols=len(images), pad=pad)


def gif_bytes(frames: Sequence[np.ndarray] | np.ndarray, duration_ms: int = 120, scale: int = 1,
              bounce: bool = False) -> bytes:
    """An endlessly looping animated GIF of uint8 frames (H, W, 3); `bounce` plays back and forth."""
    from PIL import Image

    frames = list(frames)
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    pictures = []
    for frame in frames:
        picture = Image.fromarray(np.asarray(frame, np.uint8))
        if scale > 1:
            picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        pictures.append(picture)
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms,
                     loop=0, disposal=2, optimize=False)
    return buffer.getvalue()


def psnr(query: np.ndarray, images: np.ndarray) -> np.ndarray:
    """PSNR in dB of one uint8 image against each of `images` (higher = more alike), as the memorization
    metric measures it; an exact copy reads 150 dB instead of infinity, so it sorts and prints as a number."""
    from gan.metrics.memorization import psnr_to

    return np.minimum(psnr_to(query, images), 150.0).astype(np.float32)


def nearest_neighbours(query: np.ndarray, images: np.ndarray, k: int = 8,
                       chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Indices and PSNRs of the `k` training images closest to `query`, best first.

    A generated image with a very high PSNR to a training image is a sign of memorisation.
    """
    scores = np.concatenate([psnr(query, images[i:i + chunk]) for i in range(0, len(images), chunk)])
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return top, scores[top]

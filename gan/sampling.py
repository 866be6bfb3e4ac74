"""Sampling a trained generator: latents, truncation, interpolation, image grids.

Works on any generator `.keras` file of the preset contract (gan/models/__init__.py):
input `z` (plus `label` when conditional), output images in [-1, 1].
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gan.errors import first_line
from gan.files import atomic_write_bytes
from gan.security import NotAllowedError, check_model_file

if TYPE_CHECKING:
    import keras

MAX_MODEL_BYTES = 200 * 1024 * 1024


class ModelError(ValueError):
    """A generator file that cannot be used; str(e) is one line for the user."""


def load_generator(path: str | Path) -> keras.Model:
    """Load a generator with Keras' safe mode: no Lambda layers, no code from the file."""
    from gan.backend import import_keras_quietly

    import_keras_quietly()  # the first import, in the app's server too: quiet, and without unused JAX/OpenCV
    import keras

    import gan.layers  # noqa: F401  registers the custom layers a strong generator is made of

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file at {path}")
    if path.suffix != ".keras":
        raise ModelError(f"{path.name}: expected a .keras model file")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelError(f"{path.name} is larger than {MAX_MODEL_BYTES // 2**20} MB")
    try:
        check_model_file(path)
    except NotAllowedError as e:
        raise ModelError(f"cannot load: {e}") from None
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files; all mean "unusable"
        raise ModelError(f"cannot load {path.name}: {first_line(e)}") from None
    problem = _contract_problem(model)
    if problem:
        raise ModelError(f"{path.name} is not a generator: {problem}")
    return model


def _contract_problem(model) -> str | None:
    """What breaks the preset contract (z (B, d) [+ int label (B,)] -> one (B, S, S, 3) image), or None.

    Checked from the model's declared shapes, so a discriminator or a classifier is refused
    with a sentence instead of failing later inside a grid or an image encoder.
    """
    import keras

    if not isinstance(model, keras.Model):
        return "not a Keras model"
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) not in (1, 2):
        return f"it takes {len(inputs)} inputs (expects z, or z and label)"
    z = inputs[0]
    if len(z.shape) != 2 or z.shape[-1] is None:
        return f"its first input has shape {tuple(z.shape)} (expects a latent vector (batch, dim))"
    if len(inputs) == 2:
        label = inputs[1]
        if len(label.shape) != 1 or "int" not in str(label.dtype):
            return f"its second input is {label.dtype} {tuple(label.shape)} (expects integer labels (batch,))"
    if len(outputs) != 1:
        return f"it has {len(outputs)} outputs (expects one image batch)"
    shape = tuple(outputs[0].shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[1] != shape[2]:
        return f"its output has shape {shape} (expects square RGB images (batch, size, size, 3))"
    return None


def latent_dim(model: keras.Model) -> int:
    return int(model.inputs[0].shape[-1])


def num_classes(model: keras.Model) -> int:
    """Number of classes of a conditional generator; 0 when unconditional."""
    if len(model.inputs) < 2:
        return 0
    import keras

    embeddings = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Embedding)]
    named = [layer for layer in embeddings if layer.name == "label_embedding"]
    return int((named or embeddings)[0].input_dim)


MAX_TRUNCATION = 10.0  # a standard normal beyond +-10 has probability ~1e-23: larger means no truncation
MAX_REDRAWS = 64  # rounds of redrawing values beyond the truncation; finishes any t > 0.5 in practice


def latents(n: int, dim: int, seed: int = 0, truncation: float | None = None) -> np.ndarray:
    """`n` standard-normal latents; with `truncation` t, values beyond +-t are redrawn (BigGAN's trick)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dim)).astype(np.float32)
    if truncation is not None:
        if not 0 < truncation <= MAX_TRUNCATION:  # also refuses nan and inf
            raise ValueError(f"truncation must be in (0, {MAX_TRUNCATION:g}], got {truncation}")
        outside = np.abs(z) > truncation
        for _ in range(MAX_REDRAWS):
            if not outside.any():
                break
            z[outside] = rng.standard_normal(int(outside.sum())).astype(np.float32)
            outside = np.abs(z) > truncation
        # A tiny t would need thousands of redraws; the normal truncated that tightly is nearly uniform.
        z[outside] = rng.uniform(-truncation, truncation, int(outside.sum())).astype(np.float32)
    return z


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def generate(model: keras.Model, z: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
    """uint8 images (N, S, S, 3) for latents `z` (and class `labels` for conditional models)."""
    from keras import ops

    conditional = len(model.inputs) == 2
    if conditional and labels is None:
        raise ValueError("this generator is conditional: give a class label per latent")
    out = []
    for start in range(0, len(z), batch_size):
        zb = z[start:start + batch_size]
        inputs = [zb, np.asarray(labels[start:start + batch_size], np.int32)] if conditional else zb
        out.append(to_uint8(ops.convert_to_numpy(model(inputs, training=False))))
    return np.concatenate(out) if out else np.zeros((0, 32, 32, 3), np.uint8)


def sample(model: keras.Model, n: int, seed: int = 0, class_id: int | None = None,
           truncation: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`n` images and their labels; a conditional model cycles through classes unless `class_id` is set."""
    classes = num_classes(model)
    if class_id is not None and not (classes and 0 <= class_id < classes):
        raise ValueError(f"class must be in [0, {classes})" if classes else "this generator has no classes")
    labels = np.full(n, class_id, np.int32) if class_id is not None else np.arange(n, dtype=np.int32) % max(classes, 1)
    z = latents(n, latent_dim(model), seed, truncation)
    return generate(model, z, labels if classes else None), labels


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: keeps the norm typical of Gaussian latents along the path."""
    a_norm, b_norm = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a / a_norm, b / b_norm), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return lerp(a, b, t)
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """`steps` latents from `a` to `b` inclusive."""
    blend = {"lerp": lerp, "slerp": slerp}[method]
    return np.stack([blend(a, b, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 images (N, H, W, 3) into one image, `ncols` per row (square-ish by default)."""
    n, h, w, c = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = image
    return grid


MAX_CLASS_COLUMNS = 16  # more classes than this do not fit a grid one column per class


def grid_layout(num_classes: int, rows: int = 8) -> tuple[int, int]:
    """(images, columns) of a sample grid: one column per class for a conditional model.

    `sample()` cycles labels 0, 1, ..., C-1, 0, ..., so with C columns column k is class k.
    Unconditional models (and ones with too many classes to show) get 8 columns of 8.
    """
    if 1 < num_classes <= MAX_CLASS_COLUMNS:
        return rows * num_classes, num_classes
    return rows * 8, 8


def label_columns(grid: np.ndarray, names: Sequence[str], scale: int = 3, pad: int = 2) -> np.ndarray:
    """`grid` (from make_grid, one column per name) enlarged `scale` times under a header naming each column."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    column = (picture.width - pad * scale) / len(names)
    font = ImageFont.load_default(size=max(8, int(column / 7)))
    header = 4 + font.getbbox("Ag")[3]
    out = Image.new("RGB", (picture.width, picture.height + header), (255, 255, 255))
    out.paste(picture, (0, header))
    draw = ImageDraw.Draw(out)
    for k, name in enumerate(names):
        text = str(name)
        while len(text) > 1 and draw.textlength(text, font=font) > column - 2:
            text = text[:-1]
        left = pad * scale + k * column + (column - draw.textlength(text, font=font)) / 2
        draw.text((left, 2), text, fill=(40, 40, 40), font=font)
    return np.asarray(out)


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    from PIL import Image

    picture = Image.fromarray(image)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, image: np.ndarray, scale: int = 1) -> None:
    atomic_write_bytes(path, png_bytes(image, scale))

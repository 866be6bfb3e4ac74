"""Resumable training state: every variable of a `GAN`, in order, in one `.npz`, written atomically.

One plain-array file (no pickle, loaded with `allow_pickle=False`) is backend-neutral, fast,
and cannot run code. A JSON `meta` entry records the step, epoch and a fingerprint of the
variables, so a checkpoint from a different architecture is refused instead of half-loaded.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from gan.errors import first_line
from gan.files import atomic_write, npy_header


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; str(e) is one line for the user."""


def save_checkpoint(path: str | Path, variables: list, meta: dict) -> None:
    from keras import ops

    arrays = {f"v{i:05d}": np.asarray(ops.convert_to_numpy(v.value)) for i, v in enumerate(variables)}
    meta = {**meta, "shapes": [list(a.shape) for a in arrays.values()]}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


_UNREADABLE = (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError, MemoryError)
MAX_META_CHARS = 1_000_000


def _header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array, from its .npy header alone (`gan.files.npy_header`): checked before
    anything is loaded, so a header declaring a terabyte or an object dtype is refused unread."""
    return npy_header(archive, f"{name}.npy")


def read_meta(path: str | Path) -> dict:
    """The checkpoint's metadata (step, epoch, shapes, ...) without loading the weights."""
    try:
        with zipfile.ZipFile(path) as archive:
            shape, dtype = _header(archive, "meta")
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_META_CHARS:
            raise ValueError(f"meta is not a JSON string (shape {shape}, dtype {dtype})")
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
    except _UNREADABLE as e:
        raise CheckpointError(f"unreadable checkpoint {path}: {first_line(e)}") from None
    shapes = meta.get("shapes") if isinstance(meta, dict) else None
    step = meta.get("step") if isinstance(meta, dict) else None
    if not (isinstance(step, int) and step >= 0 and isinstance(shapes, list)
            and all(isinstance(s, list) and all(isinstance(n, int) for n in s) for s in shapes)):
        raise CheckpointError(f"unreadable checkpoint {path}: its meta lacks a step and the variable shapes")
    return meta


def load_checkpoint(path: str | Path, variables: list) -> dict:
    """Assign the saved values to `variables` (all or nothing) and return the metadata.

    Every array's shape and dtype is checked against its variable from the headers before
    any data is read, so a bad file changes no variable and allocates nothing it declares.
    """
    meta = read_meta(path)
    if len(meta["shapes"]) != len(variables):
        raise CheckpointError(
            f"checkpoint has {len(meta['shapes'])} variables, the model has {len(variables)}: different config?"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            for i, variable in enumerate(variables):
                shape, dtype = _header(archive, f"v{i:05d}")
                if shape != tuple(variable.shape):
                    raise CheckpointError(f"checkpoint variable {variable.path} has shape {shape}, "
                                          f"the model expects {tuple(variable.shape)}: different config?")
                if dtype.kind not in "iuf":
                    raise CheckpointError(f"checkpoint variable {variable.path} holds {dtype}, not numbers")
        with np.load(path, allow_pickle=False) as archive:
            arrays = [archive[f"v{i:05d}"] for i in range(len(variables))]
    except _UNREADABLE as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"unreadable checkpoint {path}: {first_line(e)}") from None
    for array, variable in zip(arrays, variables, strict=True):
        # Numbers of another width (a seed saved as uint32 by JAX, int64 by TF) take the variable's type.
        variable.assign(array.astype(variable.dtype, copy=False))
    return meta


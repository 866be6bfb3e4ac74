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

from gan.files import atomic_write


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


def read_meta(path: str | Path) -> dict:
    """The checkpoint's metadata (step, epoch, ...) without loading the weights."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["meta"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"unreadable checkpoint {path}: {e}") from None


def load_checkpoint(path: str | Path, variables: list) -> dict:
    """Assign the saved values to `variables` (all or nothing) and return the metadata."""
    meta = read_meta(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = [archive[f"v{i:05d}"] for i in range(len(meta["shapes"]))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"unreadable checkpoint {path}: {e}") from None
    if len(arrays) != len(variables):
        raise CheckpointError(f"checkpoint has {len(arrays)} variables, the model has {len(variables)}: different config?")
    for array, variable in zip(arrays, variables):
        if tuple(array.shape) != tuple(variable.shape):
            raise CheckpointError(
                f"checkpoint variable {variable.path} has shape {array.shape}, the model expects {tuple(variable.shape)}"
            )
    for array, variable in zip(arrays, variables):
        variable.assign(array)
    return meta

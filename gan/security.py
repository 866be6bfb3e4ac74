"""Which files may be read: data paths confined to allowed folders, model archives checked before Keras opens them.

- data paths are confined to `allowed_data_roots()`: `check_data_path` resolves symlinks and
  `..` first, so a link inside a root that points outside it is refused too;
- model files are checked as archives (`check_model_file`) before Keras parses any of them.

The app confines what visitors type and upload, and the trainers it starts (`GAN_CONFINE_DATA=1`);
what a deployment allows beyond that (demo mode, caps) is the app's policy (studio.policy).
Everything is a pure function of the environment passed in (default `os.environ`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

from gan.files import keras_datasets_dir
from gan.runs import runs_root


class NotAllowedError(ValueError):
    """A request outside what this deployment allows; str(e) is one line for the user."""


def allowed_data_roots(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> tuple[Path, ...]:
    """The directories training data may be read from, resolved; the one place this is configured.

    `GAN_DATA_ROOTS` (colon-separated) replaces the default: the working directory and Keras'
    dataset cache (`gan.files.keras_datasets_dir`, where cifar10 is downloaded). The runs directory is
    always allowed (the app's uploads live in it, `runs/.uploads`), and so is the local CIFAR-10 copy
    named by `GAN_CIFAR10`: the owner chose it.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("GAN_DATA_ROOTS")
    if configured is not None:
        roots = [Path(p).expanduser() for p in configured.split(os.pathsep) if p.strip()]
    else:
        roots = [cwd or Path.cwd(), keras_datasets_dir(environ)]
    roots.append(runs_root(environ))  # uploaded zips: a GAN_DATA_ROOTS naming only the data must not lose them
    cifar10 = environ.get("GAN_CIFAR10", "").strip()  # the owner's local CIFAR-10 copy is readable by design
    if cifar10:
        roots.append(Path(cifar10).expanduser())
    return tuple(dict.fromkeys(root.resolve() for root in roots))


def check_data_path(path: str | os.PathLike, roots: tuple[Path, ...] | None = None) -> Path:
    """The resolved `path` when it lies inside one of `roots` (default `allowed_data_roots()`).

    Symlinks and `..` are resolved first, so neither a link nor a relative path can step out.
    Raises NotAllowedError (one line) otherwise, or when the path cannot be resolved.
    """
    roots = allowed_data_roots() if roots is None else roots
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise NotAllowedError("not a usable path")
    try:
        resolved = Path(text).expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise NotAllowedError(f"{text}: no such file or directory") from None
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise NotAllowedError(f"{text}: cannot be resolved ({e.__class__.__name__})") from None
    if not any(resolved == root or root in resolved.parents for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "nowhere"
        raise NotAllowedError(f"{text} is outside the allowed data folders ({allowed})")
    return resolved


def check_data_source(source: str, roots: tuple[Path, ...] | None = None) -> str:
    """A `--data` value made safe: "cifar10" as is, anything else through `check_data_path`."""
    if source == "cifar10":
        return source
    return str(check_data_path(source, roots))


# What a `.keras` archive of ours holds, and how big it may unpack: Keras reads config.json whole,
# and copies model.weights.h5 whole into memory before h5py opens it (issue 25: a 0.9 MB file
# declaring ~1 GB peaked at 2.6 GB), so a small file that inflates to gigabytes would take the app
# down. The shipped models unpack to 2-3 MB; 256 MB leaves room for far bigger ones.
KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
MAX_CONFIG_BYTES = 10 * 2**20
MAX_UNPACKED_BYTES = 256 * 2**20


def check_model_file(path: str | os.PathLike) -> Path:
    """Refuse a `.keras` file that is not a plain Keras archive, before Keras parses any of it.

    Checks the zip directory only (no decompression): the expected members and nothing else,
    a bounded config.json and total unpacked size. Safe loading (`safe_mode=True`) then guards
    what the config may name; this guards memory and disk.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        raise NotAllowedError(f"{path.name} is not a .keras model archive") from None
    names = [m.filename for m in members]
    unexpected = sorted(set(names) - KERAS_MEMBERS)
    if unexpected or len(names) != len(set(names)) or "config.json" not in names:
        raise NotAllowedError(f"{path.name} is not a plain .keras model (members: {', '.join(sorted(names))[:120]})")
    sizes = {m.filename: m.file_size for m in members}
    if sizes["config.json"] > MAX_CONFIG_BYTES:
        raise NotAllowedError(f"{path.name}: its config.json unpacks to {sizes['config.json'] / 2**20:,.0f} MB, "
                              f"over the {MAX_CONFIG_BYTES // 2**20} MB limit; refused")
    if sum(sizes.values()) > MAX_UNPACKED_BYTES:
        raise NotAllowedError(f"{path.name} unpacks to {sum(sizes.values()) / 2**20:,.0f} MB, "
                              f"over the {MAX_UNPACKED_BYTES // 2**20} MB limit; refused")
    return path

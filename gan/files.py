"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The project folder (app.py, checkpoints/, runs/): the package is run from its checkout, not installed.
REPO_ROOT = Path(__file__).resolve().parents[1]


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temp file beside `path`, fsync it, then rename it over `path`.

    The directory is fsynced after the rename too: without that, a power cut can lose the
    rename (the old file comes back) even though the data itself reached the disk.
    A process killed mid-write leaves its temp file (see `temp_files`). An OSError names `path`,
    not the temp file, and never no file (EFBIG from a zip writer names none), so the one-line
    error says which file could not be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError as e:
        if e.filename is None or Path(e.filename).parent == path.parent:  # none, or our temp file's
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):  # a read-only directory: keep the error that matters
                tmp.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_files(directory: str | Path, stem: str = "*") -> list[Path]:
    """The temp files `atomic_write` made in `directory` for files named `stem`.* and never renamed.

    Only a writer that died mid-write leaves one; it is never mistaken for the real file
    (its name starts with a dot and carries `.tmp`), but it takes disk space until removed.
    """
    return sorted(Path(directory).glob(f".{stem}.*.tmp*"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def cache_dir() -> Path:
    """Where computed things are cached (reference statistics, features, a failed download):
    `$GAN_CACHE_DIR`, else `~/.cache/gan-studio`."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan-studio")


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file, however each is written (relative, `~`, symlinks)."""
    if str(a) == str(b):
        return True
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, say: not provably the same
        return False


def read_json(path: str | Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default

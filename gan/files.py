"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

And safe opens: a run folder may hold links and FIFOs that someone else put there, so run files are
opened without following a link or blocking on a FIFO (`open_regular`), appended whole or not at all
(`append_bytes`), and written where a link cannot redirect them (`atomic_write(..., within=run)`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The project folder (app.py, checkpoints/, runs/): the package is run from its checkout, not installed.
REPO_ROOT = Path(__file__).resolve().parents[1]


class UnsafeFileError(OSError):
    """A path where a run file or folder belongs holds something else: a symbolic link, a FIFO, a device.

    An OSError, so every writer's handler already reports it; str(e) is one line naming the file.
    Never followed, never opened for reading (a FIFO would block), never written through.
    """

    def __init__(self, path: str | os.PathLike, what: str):
        super().__init__(errno.ELOOP if what == "a symbolic link" else errno.EINVAL, f"{what}: refused",
                         os.fspath(path))
        self.what = what

    def __str__(self) -> str:
        return f"{self.filename} is {self.what}: refused (run files are never followed or written through)"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def describe_entry(mode: int, folder: bool = False) -> str:
    """What a wrong entry is, in words ("a symbolic link", "a FIFO"...); with `folder`, where a folder belongs:
    a link is a link, anything else "not a folder"."""
    if folder:
        return "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _unsafe(path: str | os.PathLike, dir_fd: int | None = None) -> UnsafeFileError | None:
    """The UnsafeFileError for what lies at `path` when it is not a regular file, else None."""
    try:
        mode = os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else UnsafeFileError(path, describe_entry(mode))


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A descriptor of the regular file `path`; UnsafeFileError (one line naming it) for anything else.

    The last component is never followed (O_NOFOLLOW) and the open never blocks (O_NONBLOCK: a FIFO
    opened for reading would wait for a writer forever); what was opened is then checked with fstat,
    so a file swapped for a link or FIFO between a check and the open is refused too. `mode` is
    filtered by the umask as any tool's is. The descriptor is blocking again when returned.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        unsafe = _unsafe(path) if e.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR) else None
        raise (unsafe or e) from None
    try:
        found = os.fstat(fd).st_mode
        if not stat.S_ISREG(found):
            raise UnsafeFileError(path, describe_entry(found))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of the regular file `path` (its last `limit` bytes, if given): never a link, never a FIFO."""
    with os.fdopen(open_regular(path), "rb") as f:
        if limit is not None:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
        return f.read()


def read_text(path: str | os.PathLike) -> str:
    """`read_bytes` decoded as UTF-8 (UnicodeDecodeError, a ValueError, for anything else)."""
    return read_bytes(path).decode()


def append_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Append `data` to the regular file `path` whole, or not at all.

    Appends are how metrics.csv and evals.csv grow, so a reader must never see half a row and a full
    disk must never cost what was there: a short or failed write is cut back to the old length (a
    file this call created is removed), and the OSError names `path`. Never through a link.
    """
    created = False
    try:
        fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL)
        created = True
    except FileExistsError:
        fd = open_regular(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                if created:
                    os.unlink(path)
            raise OSError(e.errno, e.strerror or str(e), os.fspath(path)) from None
    finally:
        os.close(fd)


def _open_folder(folder: Path, within: Path | None) -> int:
    """A descriptor of `folder`, created if missing.

    With `within` (a run folder), `within` and every folder from it down to `folder` must be real
    folders: each is opened relative to the one above without following a link, so a link (or a file)
    anywhere there is an UnsafeFileError, and nothing is written where it points.
    """
    if within is None:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    parts = folder.relative_to(within).parts
    if not within.is_symlink():
        within.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_subfolder(within, None)
    for depth, part in enumerate(parts, 1):
        try:
            inner = _open_subfolder(part, fd, shown=within.joinpath(*parts[:depth]))
        finally:
            os.close(fd)
        fd = inner
    return fd


def _open_subfolder(name: str | Path, dir_fd: int | None, shown: Path | None = None) -> int:
    """Open (making it if missing) the folder `name`, relative to `dir_fd`, refusing a link or a file."""
    flags = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | os.O_CLOEXEC
    for _ in range(2):
        try:
            return os.open(name, flags, dir_fd=dir_fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=dir_fd)
        except OSError as e:
            if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            raise UnsafeFileError(shown or name, describe_entry(mode, folder=stat.S_ISREG(mode))) from None
    return os.open(name, flags, dir_fd=dir_fd)


def make_folder(folder: str | Path, within: str | Path) -> None:
    """Make `folder` (under `within`) if missing; UnsafeFileError when it or a folder above it, up to
    `within`, is a link or not a folder."""
    os.close(_open_folder(Path(folder), Path(within)))


def atomic_write(path: str | Path, write: Callable[[Path], None], within: str | Path | None = None) -> None:
    """Call `write(tmp)` on a temp file beside `path`, fsync it, then rename it over `path`.

    The directory is fsynced after the rename too: without that, a power cut can lose the
    rename (the old file comes back) even though the data itself reached the disk.
    A process killed mid-write leaves its temp file (see `temp_files`). An OSError names `path`,
    not the temp file, and never no file (EFBIG from a zip writer names none), so the one-line
    error says which file could not be written.

    The rename replaces whatever is at `path` (a link there is replaced, never written through). The
    temp file is created new (O_EXCL, never a link) with mode 0666 less the umask, like any tool's
    file (mkstemp's 0600 kept a group from reading runs). With `within` (a run's folder), `path` must
    lie under it and no folder from `within` down may be a link (`_open_folder`).
    """
    path = Path(path)
    dir_fd, tmp_name = None, None
    try:
        dir_fd = _open_folder(path.parent, None if within is None else Path(within))
        tmp_name = _create_temp(path, dir_fd)
        write(path.parent / tmp_name)
        fd = open_regular(path.parent / tmp_name)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp_name = None
        os.fsync(dir_fd)
    except UnsafeFileError:
        raise
    except OSError as e:
        # None, our temp file's, or a name relative to dir_fd (creating, renaming): all are about `path`
        if e.filename is None or Path(e.filename).parent in (path.parent, Path(".")):
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):  # a read-only directory: keep the error that matters
                os.unlink(tmp_name, dir_fd=dir_fd)
        if dir_fd is not None:
            os.close(dir_fd)


def _create_temp(path: Path, dir_fd: int) -> str:
    """Create a new, empty temp file for `path` in the folder `dir_fd`; its name (see `temp_files`)."""
    for _ in range(100):
        name = f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | os.O_CLOEXEC, 0o666,
                             dir_fd=dir_fd))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(path))


def temp_files(directory: str | Path, stem: str = "*") -> list[Path]:
    """The temp files `atomic_write` made in `directory` for files named `stem`.* and never renamed.

    Only a writer that died mid-write leaves one; it is never mistaken for the real file
    (its name starts with a dot and carries `.tmp`), but it takes disk space until removed.
    """
    return sorted(Path(directory).glob(f".{stem}.*.tmp*"))


def atomic_write_bytes(path: str | Path, data: bytes, within: str | Path | None = None) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data), within)


def atomic_write_json(path: str | Path, value: Any, within: str | Path | None = None) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), within)


def cache_dir() -> Path:
    """Where computed things are cached (reference statistics, features, a failed download):
    `$GAN_CACHE_DIR`, else `~/.cache/gan-studio`."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan-studio")


def keras_home(environ: dict[str, str] | None = None) -> Path:
    """Keras' own folder (keras.json, datasets/): `$KERAS_HOME`, else ~/.keras, as Keras itself decides."""
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_HOME"):
        return Path(environ["KERAS_HOME"]).expanduser()
    return Path(environ.get("HOME") or Path.home()) / ".keras"


def keras_datasets_dir(environ: dict[str, str] | None = None) -> Path:
    """Where Keras keeps downloaded datasets (cifar-10-batches-py). One place, so the allowed data folders, the
    offline advice and the app's "is CIFAR-10 here" agree with where Keras really looks."""
    return keras_home(environ) / "datasets"


def npy_header(archive: Any, member: str) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) of one `.npy` member of an open zip (an `.npz`), from its header alone.

    Read before any array is loaded: a header may declare a terabyte (numpy would allocate it) or an
    object dtype (a pickle). ValueError for a member that is not a `.npy` array of format 1.0 or 2.0.
    """
    import numpy as np

    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version not in readers:
            raise ValueError(f"{member} has unsupported .npy format {version}")
        shape, _, dtype = readers[version](f)
    return tuple(shape), dtype


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file, however each is written (relative, `~`, symlinks)."""
    if str(a) == str(b):
        return True
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, say: not provably the same
        return False


def read_json(path: str | Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when it is missing, unreadable or not a regular file (a link, a FIFO)."""
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError):
        return default
